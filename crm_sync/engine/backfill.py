"""The initial sync as a partitioned backfill: which records a partition reads, and when creates may start.

A partition is a creation-time window: it reads the live records of both CRMs created in it, stages them like
any read (so the plan's hand-off, linking and the outbox are the incremental cycle's own), and the same run
links, plans and loads. The first partition also takes everything created before it, and no partition reads
past the instant the backfill began: what changes after that is the incremental cycle's, whose cursors start
there (minus the overlap) once the backfill begins.

A record's counterpart may sit in another partition (a contact created in HubSpot in 2022 and in Salesforce in
2024), so while some partition is still unread nothing is created on either side: a create could duplicate a
record not read yet. Updates between linked records go out at once. The run that reads the last partition (or
any run after it) plans the creates. Running a partition again reads the same versions, so it plans nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from crm_sync.engine import cursors
from crm_sync.engine.db import transaction


@dataclass(frozen=True)
class Window:
    """What one partition of one object reads: created in [start, end); None is unbounded."""

    start: dt.datetime | None
    end: dt.datetime | None

    @property
    def empty(self) -> bool:
        return self.start is not None and self.end is not None and self.start >= self.end


def started_at(con: duckdb.DuckDBPyConnection) -> dt.datetime | None:
    """When the backfill began (None: no backfill)."""
    row = con.execute("SELECT min(started_at) FROM sync.backfill").fetchone()
    return row[0] if row else None


def begin(con: duckdb.DuckDBPyConnection, now: dt.datetime, objects: list[tuple[str, str]], run_id: str) -> dt.datetime:
    """Start the backfill once (later calls return when it started). The incremental reads of these objects
    start from that instant, their first run reading back to it less the overlap (an edit made while a
    partition was read is read again then); HubSpot association lists too (each partition reads the
    associations of what it read). HubSpot deletes stay due: the first cycle lists them."""
    began = started_at(con)
    if began is not None:
        return began
    with transaction(con):  # the start and the cursors it sets, or neither
        con.execute("INSERT INTO sync.backfill (started_at, run_id) VALUES (?, ?)", [now, run_id])
        for system, obj in objects:
            if cursors.last_read(con, system, obj) is None:
                cursors.advance(con, system, obj, run_id, now)
            if system == "hubspot" and cursors.last_read(con, system, obj, cursors.ASSOCIATIONS) is None:
                cursors.advance(con, system, obj, run_id, now, cursors.ASSOCIATIONS)
    return now


def window(start: dt.datetime, end: dt.datetime, first: bool, began: dt.datetime) -> Window:
    """A partition's window: the first partition reaches back without limit; none reads past the start."""
    return Window(None if first else start, min(end, began))


def record_read(con: duckdb.DuckDBPyConnection, keys: list[str], system: str, obj: str, w: Window, rows: int,
                run_id: str) -> None:
    """The partitions in keys are read for this object (a run of several partitions reads them as one window)."""
    # One statement, the keys as a bound list (executemany ran an INSERT a key: 85 ms for 36 monthly partitions)
    con.execute("""INSERT INTO sync.backfill_reads (partition_key, system, object, window_start, window_end,
            rows_read, run_id)
        SELECT k.key, $system, $object, $start, $end, CASE WHEN k.n = 1 THEN $rows ELSE 0 END, $run_id
        FROM (SELECT unnest($keys) AS key, generate_subscripts($keys, 1) AS n) k
        ON CONFLICT (partition_key, system, object) DO UPDATE SET rows_read = excluded.rows_read,
            run_id = excluded.run_id, read_at = now()""",
                {"keys": list(keys), "system": system, "object": obj, "start": w.start, "end": w.end, "rows": rows,
                 "run_id": run_id})


def unread(con: duckdb.DuckDBPyConnection, partitions: Callable[[], list[tuple[str, dt.datetime]]],
           objects: list[tuple[str, str]]) -> int:
    """How many (partition, object) reads a started backfill still lacks. partitions: (key, window start) of
    every partition, asked for only once a backfill has begun (every plan calls this); those starting after
    the backfill began hold nothing to read. 0 without a backfill."""
    began = started_at(con)
    if began is None:
        return 0
    due = [(k, s, o) for k, start in partitions() if start < began for s, o in objects]
    if not due:
        return 0
    keys, systems, names = (list(column) for column in zip(*due, strict=True))
    return con.execute("""SELECT count(*) FROM (SELECT unnest($keys) AS partition_key, unnest($systems) AS system,
            unnest($names) AS object) d
        WHERE NOT EXISTS (SELECT 1 FROM sync.backfill_reads r WHERE r.partition_key = d.partition_key
                          AND r.system = d.system AND r.object = d.object)""",
                       {"keys": keys, "systems": systems, "names": names}).fetchone()[0]
