"""One machine, many sources: the rows of one real asset (EDR, vulnerability scanners, cloud, CMDB) or person
(identity providers) linked to one entity by strong keys, with a confidence per link; and a vulnerability
row's finding (entity + CVE), so the same CVE on one machine from two scanners is one finding.

keys (the keys, made canonical, and the confidence table), sources (where each source's record names its
machine or person), linking (the set-based SQL run inside each persist), query (what the CLI shows)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from nexus_sync.entities.linking import Linked, link_lines

if TYPE_CHECKING:
    from nexus_sync.pipeline.context import SyncContext


def link_batch(cur: Any, ctx: SyncContext, kind: str, rows: Iterable[tuple[str, bytes]]) -> Linked:
    """Link a batch's new and updated rows (source id, staged `data <TAB> raw` line) to their entities, on the
    cursor of the persist's open transaction. Unchanged rows are not given: their keys did not change."""
    return link_lines(cur, ctx.connector.tenant_id, ctx.source, ctx.connector.type, kind, rows)


__all__ = ["Linked", "link_batch"]
