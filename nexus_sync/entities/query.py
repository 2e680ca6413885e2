"""Reading entities back: one entity with its keys, its linked rows and its findings; entities by a key."""
from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from nexus_sync import db
from nexus_sync.entities.keys import email_key, fqdn_key, instance_key, mac_key, serial_key

LINKS_SQL = sa.text("""
SELECT r.source, r.type, r.source_id, l.matched_on, l.confidence, r.last_seen, r.missing_since
FROM entity_links l JOIN raw_data r ON r.id = l.raw_data_id
WHERE l.entity_id = :e ORDER BY r.source, r.type, r.source_id
""")
FINDINGS_SQL = sa.text("""
SELECT f.cve, array_agg(DISTINCT r.source ORDER BY r.source) AS sources, count(*) AS rows
FROM finding_links f JOIN raw_data r ON r.id = f.raw_data_id
WHERE f.tenant_id = :t AND f.entity_id = :e GROUP BY f.cve ORDER BY f.cve
""")
FIND_SQL = sa.text("""
SELECT e.id, e.kind, e.label, k.key_type, k.key_value
FROM entity_keys k JOIN entities e ON e.id = k.entity_id
WHERE k.key_value = ANY(:values)
UNION
SELECT e.id, e.kind, e.label, 'label', e.label FROM entities e
WHERE lower(e.label) = :lower OR lower(e.label) LIKE :under
ORDER BY 3, 1 LIMIT :limit
""")


class NoEntity(LookupError):
    """No entity has that id."""


def show(entity_id: str) -> dict[str, Any]:
    """An entity: its fields, keys, linked rows (source, type, source id, matched on, confidence, last seen)
    and findings (CVE with the sources that report it), as plain JSON-ready values."""
    try:
        eid = uuid.UUID(entity_id)
    except ValueError:
        raise NoEntity(f"not an entity id: {entity_id!r}") from None
    with db.get_engine().connect() as c:
        e = c.execute(sa.select(db.entities).where(db.entities.c.id == eid)).first()
        if e is None:
            raise NoEntity(f"no entity {entity_id}")
        ek = db.entity_keys.c
        keys = c.execute(sa.select(ek.key_type, ek.key_value).where(ek.entity_id == eid)
                         .order_by(ek.key_type, ek.key_value)).all()
        links = c.execute(LINKS_SQL, {"e": eid}).all()
        findings = c.execute(FINDINGS_SQL, {"t": e.tenant_id, "e": eid}).all()
    return {
        "id": str(e.id), "tenant_id": str(e.tenant_id), "kind": e.kind, "label": e.label,
        "created_at": _iso(e.created_at), "updated_at": _iso(e.updated_at),
        "sources": sorted({r.source for r in links}),
        "keys": [{"type": k.key_type, "value": k.key_value} for k in keys],
        "links": [{"source": r.source, "type": r.type, "source_id": r.source_id, "matched_on": r.matched_on,
                   "confidence": r.confidence, "last_seen": _iso(r.last_seen),
                   "missing_since": _iso(r.missing_since)} for r in links],
        "findings": [{"cve": f.cve, "sources": list(f.sources), "rows": f.rows} for f in findings],
    }


def find(key: str, limit: int = 50) -> list[dict[str, Any]]:
    """Entities known by `key`: an FQDN, MAC, serial, instance id, ARN, email, a source's own id of the thing
    (`source|id`), or a label (a bare hostname finds the FQDN labels under it); the key is made canonical every
    way it could be one. Labels are matched by a scan of the entities: this is an operator's look-up."""
    text = key.strip()
    forms = {text, text.lower(), fqdn_key(text), mac_key(text), serial_key(text), email_key(text), instance_key(text)}
    with db.get_engine().connect() as c:
        rows = c.execute(FIND_SQL, {"values": sorted(f for f in forms if f), "lower": text.lower(),
                                    "under": text.lower().replace("%", "").replace("_", r"\_") + ".%",
                                    "limit": limit}).all()
    return [{"id": str(r.id), "kind": r.kind, "label": r.label, "key_type": r.key_type, "key_value": r.key_value}
            for r in rows]


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()
