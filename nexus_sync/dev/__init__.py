"""Developer tooling: the embedded stack, its ClickHouse stand-in, process helpers, demo, chaos and bench.

Nothing in the pipeline imports this package; it imports the pipeline."""
