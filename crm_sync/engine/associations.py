"""Associations written apart from their record: HubSpot associations and Salesforce contact roles; and values
Salesforce keeps on a child record of their own (a product's standard price, mapping.SF_CHILD_VALUES).

The plan puts an op's associations in its `associations` column ({key: {"v": planned set, "sh": shadow}}). Once
the record write is done (so a new record has its id), `expand` turns each into an op of its own in sync.outbox
(action `associate`, field = the key, parent_op_id = the record's op), superseding an older open one for the same
record and key. `changes_to_send` works out, in SQL against the records as last read, the member changes that
make the target hold the planned set; `record` folds the CRM's answers back into one result per op, which
outbox.record_results stores like any write (status, shadow, errors, audit).
"""

from __future__ import annotations

import json

import duckdb
import pandas as pd

from crm_sync.config.models import LABELLED_ASSOCIATIONS, association_parts
from crm_sync.connectors.common import OP_COLUMNS, WriteResult
from crm_sync.engine.db import Binds, quote, registered, transaction
from crm_sync.engine.mapping import PRIMARY_ASSOCIATIONS, PairSpec, child_value, child_value_sql
from crm_sync.engine.outbox import DUE, LoadResult, record_results, results_frame


def expand(con: duckdb.DuckDBPyConnection, spec: PairSpec, target: str, run_id: str) -> int:
    """Association ops for every record op of this pair and target whose record write is done; returns how many.

    A record op whose only change is an association has nothing to write on the record: it is done at once.
    """
    with transaction(con):
        con.execute("""UPDATE sync.outbox SET status = 'sent', updated_at = now() WHERE pair = ? AND target = ?
            AND status = 'pending' AND associations IS NOT NULL AND action = 'update' AND target_id IS NOT NULL
            AND CAST(payload AS VARCHAR) = '{}'""", [spec.name, target])
        con.execute("""CREATE OR REPLACE TEMP TABLE _assoc_new AS
            SELECT md5(o.op_id || '|' || e.key) AS op_id, o.pair, o.target, e.key AS object, o.sf_object,
                   o.record_key, o.target_id, json_extract(e.value, '$.v') AS payload,
                   to_json([json_extract(e.value, '$.sh')]) AS shadow, o.reason, o.op_id AS parent_op_id
            FROM sync.outbox o, json_each(o.associations) e
            WHERE o.pair = ? AND o.target = ? AND o.status = 'sent' AND o.associations IS NOT NULL
              AND o.parent_op_id IS NULL AND o.target_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM sync.outbox c WHERE c.parent_op_id = o.op_id)""", [spec.name, target])
        con.execute("""UPDATE sync.outbox c SET status = 'superseded', updated_at = now() FROM _assoc_new n
            WHERE c.parent_op_id IS NOT NULL AND c.status IN ('pending', 'failed') AND c.pair = n.pair
              AND c.target = n.target AND c.record_key = n.record_key AND c.field = n.object""")
        con.execute("""UPDATE sync.errors SET resolved_at = now() WHERE resolved_at IS NULL
            AND op_id IN (SELECT op_id FROM sync.outbox WHERE status = 'superseded' AND parent_op_id IS NOT NULL)""")
        return con.execute("""INSERT INTO sync.outbox (op_id, run_id, pair, target, object, action, sf_object,
            record_key, target_id, payload, shadow, reason, status, parent_op_id, field)
            SELECT op_id, ?, pair, target, object, 'associate', sf_object, record_key, target_id, payload, shadow,
                   reason, 'pending', parent_op_id, object FROM _assoc_new ON CONFLICT (op_id) DO NOTHING""",
                           [run_id]).fetchone()[0]


