"""The outbox (issue 16): PostgreSQL is the system of record, and what we owe the stores we only write to —
a persisted batch not yet archived in ClickHouse, an event not yet on Kafka, a webhook not yet delivered — is
an outbox row written in the same transaction as the state that caused it, then drained by a relay.

    store          targets, stable ids, compressed payloads; `owe` in the caller's transaction
    drain          the relay's core: claim (FOR UPDATE SKIP LOCKED), in order per connector, backoff per target
    archive_relay  ClickHouse, exactly once by insert_deduplication_token
    kafka_relay    Kafka, each event with its stable event id (payload and header)
    webhook_relay  webhook subscribers: outages waited for, refusals retried then dead-lettered
    relay          the runs beat and the kicks start (archive; events and webhooks), old done rows pruned
    lag            what is owed per target, its alerts and gauges

Import the submodules themselves (this package imports none of them: metrics reads `lag`, and
`archive_relay` records metrics)."""
