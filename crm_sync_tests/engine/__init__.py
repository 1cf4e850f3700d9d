"""The engine tier: link, plan, validate and outbox on a DuckDB file, fed with frames (no HTTP, no Dagster)."""
