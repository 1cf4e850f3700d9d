"""Dagster assets, checks, resources, schedules and sensors: thin glue over connectors/ and engine/."""
