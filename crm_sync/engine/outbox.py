"""The outbox: which planned writes to send next, and what each CRM answered (links, shadow, errors, audit)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pandas as pd

from crm_sync.connectors.common import WriteResult
from crm_sync.engine.db import NEXT_POSITION, registered, transaction
from crm_sync.engine.mapping import PairSpec
from crm_sync.engine.quarantine import hold_back

RESULT_COLUMNS = ["op_id", "success", "target_id", "error_code", "error_message", "error_fields", "response"]


@dataclass
class LoadResult:
    sent: int = 0
    failed: int = 0
    links_made: int = 0
    requeued: int = 0  # refused for some fields only: sent again without them

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def __add__(self, other: LoadResult) -> LoadResult:
        return LoadResult(self.sent + other.sent, self.failed + other.failed, self.links_made + other.links_made,
                          self.requeued + other.requeued)


# Pending ops, and failed ones due for another try (bound parameter: $max_attempts).
DUE = """(status = 'pending' OR (status = 'failed' AND attempts < $max_attempts
          AND updated_at < now() - to_minutes(CAST(pow(2, attempts) AS BIGINT))))"""


# The record writes a load sends now (ops_to_send; engine/preview.py lists the same): due, not an association
# op, not an update that carries nothing but associations, not one held back from a create not landed yet.
RECORD_WRITES_DUE = f"""parent_op_id IS NULL AND {DUE}
          AND NOT (action = 'update' AND associations IS NOT NULL AND CAST(payload AS VARCHAR) = '{{}}')
          AND NOT (action = 'update' AND target_id IS NULL)"""


def ops_to_send(con: duckdb.DuckDBPyConnection, spec: PairSpec, target: str, max_attempts: int) -> pd.DataFrame:
    """The record writes due (connectors.common.OP_COLUMNS), oldest first; payloads as JSON text, which `parsed`
    turns into dicts a chunk at a time (a million payloads as dicts would hold gigabytes for the whole load).

    A rejected write is tried again after 2^attempts minutes (up to max_attempts), so a cause fixed on the
    target side (a picklist value added, a duplicate rule relaxed) heals by itself without costing calls on
    every cycle. A fix on the source side makes a new op at once (see plan.py). Associations written apart
    (engine/associations.py) and updates that change nothing but them are not record writes.
    """
    key_field = spec.sf_external_id if target == "salesforce" else spec.hs_salesforce_id
    return writes_due(con, spec.name, target, max_attempts, key_field)


def writes_due(con: duckdb.DuckDBPyConnection, pair: str, target: str, max_attempts: int,
               key_field: str | None = None) -> pd.DataFrame:
    """ops_to_send for any outbox pair (a list's memberships too); creates upsert on key_field (None: plain)."""
    return con.execute(f"""SELECT op_id, object, action, target_id, CAST(payload AS VARCHAR) AS payload,
            CASE WHEN action = 'create' THEN $key_field END AS key_field
        FROM sync.outbox WHERE pair = $pair AND target = $target AND {RECORD_WRITES_DUE}
        ORDER BY created_at, op_id""", {"key_field": key_field, "pair": pair, "target": target,
                                        "max_attempts": max_attempts}).df()


def parsed(ops: pd.DataFrame) -> pd.DataFrame:
    """Ops from ops_to_send with their payloads as dicts, as the connectors take them."""
    out = ops.copy()
    out["payload"] = out["payload"].map(json.loads)
    return out


def stamp_created(con: duckdb.DuckDBPyConnection, spec: PairSpec, target: str, run_id: str) -> set[str]:
    """The cross-ids of the records this load created on `target`, to write back to their source records on the
    other side in the same run (not a cycle later): outbox ops (update: the source's cross-id field, and for
    Salesforce creates their echo). Returns their op ids: validate them, then send them as ops_to_send gives
    them (a value validation held back is no longer in the payload)."""
    if target == "salesforce":
        # A HubSpot record created in Salesforce learns its Salesforce id, and what Salesforce holds that it does
        # not (the create's echo: picklist defaults, always_salesforce values; engine/plan._salesforce_echo).
        select = """SELECT 'hubspot' AS target, $hs_object AS object, l.salesforce_object AS sf_object,
            l.salesforce_id AS record_key, l.hubspot_id AS target_id,
            json_merge_patch(COALESCE(CAST(e.v AS JSON), '{}'), json_object($hs_xid, l.salesforce_id)) AS payload,
            e.shadow
            FROM sync.links l JOIN sync.outbox o ON o.pair = l.pair AND o.target = 'salesforce' AND o.action = 'create'
              AND o.status = 'sent' AND o.record_key = l.hubspot_id
            -- the echo entries of what the create sent (engine/plan._salesforce_echo): a value as planned, or
            -- the default Salesforce gave in place of one validation held back
            LEFT JOIN LATERAL (SELECT json_group_object(x ->> 'k', x -> 'v') AS v,
                    to_json(list(json_object('f', x ->> 'f', 'h', x ->> 'h', 's', x ->> 's', 'k', x ->> 'k')))
                        AS shadow
                FROM unnest(CAST(o.echo AS JSON[])) AS u(x)
                WHERE CASE x ->> 'when'
                    WHEN 'held' THEN json_extract_string(o.payload, '$.' || CAST(to_json(x ->> 'sk') AS VARCHAR))
                                     IS NULL
                    ELSE json_extract_string(o.payload, '$.' || CAST(to_json(x ->> 'sk') AS VARCHAR))
                         IS NOT DISTINCT FROM (x ->> 'sv') END) e ON true"""
    else:  # a Salesforce record created in HubSpot learns its HubSpot id
        select = """SELECT 'salesforce' AS target, l.salesforce_object AS object, l.salesforce_object AS sf_object,
            l.hubspot_id AS record_key, l.salesforce_id AS target_id, json_object($sf_xid, l.hubspot_id) AS payload,
            NULL::JSON AS shadow
            FROM sync.links l JOIN sync.outbox o ON o.pair = l.pair AND o.target = 'hubspot' AND o.action = 'create'
              AND o.status = 'sent' AND o.record_key = l.salesforce_id"""
    binds = {"pair": spec.name, "run_id": run_id, "hs_object": spec.hubspot_object, "hs_xid": spec.hs_salesforce_id,
             "sf_xid": spec.sf_external_id}
    used = {k: v for k, v in binds.items() if f"${k}" in select or k in ("pair", "run_id")}
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _stamps AS SELECT md5(target || '|' || object || '|update|' ||
            record_key || '|' || target_id || '|' || CAST(payload AS VARCHAR)) AS op_id, *
        FROM ({select} WHERE l.pair = $pair AND l.linked_by = 'created' AND l.run_id = $run_id)""", used)
    con.execute("""INSERT INTO sync.outbox (op_id, run_id, pair, target, object, action, sf_object, record_key,
            target_id, payload, shadow, reason, status)
        SELECT op_id, $run_id, $pair, target, object, 'update', sf_object, record_key, target_id, payload, shadow,
               'cross-id of the record created from it this run', 'pending' FROM _stamps
        ON CONFLICT (op_id) DO NOTHING""", {"run_id": run_id, "pair": spec.name})
    return {op_id for (op_id,) in con.execute("SELECT op_id FROM _stamps").fetchall()}


def results_frame(results: list[WriteResult]) -> pd.DataFrame:
    """CRM answers as record_results takes them."""
    return pd.DataFrame({"op_id": pd.Series([r.key for r in results], dtype=object),
                         "success": pd.Series([r.success for r in results], dtype=bool),
                         "target_id": pd.Series([r.target_id for r in results], dtype=object),
                         "error_code": pd.Series([r.error_code for r in results], dtype=object),
                         "error_message": pd.Series([r.error_message for r in results], dtype=object),
                         "error_fields": pd.Series([r.error_fields for r in results], dtype=object),
                         "response": pd.Series([None if r.response is None else json.dumps(r.response, default=str)
                                                for r in results], dtype=object)}, columns=RESULT_COLUMNS)


def record_results(con: duckdb.DuckDBPyConnection, results: pd.DataFrame, run_id: str,
                   also: Callable[[duckdb.DuckDBPyConnection], None] | None = None) -> LoadResult:
    """Apply one batch of CRM answers: outbox status, new links, shadow values, errors and audit, atomically.
    also: more bookkeeping of the same answers, run in the same transaction (after the outbox status is set)."""
    out = LoadResult()
    if results.empty:
        return out
    frame = results.reindex(columns=RESULT_COLUMNS).copy()
    frame["error_fields"] = frame["error_fields"].map(lambda v: ",".join(v) if isinstance(v, list) else v)
    frame["response"] = frame["response"].map(lambda v: v if v is None or isinstance(v, str) else json.dumps(v))
    with transaction(con):
        with registered(con, "_results_frame", frame):
            con.execute("""CREATE OR REPLACE TEMP TABLE _res AS SELECT r.op_id, CAST(r.success AS BOOLEAN) AS success,
                CAST(r.target_id AS VARCHAR) AS new_id, CAST(r.error_code AS VARCHAR) AS code,
                CAST(r.error_message AS VARCHAR) AS message, CAST(r.error_fields AS VARCHAR) AS fields,
                CAST(r.response AS VARCHAR) AS response, o.* EXCLUDE (op_id)
                FROM _results_frame r JOIN sync.outbox o USING (op_id)""")
        # A refusal that names some of the op's fields holds back those fields alone: the rest goes out again
        # (the next pass of this load), the refusal is the held op's.
        refused = con.execute("""SELECT op_id, unnest(string_split(fields, ',')) AS field FROM _res
            WHERE NOT success AND COALESCE(fields, '') <> '' AND action IN ('create', 'update')""").df()
        split = hold_back(con, refused, "failed", run_id)
        out.requeued = len(split)
        with registered(con, "_split", split):
            con.execute("UPDATE _res SET op_id = s.held_op_id FROM _split s WHERE _res.op_id = s.op_id")
        con.execute("""UPDATE sync.outbox o SET status = CASE WHEN r.success THEN 'sent' ELSE 'failed' END,
            attempts = o.attempts + 1, last_error = CASE WHEN r.success THEN NULL ELSE r.code || ': ' || r.message END,
            target_id = COALESCE(o.target_id, r.new_id), updated_at = now() FROM _res r WHERE o.op_id = r.op_id""")
        # A merge carried across (merges: propagate) settles its duplicate.
        con.execute("""UPDATE sync.duplicates d SET resolution = CASE WHEN r.success THEN 'merged into ' || r.target_id
            ELSE 'merge failed: ' || COALESCE(r.code, '') || ': ' || COALESCE(r.message, '') END
            FROM _res r WHERE r.action = 'merge' AND d.op_id = r.op_id""")
        # Values held back from a create update the record it made.
        con.execute("""UPDATE sync.outbox h SET target_id = r.new_id FROM _res r WHERE h.held_from = r.op_id
            AND h.target_id IS NULL AND r.success AND r.action = 'create'""")
        # Creates make links: the record key is the source id, the answer carries the new id.
        out.links_made = con.execute(f"""INSERT INTO sync.links (pair, hubspot_id, salesforce_object, salesforce_id,
            linked_by, run_id, position)
            SELECT pair, CASE target WHEN 'salesforce' THEN record_key ELSE new_id END, sf_object,
                   CASE target WHEN 'salesforce' THEN new_id ELSE record_key END, 'created', ?, {NEXT_POSITION}
            FROM _res WHERE success AND action = 'create' AND new_id IS NOT NULL
            ON CONFLICT DO NOTHING""", [run_id]).fetchone()[0]
        con.execute("""INSERT INTO sync.shadow (pair, hubspot_id, field, hubspot_value, salesforce_value)
            SELECT pair, hubspot_id, s.f, s.h, s.s FROM (
                SELECT pair, CASE target WHEN 'salesforce' THEN record_key ELSE COALESCE(target_id, new_id) END
                       AS hubspot_id, unnest(from_json(shadow, '[{"f":"VARCHAR","h":"VARCHAR","s":"VARCHAR"}]')) AS s
                FROM _res WHERE success AND shadow IS NOT NULL AND action IN ('create', 'update', 'associate'))
            WHERE hubspot_id IS NOT NULL
            ON CONFLICT (pair, hubspot_id, field) DO UPDATE SET hubspot_value = excluded.hubspot_value,
               salesforce_value = excluded.salesforce_value, synced_at = now()""")
        con.execute("""INSERT INTO sync.errors (error_key, kind, pair, system, object, record_id, op_id, code, message,
            fields, first_seen, last_seen, occurrences, run_id)
            SELECT md5(pair || '|' || target || '|' || object || '|' || record_key || '|' || COALESCE(code, '')),
                   'write', pair, target, object, record_key, op_id, code, message, fields, now(), now(), 1, ?
            FROM _res WHERE NOT success
            ON CONFLICT (error_key) DO UPDATE SET op_id = excluded.op_id, message = excluded.message,
               fields = excluded.fields, last_seen = now(), occurrences = sync.errors.occurrences + 1,
               resolved_at = NULL, run_id = excluded.run_id""", [run_id])
        # A write that lands resolves its record's errors, but not those of values still held in an open op, nor
        # a value the plan left out of it (a skipped row: the plan resolves those once it writes the value).
        con.execute("""UPDATE sync.errors e SET resolved_at = now() FROM _res r WHERE r.success
            AND e.resolved_at IS NULL AND e.kind <> 'skipped' AND e.pair = r.pair AND e.system = r.target
            AND e.object = r.object
            AND e.record_id = r.record_key AND (e.op_id IS NULL OR e.op_id = r.op_id OR e.op_id NOT IN (
                SELECT op_id FROM sync.outbox WHERE status IN ('pending', 'failed', 'invalid')))""")
        con.execute("""INSERT INTO sync.audit (run_id, op_id, target, object, action, target_id, payload, response,
            success) SELECT ?, op_id, target, object, action, COALESCE(target_id, new_id), payload,
            CAST(response AS JSON), success FROM _res""", [run_id])
        out.sent = con.execute("SELECT count(*) FILTER (WHERE success) FROM _res").fetchone()[0]
        out.failed = con.execute("SELECT count(*) FILTER (WHERE NOT success) FROM _res").fetchone()[0]
        if also is not None:
            also(con)
    return out


def record_usage(con: duckdb.DuckDBPyConnection, run_id: str, system: str, calls: dict[str, int]) -> None:
    """Add API calls by endpoint for this run to sync.api_usage."""
    if not calls:
        return
    frame = pd.DataFrame({"endpoint": list(calls), "calls": list(calls.values())})
    with registered(con, "_usage_frame", frame):
        con.execute("""INSERT INTO sync.api_usage SELECT current_date, ?, ?, endpoint, calls FROM _usage_frame
            ON CONFLICT (day, run_id, system, endpoint) DO UPDATE SET calls = sync.api_usage.calls + excluded.calls""",
                    [run_id, system])


def calls_today(con: duckdb.DuckDBPyConnection, system: str, run_id: str) -> int:
    """API calls the sync's other runs made on one CRM today (UTC): what a per-day budget has left."""
    return con.execute("SELECT COALESCE(sum(calls), 0) FROM sync.api_usage WHERE day = current_date AND system = ? "
                       "AND run_id <> ?", [system, run_id]).fetchone()[0]
