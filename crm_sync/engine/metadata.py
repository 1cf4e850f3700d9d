"""CRM field metadata (Salesforce describe, HubSpot properties) kept in sync.metadata for validation."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from crm_sync.engine import cursors
from crm_sync.engine.db import registered, transaction

# reference_to: the objects a Salesforce lookup can hold (describe's referenceTo; empty elsewhere); key_prefix: the
# object's (describe's keyPrefix: the first three characters of its ids), on each of its rows
# required: a create must give it (Salesforce: createable, not nillable, not defaulted on create, not a boolean)
COLUMNS = ["field", "label", "type", "length", "createable", "updateable", "restricted", "options", "default_value",
           "reference_to", "key_prefix", "required"]
TTL = dt.timedelta(hours=1)  # picklists and fields change rarely; a fix made in the CRM is seen within the hour


def is_due(con: duckdb.DuckDBPyConnection, system: str, obj: str, now: dt.datetime) -> bool:
    return cursors.is_due(con, system, obj, cursors.METADATA, TTL, now)


def store(con: duckdb.DuckDBPyConnection, system: str, obj: str, fields: list[dict], run_id: str,
          now: dt.datetime) -> int:
    """Replace one object's metadata with `fields` (rows with COLUMNS, as the connectors give them)."""
    frame = pd.DataFrame(fields, columns=COLUMNS)
    frame["reference_to"] = [v if isinstance(v, list) else [] for v in frame["reference_to"]]
    frame["key_prefix"] = [v if isinstance(v, str) else None for v in frame["key_prefix"]]
    frame["required"] = [isinstance(v, bool) and v for v in frame["required"]]  # absent (NaN): not required
    with transaction(con):
        con.execute("DELETE FROM sync.metadata WHERE system = ? AND object = ?", [system, obj])
        with registered(con, "_meta_frame", frame):
            con.execute("INSERT INTO sync.metadata (system, object, field, label, type, length, createable, "
                        "updateable, restricted, options, default_value, reference_to, key_prefix, required) "
                        "SELECT ?, ?, * FROM _meta_frame",
                        [system, obj])
        cursors.advance(con, system, obj, run_id, now, cursors.METADATA)
    return len(frame)
