"""The steps of one sync cycle, each joining a connector call to an engine call; the assets call these."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from crm_sync.config.models import SyncConfig
from crm_sync.connectors.common import WriteResult
from crm_sync.connectors.hubspot import HubSpotConnector
from crm_sync.connectors.salesforce import SalesforceConnector
from crm_sync.engine.frames import hubspot_frame, salesforce_frame
from crm_sync.engine.outbox import ops_to_send, record_results
from crm_sync.engine.pairs import PairSpec, pair_specs
from crm_sync.engine.staging import advance_cursor, read_cursor, stage
from crm_sync.engine.validate import store_hubspot_metadata, store_salesforce_metadata

HS_MODIFIED = {"contacts": "lastmodifieddate"}
METADATA_TTL = dt.timedelta(hours=1)
LOAD_CHUNK = 1000  # ops recorded per transaction, so a killed load loses at most one chunk of answers


def salesforce_objects(config: SyncConfig) -> dict[str, list[str]]:
    """Every Salesforce object the pairs read, with the union of their fields; User for owner mapping."""
    fields: dict[str, set[str]] = {"User": {"Email", "IsActive"}}
    for spec in pair_specs(config):
        for obj, names in spec.salesforce_fields.items():
            fields.setdefault(obj, set()).update(names)
    return {obj: sorted(names) for obj, names in fields.items()}


def hubspot_objects(config: SyncConfig) -> dict[str, list[str]]:
    fields: dict[str, set[str]] = {}
    for spec in pair_specs(config):
        fields.setdefault(spec.hubspot_object, set()).update(spec.hubspot_properties)
        fields[spec.hubspot_object].add(HS_MODIFIED.get(spec.hubspot_object, "hs_lastmodifieddate"))
    return {obj: sorted(names) for obj, names in fields.items()}


def _metadata_fresh(con: duckdb.DuckDBPyConnection, system: str, obj: str) -> bool:
    row = con.execute("SELECT max(refreshed_at) FROM sync.metadata WHERE system = ? AND object = ?",
                      [system, obj]).fetchone()
    return bool(row and row[0] and row[0] > dt.datetime.now(dt.UTC) - METADATA_TTL)


def extract_salesforce(con, sf: SalesforceConnector, obj: str, fields: list[str], overlap: dt.timedelta,
                       run_id: str) -> dict:
    """Read changes (deletes included) since the cursor into raw_salesforce; refresh describe when stale."""
    from crm_sync.engine.validate import METADATA_DDL

    con.execute(METADATA_DDL)
    if obj != "User" and not _metadata_fresh(con, "salesforce", obj):
        store_salesforce_metadata(con, sf.describe(obj))
    cursor = read_cursor(con, "salesforce", obj)
    started = dt.datetime.now(dt.UTC)
    rows = 0
    for page in sf.extract(obj, fields, since=cursor.cursor_at, overlap=overlap):
        rows += stage(con, "salesforce", obj, salesforce_frame(page, fields), run_id)
    after = advance_cursor(con, "salesforce", obj, run_id, not_after=started)
    return {"rows_read": rows, "cursor": str(after.cursor_at), "full_read": cursor.cursor_at is None}


def extract_hubspot(con, hs: HubSpotConnector, obj: str, properties: list[str], overlap: dt.timedelta,
                    run_id: str, salesforce_id_property: str) -> dict:
    """Read changes since the cursor into raw_hubspot (archived records on the first read and hourly after)."""
    from crm_sync.engine.validate import METADATA_DDL

    con.execute(METADATA_DDL)
    if not _metadata_fresh(con, "hubspot", obj):
        hs.ensure_property(obj, salesforce_id_property, "Salesforce Id", unique=True)
        store_hubspot_metadata(con, obj, hs.properties(obj))
    modified = HS_MODIFIED.get(obj, "hs_lastmodifieddate")
    cursor = read_cursor(con, "hubspot", obj)
    started = dt.datetime.now(dt.UTC)
    rows = 0
    for page in hs.extract(obj, properties, since=cursor.cursor_at, overlap=overlap):
        rows += stage(con, "hubspot", obj, hubspot_frame(page, properties, modified), run_id)
    archived = read_cursor(con, "hubspot", obj + "#archived")
    now = dt.datetime.now(dt.UTC)
    # Archived records are only listable as a whole, so deletes are read hourly, not every cycle.
    if archived.cursor_at is None or now - archived.cursor_at > METADATA_TTL:
        for page in hs.extract_archived(obj, properties):
            rows += stage(con, "hubspot", obj, hubspot_frame(page, properties, modified), run_id)
        con.execute("INSERT INTO sync.cursors (system, object, cursor_at, last_run) VALUES ('hubspot', ?, ?, ?) "
                    "ON CONFLICT (system, object) DO UPDATE SET cursor_at = excluded.cursor_at, "
                    "last_run = excluded.last_run", [obj + "#archived", now, run_id])
    after = advance_cursor(con, "hubspot", obj, run_id, not_after=started)
    return {"rows_read": rows, "cursor": str(after.cursor_at), "full_read": cursor.cursor_at is None}


def extract_owners(con, hs: HubSpotConnector, run_id: str) -> dict:
    owners = hs.owners()
    frame = pd.DataFrame({"id": [str(o["id"]) for o in owners], "email": [o.get("email") for o in owners]})
    frame["cursor_at"] = pd.Timestamp.now(tz="UTC")
    frame["modified_at"] = frame["cursor_at"]
    frame["deleted"] = False
    return {"rows_read": stage(con, "hubspot", "owners", frame, run_id)}


def _results_frame(results: list[WriteResult]) -> pd.DataFrame:
    return pd.DataFrame({"op_id": [r.key for r in results], "success": [r.success for r in results],
                         "target_id": [r.target_id for r in results], "error_code": [r.error_code for r in results],
                         "error_message": [r.error_message for r in results],
                         "error_fields": [r.error_fields for r in results]})


def _send(connector, target: str, spec: PairSpec, ops: pd.DataFrame) -> list[WriteResult]:
    results: list[WriteResult] = []
    for (obj, action), group in ops.groupby(["object", "action"], sort=False):
        keys, ids, payloads = list(group["op_id"]), list(group["target_id"]), list(group["payload"])
        if action == "create":
            key_field = spec.sf_external_id if target == "salesforce" else spec.hs_salesforce_id
            results += connector.upsert(obj, key_field, list(zip(keys, payloads, strict=True)))
        elif action == "update":
            results += connector.update(obj, list(zip(keys, ids, payloads, strict=True)))
        elif action == "delete":
            if target == "salesforce":
                results += connector.delete(list(zip(keys, ids, strict=True)))
            else:
                results += connector.archive(obj, list(zip(keys, ids, strict=True)))
    return results


def load_pair(con, connector, target: str, spec: PairSpec, max_attempts: int, run_id: str) -> dict:
    """Drain one pair's outbox toward one CRM, recording answers chunk by chunk."""
    ops = ops_to_send(con, spec.name, target, max_attempts)
    sent = failed = links = 0
    for start in range(0, len(ops), LOAD_CHUNK):
        chunk = ops.iloc[start:start + LOAD_CHUNK]
        outcome = record_results(con, _results_frame(_send(connector, target, spec, chunk)), run_id)
        sent, failed, links = sent + outcome.sent, failed + outcome.failed, links + outcome.links_made
    by_action = ops.groupby("action").size().to_dict() if not ops.empty else {}
    return {"ops": len(ops), "sent": sent, "rejected": failed, "links_made": links,
            **{f"{k}s": int(v) for k, v in by_action.items()}}