def _fields(spec: PairSpec, target: str) -> pd.DataFrame:
    """One row per association key the pair writes apart toward `target`, with what its SQL needs."""
    rows = []
    for m in spec.config.fields:
        if not m.type.startswith("association"):
            continue
        if target == "hubspot":
            to_type, label = association_parts(m.hubspot)
            labelled = LABELLED_ASSOCIATIONS.get((spec.hubspot_object, to_type, label)) if label else None
            primary = PRIMARY_ASSOCIATIONS.get((spec.hubspot_object, to_type)) if not label else None
            # type_id: the label written; moves: HubSpot moves the label from the former member (the primary)
            rows.append({"key": m.hubspot, "to_type": to_type, "single": m.type == "association",
                         "type_id": labelled[0] if labelled else primary, "moves": primary is not None})
        else:
            for child in {m.salesforce_field(o) for o in spec.salesforce_objects} & set(spec.salesforce_children):
                parent_field, member_field, *_ = spec.salesforce_children[child]
                rows.append({"key": child, "parent_field": parent_field, "member_field": member_field})
    return pd.DataFrame(rows)


def changes_to_send(con: duckdb.DuckDBPyConnection, spec: PairSpec, target: str, max_attempts: int) -> pd.DataFrame:
    """The member changes (OP_COLUMNS + assoc_op_id) that bring the due association ops' records to their planned
    sets, from the records as last read; an op whose record holds its set already has no change (it is done)."""
    fields = _fields(spec, target)
    empty = pd.DataFrame(columns=[*OP_COLUMNS, "assoc_op_id"])
    b = Binds(pair=spec.name, target=target, max_attempts=max_attempts)
    b.execute(con, f"""CREATE OR REPLACE TEMP TABLE _due AS SELECT * FROM sync.outbox WHERE pair = $pair
        AND target = $target AND parent_op_id IS NOT NULL AND {DUE}""")
    values = _child_value_changes(con, spec) if target == "salesforce" else empty
    if fields.empty:
        return values
    parts = []
    for f in fields.to_dict("records"):
        if target == "hubspot":
            table = f"raw_hubspot.{quote(spec.hubspot_object + '_current')}"
            # A single association replaces its first member; a primary label moves by itself to a new member
            # (nothing dropped), while clearing it drops the member it is on.
            members = f"string_split(COALESCE(h.{quote(f['key'])}, ''), ';')"  # staged sorted by id
            old = (members if not f["single"] else
                   f"CASE WHEN COALESCE(c.payload ->> '$', '') <> '' THEN [] ELSE list_slice({members}, 1, 1) END"
                   if f["moves"] else f"list_slice({members}, 1, 1)")
            parts.append(f"""SELECT c.op_id AS assoc_op_id, c.target_id AS from_id, {b(f['to_type'])} AS to_type,
                    {b(f['type_id']) if f['type_id'] is not None else 'NULL'}::INTEGER AS type_id,
                    list_filter(string_split(COALESCE(c.payload ->> '$', ''), ';'), lambda x: x <> '') AS wanted,
                    list_filter({old}, lambda x: x <> '') AS held
                FROM _due c LEFT JOIN {table} h ON h.id = c.target_id WHERE c.object = {b(f['key'])}""")
        else:
            table = f"raw_salesforce.{quote(f['key'] + '_current')}"
            parts.append(f"""SELECT c.op_id AS assoc_op_id, c.target_id AS parent_id, {b(f['key'])} AS child,
                    {b(f['parent_field'])} AS parent_field, {b(f['member_field'])} AS member_field,
                    list_filter(string_split(COALESCE(c.payload ->> '$', ''), ';'), lambda x: x <> '') AS wanted,
                    COALESCE((SELECT list({{'member': r.{quote(f['member_field'])}, 'row': r.id}})
                              FROM {table} r WHERE r.{quote(f['parent_field'])} = c.target_id AND NOT r.deleted),
                             []) AS held
                FROM _due c WHERE c.object = {b(f['key'])}""")
    if target == "hubspot":
        changes = b.execute(con, f"""WITH s AS ({' UNION ALL '.join(parts)})
            SELECT assoc_op_id || ':-' || m AS op_id, {b(spec.hubspot_object)} AS object, 'dissociate' AS action,
                   from_id AS target_id, to_json({{'from_type': {b(spec.hubspot_object)}, 'to_type': to_type,
                   'from_id': from_id, 'to_id': m, 'type_id': NULL}}) AS payload, NULL AS key_field, assoc_op_id
            FROM s, unnest(list_filter(held, lambda x: NOT list_contains(wanted, x))) AS u(m)
            UNION ALL
            SELECT assoc_op_id || ':+' || m, {b(spec.hubspot_object)}, 'associate', from_id,
                   to_json({{'from_type': {b(spec.hubspot_object)}, 'to_type': to_type, 'from_id': from_id,
                   'to_id': m, 'type_id': type_id}}), NULL, assoc_op_id
            FROM s, unnest(list_filter(wanted, lambda x: NOT list_contains(held, x))) AS u(m)
            ORDER BY 3 DESC, 1""").df()  # dissociations first: a single association is replaced, not doubled
    else:
        changes = b.execute(con, f"""WITH s AS ({' UNION ALL '.join(parts)})
            SELECT assoc_op_id || ':+' || m AS op_id, child AS object, 'create' AS action, NULL AS target_id,
                   json_object(parent_field, parent_id, member_field, m) AS payload, NULL AS key_field, assoc_op_id
            FROM s, unnest(list_filter(wanted, lambda x: NOT list_contains(list_transform(held, lambda h: h.member),
                                                                              x))) AS u(m)
            UNION ALL
            SELECT assoc_op_id || ':-' || h.member, child, 'delete', h.row, '{{}}'::JSON, NULL, assoc_op_id
            FROM s, unnest(held) AS u(h) WHERE NOT list_contains(wanted, h.member)
            ORDER BY 1""").df()
    if not changes.empty:
        changes["payload"] = changes["payload"].map(json.loads)
    parts = [frame for frame in (changes, values) if not frame.empty]
    return pd.concat(parts, ignore_index=True) if parts else empty  # concat of nothing would fail


