"""What the next load will send, read from the outbox without sending anything (`crm-sync plan`, the plan
asset's metadata): writes by pair, target and action, and field diffs (old -> new, with the rule that decided).

The record writes are the ops a load takes (outbox.RECORD_WRITES_DUE); a create also makes one write-back of its
cross-id to its source record (outbox.stamp_created) in the same load, listed as action `update` on the other side with
reason `cross-id of the record created`. Associations go with their record's op (counted apart).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from crm_sync.engine.db import Binds, quote, registered
from crm_sync.engine.mapping import PairSpec
from crm_sync.engine.outbox import RECORD_WRITES_DUE

STAMP_REASON = "cross-id of the record created"


def _due(specs: list[PairSpec], b: Binds) -> str:
    pairs = ", ".join(b(s.name) for s in specs) or "NULL"
    return f"""SELECT op_id, pair, target, object, sf_object, action, record_key, target_id, payload, reason,
            associations IS NOT NULL AS with_associations
        FROM sync.outbox WHERE pair IN ({pairs}) AND {RECORD_WRITES_DUE}"""


def writes(con: duckdb.DuckDBPyConnection, specs: list[PairSpec], max_attempts: int) -> pd.DataFrame:
    """One row per write the next load sends: pair, target, object, action, record (the target record's id; a
    create's source id), reason; the cross-id write-backs of the creates included."""
    b = Binds(max_attempts=max_attempts)
    hs_object = {s.name: s.hubspot_object for s in specs}
    frame = b.execute(con, f"""SELECT pair, target, object, action,
            CASE WHEN action = 'create' THEN record_key ELSE target_id END AS record, reason, sf_object
        FROM ({_due(specs, b)}) ORDER BY ALL""").df()
    creates = frame[frame["action"] == "create"]
    stamps = pd.DataFrame({
        "pair": creates["pair"], "target": creates["target"].map({"salesforce": "hubspot", "hubspot": "salesforce"}),
        "object": [hs_object[p] if t == "salesforce" else o for p, t, o in zip(
            creates["pair"], creates["target"], creates["sf_object"], strict=True)],
        "action": "update", "record": creates["record"], "reason": STAMP_REASON})
    return pd.concat([frame, stamps], ignore_index=True).drop(columns="sf_object")


def summary(con: duckdb.DuckDBPyConnection, specs: list[PairSpec], max_attempts: int) -> pd.DataFrame:
    """Counts by pair, target and action."""
    found = writes(con, specs, max_attempts)
    if found.empty:
        return pd.DataFrame(columns=["pair", "target", "action", "writes"])
    return (found.groupby(["pair", "target", "action"]).size().rename("writes").reset_index()
            .sort_values(["pair", "target", "action"], ignore_index=True))


def field_diffs(con: duckdb.DuckDBPyConnection, specs: list[PairSpec], max_attempts: int,
                limit: int = 20) -> pd.DataFrame:
    """A sample of the fields the next load changes: pair, target, object, action, record, field (the target's),
    old (the target record's value as last read; none for a create), new, mapping, rule."""
    b = Binds(max_attempts=max_attempts)
    rules = pd.DataFrame(
        [(s.name, "salesforce", o, m.salesforce_field(o), m.name, m.rule) for s in specs for o in s.salesforce_objects
         for m in s.config.fields if m.salesforce_field(o)]
        + [(s.name, "hubspot", s.hubspot_object, m.hubspot, m.name, m.rule) for s in specs for m in s.config.fields
           if m.hubspot],
        columns=["pair", "target", "object", "key", "mapping", "rule"])
    current = []
    for spec in specs:
        current.append(f"SELECT 'hubspot' AS target, {b(spec.hubspot_object)} AS object, id, to_json(t) AS row "
                       f"FROM raw_hubspot.{quote(spec.hubspot_object + '_current')} t")
        current += [f"SELECT 'salesforce', {b(o)}, id, to_json(t) FROM raw_salesforce.{quote(o + '_current')} t"
                    for o in spec.salesforce_objects]
    with registered(con, "_mapping_rules", rules):
        return b.execute(con, f"""WITH o AS ({_due(specs, b)}), cur AS ({" UNION ALL ".join(current)})
            SELECT o.pair, o.target, o.object, o.action,
                   CASE WHEN o.action = 'create' THEN o.record_key ELSE o.target_id END AS record,
                   j.key AS field, json_extract_string(cur.row, '$.' || to_json(j.key)::VARCHAR) AS old,
                   j.value ->> '$' AS new, COALESCE(r.mapping, '(cross-id)') AS mapping,
                   COALESCE(r.rule, 'identity') AS rule
            FROM o, json_each(o.payload) j
            LEFT JOIN cur ON cur.target = o.target AND cur.object = o.object AND cur.id = o.target_id
            LEFT JOIN _mapping_rules r ON r.pair = o.pair AND r.target = o.target AND r.object = o.object
                 AND r.key = j.key
            ORDER BY o.pair, o.target, o.action, record, field LIMIT {int(limit)}""").df()
