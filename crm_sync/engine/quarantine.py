"""Field-level quarantine: a value that fails validation, or that the CRM refuses by name, holds back that field
alone. The rest of the record's write goes on (its other fields and its cross-id); the held values become an op
of their own (`held_from` = the op they came from) that keeps the reason, is checked again on every run and
sent once it passes (or its source value changes and a new op supersedes it)."""

from __future__ import annotations

import duckdb
import pandas as pd

from crm_sync.engine.db import registered


def hold_back(con: duckdb.DuckDBPyConnection, failures: pd.DataFrame, status: str, run_id: str) -> pd.DataFrame:
    """Split ops whose failing fields (failures: op_id, field) are only part of their payload; returns the
    (op_id, held_op_id) of the ops split. Call inside the caller's transaction.

    The held op updates the same record (its target id is filled in once a create lands); `status` is its start
    ('invalid' for validation, 'failed' for a CRM refusal). An op whose every field fails, or whose failure names
    none of its fields, is left whole for the caller.
    """
    empty = pd.DataFrame({"op_id": pd.Series(dtype=str), "held_op_id": pd.Series(dtype=str)})
    if failures.empty:
        return empty
    with registered(con, "_hold_frame", failures[["op_id", "field"]].astype(str)):
        con.execute("""CREATE OR REPLACE TEMP TABLE _hold AS SELECT * FROM (
                SELECT o.op_id, md5(o.op_id || '|held') AS held_op_id, list(DISTINCT f.field) AS fields,
                       any_value(json_keys(o.payload)) AS keys
                FROM sync.outbox o JOIN _hold_frame f USING (op_id)
                WHERE o.action IN ('create', 'update') AND o.held_from IS NULL GROUP BY o.op_id)
            WHERE len(list_filter(keys, lambda k: NOT list_contains(fields, k))) > 0
              AND len(list_filter(fields, lambda k: list_contains(keys, k))) > 0""")
    con.execute("""INSERT INTO sync.outbox (op_id, run_id, pair, target, object, action, sf_object, record_key,
            target_id, payload, shadow, reason, status, attempts, held_from)
        SELECT h.held_op_id, ?, o.pair, o.target, o.object, 'update', o.sf_object, o.record_key, o.target_id,
               (SELECT json_group_object(j.key, j.value) FROM json_each(o.payload) j
                WHERE list_contains(h.fields, j.key)),
               (SELECT to_json(COALESCE(list(e), [])) FROM unnest(CAST(o.shadow AS JSON[])) AS u(e)
                WHERE list_contains(h.fields, e ->> 'k')),
               o.reason || ' (held back from the record''s write)', ?, 0, o.op_id
        FROM _hold h JOIN sync.outbox o USING (op_id)
        ON CONFLICT (op_id) DO UPDATE SET status = excluded.status, updated_at = now()""", [run_id, status])
    con.execute("""UPDATE sync.outbox o SET
            payload = (SELECT json_group_object(j.key, j.value) FROM json_each(o.payload) j
                       WHERE NOT list_contains(h.fields, j.key)),
            -- A create's held field: the new record holds the target's default there (or nothing), not the
            -- held value; the shadow says so, and a later comparison sees no change on either side (the held op
            -- keeps the value until its cause is fixed) instead of a first one that may overwrite the source.
            shadow = (SELECT to_json(COALESCE(list(CASE WHEN o.action = 'create' AND e ->> 'k' IS NOT NULL
                                                         AND list_contains(h.fields, e ->> 'k')
                          THEN json_object('f', e ->> 'f', 'h', e ->> 'h', 's', (SELECT m.default_value
                              FROM sync.metadata m WHERE m.system = o.target AND m.object = o.object
                                AND m.field = e ->> 'k'), 'k', e ->> 'k') ELSE e END), []))
                      FROM unnest(CAST(o.shadow AS JSON[])) AS u(e)
                      WHERE o.action = 'create' OR e ->> 'k' IS NULL OR NOT list_contains(h.fields, e ->> 'k')),
            updated_at = now()
        FROM _hold h WHERE o.op_id = h.op_id""")
    return con.execute("SELECT op_id, held_op_id FROM _hold").df()