def _child_value_changes(con: duckdb.DuckDBPyConnection, spec: PairSpec) -> pd.DataFrame:
    """The writes that give the due child-value ops' records their planned value: the child record made (with
    its parent and what `create` names), its value updated, or the child deleted when the value is cleared. One
    that holds the value already needs none."""
    parts = []
    b = Binds()
    for obj in spec.salesforce_objects:
        for key in spec.child_values:
            value = child_value(obj, key)
            if value is None:
                continue
            made = ", ".join(f"{b(name)}, {sql}" for name, sql in value.create)
            parts.append(f"""SELECT c.op_id AS assoc_op_id, {b(value.child)} AS object, c.target_id AS parent_id,
                    CASE WHEN c.payload IS NULL OR json_type(c.payload) = 'NULL' THEN NULL ELSE c.payload END AS wanted,
                    {child_value_sql(value, 'c.target_id', 'id')} AS held,
                    TRY_CAST({child_value_sql(value, 'c.target_id')} AS DOUBLE) AS held_value,
                    json_object({b(value.parent_field)}, c.target_id, {made}) AS made,
                    {b(value.value_field)} AS value_field
                FROM _due c WHERE c.object = {b(key)} AND c.sf_object = {b(obj)}""")
    if not parts:
        return pd.DataFrame(columns=[*OP_COLUMNS, "assoc_op_id"])
    changes = b.execute(con, f"""WITH s AS ({' UNION ALL '.join(parts)})
        SELECT assoc_op_id || ':=' AS op_id, object,
               CASE WHEN held IS NULL THEN 'create' WHEN wanted IS NULL THEN 'delete' ELSE 'update' END AS action,
               held AS target_id,
               CASE WHEN held IS NULL THEN json_merge_patch(made, json_object(value_field, wanted))
                    WHEN wanted IS NULL THEN '{{}}'::JSON ELSE json_object(value_field, wanted) END AS payload,
               NULL AS key_field, assoc_op_id
        FROM s WHERE NOT (held IS NULL AND wanted IS NULL)
          AND (wanted IS NULL OR held_value IS DISTINCT FROM TRY_CAST(CAST(wanted AS VARCHAR) AS DOUBLE))
        ORDER BY 1""").df()
    if not changes.empty:
        changes["payload"] = changes["payload"].map(json.loads)
    return changes


