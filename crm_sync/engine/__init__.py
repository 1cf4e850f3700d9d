"""Sync decisions as DuckDB SQL over whole tables: staging, link, plan, outbox, errors. No HTTP, no Dagster."""
