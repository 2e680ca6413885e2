"""Connectors of one tenant on a simulator, simulator records edited in place, and the entity tables read back."""
from __future__ import annotations

import copy
import uuid
from typing import Any, Callable

import sqlalchemy as sa

from nexus_sync import catalog, db


def register(sim: Any, secrets_file: Any, vendor: str, tenant: uuid.UUID, **config: Any) -> catalog.ConnectorRow:
    """A connector of `vendor` in `tenant` (entities are per tenant: the sources of one machine share one)."""
    from nexus_sync.simulator import discover
    from tests.conftest import add_secrets
    from tests.connectors.test_contract import extra_config

    name = f"{vendor}-{uuid.uuid4().hex[:8]}"
    add_secrets(secrets_file, name, dict(discover()[vendor].default_credentials))
    catalog.apply([catalog.ConnectorSpec(name=name, type=vendor, tenant_id=tenant, interval="15m",
                                         config={"base_url": sim.base_url(vendor), **extra_config(vendor, sim),
                                                 **config})])
    return catalog.get(name)


def edit(sim: Any, vendor: str, record_id: Any, change: Callable[[dict[str, Any]], None]) -> None:
    """Change one simulator record (a copy: the generated datasets are shared)."""
    v = sim.vendor(vendor)
    with v.lock:
        rec = copy.deepcopy(v.records[record_id])
        change(rec)
        v.records[record_id] = rec
        v.version += 1
        v.on_data_changed()


def entity_of(tenant: uuid.UUID, source: str, source_id: str) -> Any:
    """The link of one row: (entity_id, matched_on, confidence), or None."""
    rd, el = db.raw_data.c, db.entity_links.c
    with db.get_engine().connect() as c:
        return c.execute(sa.select(el.entity_id, el.matched_on, el.confidence)
                         .join(db.raw_data, rd.id == el.raw_data_id)
                         .where(rd.tenant_id == tenant, rd.source == source, rd.source_id == source_id)).first()


def snapshot(tenant: uuid.UUID) -> dict[str, set[tuple[Any, ...]]]:
    """Every entity row of the tenant, the links with their linked_at (a rewrite shows)."""
    with db.get_engine().connect() as c:
        return {t.name: {tuple(r) for r in c.execute(sa.select(t).where(t.c.tenant_id == tenant))}
                for t in (db.entities, db.entity_keys, db.entity_links, db.finding_links)}
