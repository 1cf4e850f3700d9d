"""Read bookkeeping: where each read of each object stopped, and which periodic reads are due this cycle.

One row per (system, object, read kind). Kinds: `incremental` (changes since the cursor), `archived` (HubSpot's
deleted records, which can only be listed whole), `associations` (the sweep that finds HubSpot association
edits HubSpot does not stamp) and `metadata` (describe / properties used by validation). A pair's plan keeps
its hand-off position here too (system `plan`, object = the pair, kind `plan`): the last staging position its
last completed plan consumed.
"""

from __future__ import annotations

import datetime as dt

import duckdb

INCREMENTAL, ARCHIVED, ASSOCIATIONS, METADATA, PLAN = "incremental", "archived", "associations", "metadata", "plan"
KINDS = (INCREMENTAL, ARCHIVED, ASSOCIATIONS, METADATA, PLAN)


def last_read(con: duckdb.DuckDBPyConnection, system: str, obj: str, kind: str = INCREMENTAL) -> dt.datetime | None:
    """When the last complete read of this kind started (None: never read)."""
    row = con.execute("SELECT cursor_at FROM sync.cursors WHERE system = ? AND object = ? AND read_kind = ?",
                      [system, obj, _kind(kind)]).fetchone()
    return row[0] if row else None


def fields_read(con: duckdb.DuckDBPyConnection, system: str, obj: str) -> list[str] | None:
    """The fields the last complete incremental read of this object read (None: not recorded)."""
    row = con.execute("SELECT fields FROM sync.cursors WHERE system = ? AND object = ? AND read_kind = ?",
                      [system, obj, INCREMENTAL]).fetchone()
    return list(row[0]) if row and row[0] is not None else None


def is_due(con: duckdb.DuckDBPyConnection, system: str, obj: str, kind: str, every: dt.timedelta | None,
           now: dt.datetime) -> bool:
    """Whether a periodic read is due: never done, or done at least `every` ago (None: never due)."""
    if every is None:
        return False
    last = last_read(con, system, obj, kind)
    return last is None or now - last >= every


def advance(con: duckdb.DuckDBPyConnection, system: str, obj: str, run_id: str, read_started: dt.datetime,
            kind: str = INCREMENTAL, fields: list[str] | None = None) -> dt.datetime:
    """After a complete read, the cursor is the instant that read started (the next read begins an overlap
    before it).

    Not the newest version seen: a read that is not in time order (a first sync lists by id) can miss an
    edit made while it ran to a record it had already passed, and with no edits the newest version stays
    put, so an overlap measured from it would re-read the same window on every quiet cycle.

    fields: what the read read (kept as they were when None).
    """
    con.execute("""INSERT INTO sync.cursors (system, object, read_kind, cursor_at, last_run, fields)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (system, object, read_kind) DO UPDATE SET cursor_at = excluded.cursor_at,
        last_run = excluded.last_run, fields = COALESCE(excluded.fields, sync.cursors.fields), updated_at = now()""",
                [system, obj, _kind(kind), read_started, run_id, sorted(fields) if fields is not None else None])
    return read_started


def planned_position(con: duckdb.DuckDBPyConnection, pair: str) -> int:
    """The staging position the pair's last completed plan consumed (0: never planned)."""
    row = con.execute("SELECT position FROM sync.cursors WHERE system = 'plan' AND object = ? AND read_kind = ?",
                      [pair, PLAN]).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def consume(con: duckdb.DuckDBPyConnection, pair: str, position: int, run_id: str) -> None:
    """Record that the pair's plan consumed everything up to `position` (call inside the plan's transaction)."""
    con.execute("""INSERT INTO sync.cursors (system, object, read_kind, position, last_run) VALUES ('plan', ?, ?, ?, ?)
        ON CONFLICT (system, object, read_kind) DO UPDATE SET position = excluded.position,
        last_run = excluded.last_run, updated_at = now()""", [pair, PLAN, position, run_id])


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown read kind {kind!r}; expected one of {KINDS}")
    return kind
