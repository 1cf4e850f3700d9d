"""Validate outgoing writes with pandera against the target's live metadata before anything is sent.

Metadata comes from Salesforce describe and HubSpot properties (engine/metadata.py keeps it in sync.metadata).
Each planned field value is checked for writability, length, picklist/enumeration membership, email format and
number form, and a create for a parent link the target requires (REQUIRED_FIELD_MISSING). A failing op is
quarantined (status 'invalid') with one error per failing field; it is checked again on every run, so fixing the
value or the target's metadata releases it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb
import pandas as pd
import pandera.pandas as pa

from crm_sync.engine.db import registered, transaction
from crm_sync.engine.quarantine import hold_back

EMAIL = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"

def _text(df: pd.DataFrame) -> pd.Series:
    return df["value"].fillna("").astype(str)


# One vectorised check per rule; each returns True for rows that pass. Checks are named by the error code
# Salesforce gives for the same mistake; HUBSPOT_CODES renames them for HubSpot targets.
WRITE_SCHEMA = pa.DataFrameSchema(
    columns={"op_id": pa.Column(str), "field": pa.Column(str)},
    checks=[
        pa.Check(lambda df: df["known"], name="INVALID_FIELD"),
        # No error= text: pandera would report it instead of the name, which is the code stored.
        pa.Check(lambda df: ~df["known"] | df["writable"], name="INVALID_FIELD_FOR_INSERT_UPDATE"),
        pa.Check(lambda df: (df["length"].fillna(0) <= 0) | df["value"].isna() | (_text(df).str.len() <= df["length"]),
                 name="STRING_TOO_LONG"),
        pa.Check(lambda df: ~df["restricted"].fillna(False).astype(bool) | df["value"].isna() | (_text(df) == "")
                 | df["in_options"].fillna(False).astype(bool),
                 name="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        pa.Check(lambda df: (df["type"] != "email") | df["value"].isna() | (_text(df) == "")
                 | _text(df).str.match(EMAIL), name="INVALID_EMAIL_ADDRESS"),
        pa.Check(lambda df: ~df["type"].isin(["double", "currency", "percent", "int", "number"]) | df["value"].isna()
                 | (_text(df) == "") | pd.to_numeric(df["value"], errors="coerce").notna(),
                 name="INVALID_TYPE_ON_FIELD_IN_RECORD"),
    ],
)


HUBSPOT_CODES = {"INVALID_FIELD": "PROPERTY_DOESNT_EXIST", "INVALID_FIELD_FOR_INSERT_UPDATE": "READ_ONLY_VALUE",
                 "STRING_TOO_LONG": "INVALID_LONG", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": "INVALID_OPTION",
                 "INVALID_EMAIL_ADDRESS": "INVALID_EMAIL", "INVALID_TYPE_ON_FIELD_IN_RECORD": "INVALID_INTEGER"}


@dataclass
class ValidationResult:
    checked: int = 0
    invalid_ops: int = 0
    held_back: int = 0  # ops that went on without their failing fields (held in an op of their own)
    released: int = 0
    failures_by_check: dict = field(default_factory=dict)
    sample: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def in_options(meta: str, value: str) -> str:
    """SQL: every value of `value` (a multi-select's split on ';') is an option of the field whose sync.metadata
    row is `meta`; the test of INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, for the plan to use before validation."""
    return f"list_has_all({meta}.options, string_split({value}, ';'))"


# Ops validated per pandas frame: a first sync of a million people plans some ten million field values, which
# as one frame would hold gigabytes; failures are few and kept, the values are not.
VALIDATE_BATCH = 50_000
FAILURE_COLUMNS = ["op_id", "field", "check", "value", "object"]  # one row per failing (op, field)

# The open create/update ops of a pair for one target whose object has metadata (bound: pair, target).
_OPEN = """o.pair = ? AND o.target = ? AND o.action IN ('create', 'update')
          AND o.status IN ('pending', 'failed', 'invalid')
          AND EXISTS (SELECT 1 FROM sync.metadata x WHERE x.system = o.target AND x.object = o.object)"""


def outgoing_values(con: duckdb.DuckDBPyConnection, pair: str, target: str,
                    batch: int = VALIDATE_BATCH) -> Iterator[pd.DataFrame]:
    """Every field value of the pair's open create/update ops for one target, with the target's metadata, in
    frames of the values of at most `batch` ops (in op order)."""
    after = ""
    while True:
        page = con.execute(f"""SELECT min(op_id), max(op_id) FROM (SELECT o.op_id FROM sync.outbox o
            WHERE {_OPEN} AND o.op_id > ? ORDER BY o.op_id LIMIT ?)""", [pair, target, after, batch]).fetchone()
        if page[0] is None:
            return
        after = page[1]
        frame = con.execute(f"""
            SELECT o.op_id, o.object, o.action, j.key AS field, j.value ->> '$' AS value,
                   m.field IS NOT NULL AS known,
                   COALESCE(CASE o.action WHEN 'create' THEN m.createable ELSE m.updateable END, false) AS writable,
                   m.type, m.length, m.restricted, m.label,
                   {in_options("m", "j.value ->> '$'")} AS in_options
            FROM sync.outbox o, json_each(o.payload) j
            LEFT JOIN sync.metadata m ON m.system = o.target AND m.object = o.object AND m.field = j.key
            WHERE {_OPEN} AND o.op_id BETWEEN ? AND ?
            ORDER BY o.op_id, j.key""", [pair, target, *page]).df()
        if not frame.empty:
            yield frame


def _failures(values: pd.DataFrame, target: str) -> pd.DataFrame:
    """One row per failing (op, field): the check (in the target's own code) and the value."""
    try:
        WRITE_SCHEMA.validate(values, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        # A frame-wide check is reported once per column; one row per (row, check) is enough.
        cases = cases[cases["index"].notna()].drop_duplicates(["index", "check"])
        rows = values.loc[cases["index"].astype(int)]
        checks = cases["check"].astype(str)
        if target == "hubspot":
            checks = checks.map(lambda c: HUBSPOT_CODES.get(c, c))
        return pd.DataFrame({"op_id": rows["op_id"].values, "field": rows["field"].values,
                             "check": checks.values, "value": rows["value"].values, "object": rows["object"].values})
    return pd.DataFrame(columns=FAILURE_COLUMNS)


def _missing_parents(con: duckdb.DuckDBPyConnection, pair: str, target: str) -> pd.DataFrame:
    """Creates that leave out a parent link the target requires (a master-detail field, a line item's
    OpportunityId): the record has no such parent on its own side, so the CRM would refuse it on every try. The
    create waits, whole, with its row; a parent given later plans a new create that supersedes it."""
    return con.execute(f"""SELECT o.op_id, m.field, 'REQUIRED_FIELD_MISSING' AS "check", '(none)' AS value, o.object
        FROM sync.outbox o JOIN sync.metadata m ON m.system = o.target AND m.object = o.object
        WHERE {_OPEN} AND o.action = 'create' AND m.required AND m.type = 'reference'
          AND (o.payload ->> m.field) IS NULL""", [pair, target]).df()


def validate_outgoing(con: duckdb.DuckDBPyConnection, pair: str, target: str, run_id: str,
                      batch: int = VALIDATE_BATCH) -> ValidationResult:
    """Quarantine ops whose values the target would reject; release ops that now pass."""
    result, found = ValidationResult(), []
    for values in outgoing_values(con, pair, target, batch):
        result.checked += int(values["op_id"].nunique())
        found.append(_failures(values, target))
    if result.checked:
        found.append(_missing_parents(con, pair, target))
    if not result.checked and not con.execute("""SELECT count(*) FROM sync.outbox WHERE pair = ? AND target = ?
            AND status = 'invalid'""", [pair, target]).fetchone()[0]:
        return result  # nothing to check and nothing held to release (most quiet cycles): no statement to run
    found = [f for f in found if not f.empty]
    failures = (pd.concat(found, ignore_index=True) if found
                else pd.DataFrame(columns=FAILURE_COLUMNS))
    result.failures_by_check = failures["check"].value_counts().to_dict() if not failures.empty else {}
    result.sample = failures.head(10).to_dict("records")
    with transaction(con):
        empty = pd.DataFrame({c: pd.Series(dtype=str) for c in FAILURE_COLUMNS})
        with registered(con, "_failures", failures.astype(str) if not failures.empty else empty):
            con.execute("CREATE OR REPLACE TEMP TABLE _invalid AS SELECT * FROM _failures")
        # A failing value holds back its field alone: the rest of the op (and its cross-id) goes on, and the
        # failures are the held op's from here on.
        split = hold_back(con, failures, "invalid", run_id)
        result.held_back = len(split)
        with registered(con, "_split", split):
            con.execute("UPDATE _invalid SET op_id = s.held_op_id FROM _split s WHERE _invalid.op_id = s.op_id")
        result.invalid_ops = con.execute("""UPDATE sync.outbox SET status = 'invalid', last_error = 'validation: '
            || (SELECT string_agg(DISTINCT "check" || ' ' || field, ', ') FROM _invalid i WHERE i.op_id = outbox.op_id),
            updated_at = now() WHERE op_id IN (SELECT op_id FROM _invalid)""").fetchone()[0]
        con.execute("""INSERT INTO sync.errors (error_key, kind, pair, system, object, record_id, op_id, code, message,
            fields, first_seen, last_seen, occurrences, run_id)
            SELECT md5(o.pair || '|' || o.target || '|' || o.object || '|' || o.record_key || '|' || i."check"
                       || '|' || i.field), 'validation', o.pair, o.target, o.object, o.record_key, o.op_id, i."check",
                   i."check" || ': ' || i.field || ' = ' || COALESCE(i.value, 'null'), i.field, now(), now(), 1, ?
            FROM _invalid i JOIN sync.outbox o USING (op_id)
            ON CONFLICT (error_key) DO UPDATE SET op_id = excluded.op_id, message = excluded.message,
               last_seen = now(), occurrences = sync.errors.occurrences + 1, resolved_at = NULL""", [run_id])
        result.released = con.execute("""UPDATE sync.outbox SET status = 'pending', last_error = NULL,
            updated_at = now() WHERE pair = ? AND target = ? AND status = 'invalid'
              AND op_id NOT IN (SELECT op_id FROM _invalid)""",
                                      [pair, target]).fetchone()[0]
        con.execute("""UPDATE sync.errors SET resolved_at = now() WHERE kind = 'validation' AND resolved_at IS NULL
            AND pair = ? AND system = ? AND op_id IN (SELECT op_id FROM sync.outbox WHERE status = 'pending')""",
                    [pair, target])
    return result
