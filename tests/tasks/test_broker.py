"""The broker channel as workers open it: redelivery of a dead worker's tasks is not held up for minutes."""
from __future__ import annotations


def test_a_stale_redelivery_mutex_blocks_redelivery_for_seconds_not_minutes(stack):
    """kombu sweeps unacked messages under a mutex key in Redis. If the sweeping worker is killed, or Redis
    restarts, mid-sweep, the key outlives it until it expires; the chaos test once stalled 5 minutes on
    kombu's default. The channel a worker opens must carry our shorter expiry, and the key it takes in the
    broker must expire by then."""
    from kombu.transport.redis import Mutex

    from nexus_sync.celery_app import UNACKED_MUTEX_EXPIRE, app
    from nexus_sync.redis_client import get_redis

    with app.connection_for_write() as conn:
        channel = conn.default_channel
        assert channel.unacked_mutex_expire == UNACKED_MUTEX_EXPIRE <= 60
        get_redis().delete(channel.unacked_mutex_key)
        # take the mutex exactly as kombu's sweep does, and never leave it (the sweeper died)
        sweep = Mutex(channel.client, channel.unacked_mutex_key, channel.qos.unacked_mutex_expire)
        sweep.__enter__()
        try:
            assert 0 < get_redis().ttl(channel.unacked_mutex_key) <= UNACKED_MUTEX_EXPIRE
        finally:
            sweep.__exit__(None, None, None)
