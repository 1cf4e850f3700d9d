"""Staging: extracted records land append-only in raw_<system>.<object> and update <object>_current."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from crm_sync.engine.db import NEXT_POSITION, quote, registered, transaction

# Every staged frame carries these; the rest of its columns are field values, stored as text.
SYSTEM_COLUMNS = {"id": "VARCHAR", "cursor_at": "TIMESTAMPTZ", "modified_at": "TIMESTAMPTZ", "deleted": "BOOLEAN"}
BOOKKEEPING = {"_extracted_at": "TIMESTAMPTZ", "_run_id": "VARCHAR", "_position": "BIGINT"}


def table_names(system: str, obj: str) -> tuple[str, str]:
    return f"raw_{system}.{quote(obj)}", f"raw_{system}.{quote(obj + '_current')}"


def ensure_tables(con: duckdb.DuckDBPyConnection, system: str, obj: str, fields: list[str]) -> None:
    """Create the raw and current tables, adding columns for fields that configuration added since."""
    raw, current = table_names(system, obj)
    columns = {**SYSTEM_COLUMNS, **{f: "VARCHAR" for f in fields if f not in SYSTEM_COLUMNS}, **BOOKKEEPING}
    spec = ", ".join(f"{quote(c)} {t}" for c, t in columns.items())
    have: dict[str, set[str]] = {}
    for table_name, column in con.execute("""SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = ? AND table_name IN (?, ?)""", [f"raw_{system}", obj, f"{obj}_current"]).fetchall():
        have.setdefault(table_name, set()).add(column)
    # One look at the catalogue: a table is made if missing, else given the columns it lacks (most calls: none).
    for table, name, key in ((raw, obj, ""), (current, f"{obj}_current", ", PRIMARY KEY (id)")):
        if name not in have:
            con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({spec}{key})")
            continue
        for column, kind in columns.items():
            if column not in have[name]:
                con.execute(f"ALTER TABLE {table} ADD COLUMN {quote(column)} {kind}")


def stage(con: duckdb.DuckDBPyConnection, system: str, obj: str, frame: pd.DataFrame, run_id: str) -> int:
    """Append a frame of extracted records and fold it into the current table; returns rows staged.

    The frame has id, cursor_at, modified_at, deleted and one column per field. A version older than the
    one already current (an overlap re-read racing an edit) never replaces it.
    """
    if frame.empty:
        return 0
    fields = [c for c in frame.columns if c not in SYSTEM_COLUMNS]
    ensure_tables(con, system, obj, fields)
    raw, current = table_names(system, obj)
    now = dt.datetime.now(dt.UTC)
    select = ", ".join(
        ["CAST(id AS VARCHAR) AS id", "CAST(cursor_at AS TIMESTAMPTZ) AS cursor_at",
         "CAST(modified_at AS TIMESTAMPTZ) AS modified_at", "COALESCE(CAST(deleted AS BOOLEAN), false) AS deleted"]
        + [f"CAST({quote(f)} AS VARCHAR) AS {quote(f)}" for f in fields]
        + ["CAST(? AS TIMESTAMPTZ) AS _extracted_at", "CAST(? AS VARCHAR) AS _run_id"])
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in
                        ["cursor_at", "modified_at", "deleted", *fields, "_extracted_at", "_run_id", "_position"])
    with transaction(con):
        with registered(con, "_staged_frame", frame):
            # One version per id per batch: the newest (a page boundary can repeat a record).
            con.execute(f"CREATE OR REPLACE TEMP TABLE _staged AS SELECT *, {NEXT_POSITION} AS _position FROM ("
                        f"SELECT {select} FROM _staged_frame "
                        "QUALIFY row_number() OVER (PARTITION BY id ORDER BY cursor_at DESC) = 1)",
                        [now, run_id])
        con.execute(f"INSERT INTO {raw} BY NAME SELECT * FROM _staged")
        # Only a newer version replaces the current one: an overlap re-read of the same version keeps its
        # _run_id, so the plan does not look at records that did not change. The same version with other values
        # (a formula or roll-up field changes without moving the stamp; a whole read by reconcile finds it)
        # replaces it too.
        differs = " OR ".join(f"excluded.{quote(f)} IS DISTINCT FROM {current}.{quote(f)}"
                              for f in ["deleted", *fields])
        con.execute(f"INSERT INTO {current} BY NAME SELECT * FROM _staged ON CONFLICT (id) DO UPDATE SET {updates} "
                    f"WHERE excluded.cursor_at > {current}.cursor_at "
                    f"OR (excluded.cursor_at = {current}.cursor_at AND ({differs}))")
        count = con.execute("SELECT count(*) FROM _staged").fetchone()[0]
        con.execute("DROP TABLE _staged")
    return count


def changed_ids(con: duckdb.DuckDBPyConnection, system: str, obj: str, run_id: str,
                new_only: bool = False) -> list[str]:
    """Live records whose current version came in with this run (new_only: seen for the first time)."""
    raw, current = table_names(system, obj)
    first = f" AND id NOT IN (SELECT id FROM {raw} WHERE _run_id <> ?)" if new_only else ""
    rows = con.execute(f"SELECT id FROM {current} WHERE _run_id = ? AND NOT deleted{first}",
                       [run_id, run_id] if new_only else [run_id]).fetchall()
    return [r[0] for r in rows]


def set_columns(con: duckdb.DuckDBPyConnection, system: str, obj: str, frame: pd.DataFrame, run_id: str) -> None:
    """Set derived columns (id + columns, e.g. associations read apart) on the current rows and this run's raw
    rows, without making a new version."""
    if frame.empty:
        return
    columns = [c for c in frame.columns if c != "id"]
    ensure_tables(con, system, obj, columns)
    raw, current = table_names(system, obj)
    sets = ", ".join(f"{quote(c)} = CAST(f.{quote(c)} AS VARCHAR)" for c in columns)
    with transaction(con), registered(con, "_column_frame", frame):
        con.execute(f"UPDATE {current} SET {sets}, _position = {NEXT_POSITION} FROM _column_frame f "
                    f"WHERE {current}.id = CAST(f.id AS VARCHAR)")
        con.execute(f"UPDATE {raw} SET {sets} FROM _column_frame f WHERE {raw}.id = CAST(f.id AS VARCHAR) "
                    f"AND {raw}._run_id = ?", [run_id])


def refresh_columns(con: duckdb.DuckDBPyConnection, system: str, obj: str, frame: pd.DataFrame, run_id: str) -> int:
    """Set derived columns (id + columns) read apart from the records, e.g. associations listed by a sweep.

    A live current record whose values differ takes them and joins this run (so the plan looks at it), and the
    new version is appended to the raw table; returns how many records changed.
    """
    if frame.empty:
        return 0
    columns = [c for c in frame.columns if c != "id"]
    ensure_tables(con, system, obj, columns)
    raw, current = table_names(system, obj)
    differs = " OR ".join(f"c.{quote(c)} IS DISTINCT FROM CAST(f.{quote(c)} AS VARCHAR)" for c in columns)
    sets = ", ".join(f"{quote(c)} = CAST(f.{quote(c)} AS VARCHAR)" for c in columns)
    with transaction(con):
        with registered(con, "_refresh_frame", frame):
            con.execute(f"CREATE OR REPLACE TEMP TABLE _refreshed AS SELECT c.id FROM {current} c "
                        f"JOIN _refresh_frame f ON c.id = CAST(f.id AS VARCHAR) WHERE NOT c.deleted AND ({differs})")
            con.execute(f"UPDATE {current} SET {sets}, _run_id = ?, _extracted_at = ?, _position = {NEXT_POSITION} "
                        f"FROM _refresh_frame f "
                        f"WHERE {current}.id = CAST(f.id AS VARCHAR) AND {current}.id IN (SELECT id FROM _refreshed)",
                        [run_id, dt.datetime.now(dt.UTC)])
        con.execute(f"INSERT INTO {raw} BY NAME SELECT * FROM {current} WHERE id IN (SELECT id FROM _refreshed)")
        count = con.execute("SELECT count(*) FROM _refreshed").fetchone()[0]
        con.execute("DROP TABLE _refreshed")
    return count
