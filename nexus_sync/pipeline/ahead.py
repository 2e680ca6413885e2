"""The next page's fetch is sent as soon as this page's answer is in, before the page is staged: the vendor
serves page N+1 while the worker stages page N (bench/README.md, round 6). Fetching a listing is a chain —
page N+1's state comes from page N's answer — so its time per page is the vendor's answer plus whatever the
fetch task does after it; sent ahead, only the answer is left on that chain.

What keeps it exact:
* **Sent once.** The frontier (the next fetch to send) only moves forward, in one Redis script that also keeps
  the state each batch's fetch was sent with. A retried fetch task (its page failed to stage) finds the frontier
  past it and does not send its successor again.
* **Nothing lost.** A batch whose successor went out but which was never staged (its worker died) is fetched
  again from the state it was sent with (resume_plan), never counted lost while that state is known; a fetch
  that keeps failing after its successor went out fails its own batch only, and fetching goes on.
* **A finished listing stays finished**: a frontier of "every page fetched" is never moved back."""
from __future__ import annotations

from nexus_sync import names
from nexus_sync.pipeline.context import Frontier, frontier_ttl
from nexus_sync.redis_client import get_redis

# KEYS: the frontier, the fetch states; ARGV: batch, the frontier's JSON, ttl. 1 when the frontier moved to batch.
_ADVANCE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local batch = cjson.decode(cur)['batch']
  if batch == cjson.null or tonumber(batch) >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""


def advance(sync_hid: str, front: Frontier) -> bool:
    """Move the frontier to `front` (a batch to fetch next) unless it is there or past it already; True when it
    moved: the caller sends that fetch, and nobody else does."""
    assert front.batch is not None
    moved = get_redis().eval(_ADVANCE, 2, names.frontier_key(sync_hid), names.fetches_key(sync_hid),
                             front.batch, front.encode(), frontier_ttl())
    return bool(moved)


def record_sent(sync_hid: str, front: Frontier) -> None:
    """Keep the state a batch's fetch is sent with (the first batch's, at the start)."""
    assert front.batch is not None
    key = names.fetches_key(sync_hid)
    pipe = get_redis().pipeline(transaction=True)
    pipe.hset(key, str(front.batch), front.encode())
    pipe.expire(key, frontier_ttl())
    pipe.execute()


def sent(sync_hid: str, batch_no: int) -> Frontier | None:
    """The fetch batch `batch_no` was sent with; None when it is not known (expired, or sent before this
    release)."""
    raw = get_redis().hget(names.fetches_key(sync_hid), str(batch_no))
    return Frontier.decode(raw) if raw else None