def record(con: duckdb.DuckDBPyConnection, changes: pd.DataFrame, results: list[WriteResult],
           run_id: str, spec: PairSpec) -> LoadResult:
    """One result per association op from its member changes' answers: done when every change succeeded (or it
    needed none), else failed with the first refusal's code, message and the association's field. Call it
    after changes_to_send, on the same connection (its temp table _due holds the ops it looked at)."""
    answers = results_frame(results)
    members = changes[["op_id", "assoc_op_id"]] if not changes.empty else pd.DataFrame(
        {"op_id": pd.Series(dtype=str), "assoc_op_id": pd.Series(dtype=str)})
    with registered(con, "_assoc_members", members), registered(con, "_assoc_answers", answers):
        folded = con.execute("""WITH a AS (SELECT CAST(op_id AS VARCHAR) AS op_id, CAST(success AS BOOLEAN) AS ok,
                CAST(error_code AS VARCHAR) AS code, CAST(error_message AS VARCHAR) AS message,
                CAST(response AS JSON) AS response FROM _assoc_answers)
            SELECT d.op_id, COALESCE(bool_and(a.ok), true) AS success, d.target_id,
                first(a.code ORDER BY a.op_id) FILTER (WHERE NOT a.ok) AS error_code,
                first(a.message ORDER BY a.op_id) FILTER (WHERE NOT a.ok) AS error_message,
                first(d.field) AS error_fields,
                to_json(COALESCE(list(a.response ORDER BY a.op_id) FILTER (WHERE a.op_id IS NOT NULL), [])) AS response
            FROM _due d LEFT JOIN _assoc_members m ON m.assoc_op_id = d.op_id
            LEFT JOIN a ON a.op_id = m.op_id GROUP BY d.op_id, d.target_id""").df()
    folded["success"] = folded["success"].astype(bool)
    folded.loc[folded["success"], "error_fields"] = None
    # The sets written are held in the records as last read in the same transaction as the ops' status: a stop
    # between the two would leave sent ops whose old sets a later read takes for HubSpot edits.
    return record_results(con, folded, run_id, also=lambda c: _hold_written(c, spec))


def _hold_written(con: duckdb.DuckDBPyConnection, spec: PairSpec) -> None:
    """The HubSpot record as last read now holds the sets the association ops just wrote (inside record's
    transaction, with its _due). HubSpot does not stamp a record whose associations change, and a later read of
    the record by search brings no associations: without this, the set as read before the write would look like
    a change made in HubSpot, and be written back over the other side's (an edit that moved a ticket's company
    undone)."""
    keys = [k for (k,) in con.execute("SELECT DISTINCT object FROM _due WHERE target = 'hubspot'").fetchall()]
    table = f"raw_hubspot.{quote(spec.hubspot_object + '_current')}"
    have = {c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw_hubspot' AND table_name = ?",
        [spec.hubspot_object + "_current"]).fetchall()}
    for key in [k for k in keys if k in have]:  # one statement per association field, over every record written
        con.execute(f"""UPDATE {table} h SET {quote(key)} = NULLIF(array_to_string(list_transform(list_sort(
                list_transform(list_filter(string_split(COALESCE(d.payload ->> '$', ''), ';'), lambda x: x <> ''),
                               lambda x: CAST(x AS HUGEINT))), lambda x: CAST(x AS VARCHAR)), ';'), '')
            FROM _due d JOIN sync.outbox o ON o.op_id = d.op_id
            WHERE o.status = 'sent' AND d.target = 'hubspot' AND d.object = ? AND h.id = d.target_id""", [key])
