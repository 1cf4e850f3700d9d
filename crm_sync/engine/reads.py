"""Which reads an extract makes this cycle (from the cursors and the settings), and the bookkeeping after them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from crm_sync.config.models import ASSOCIATION_PREFIX, SyncSettings
from crm_sync.engine import cursors, metadata


@dataclass(frozen=True)
class ReadPlan:
    """One object's reads for this cycle. `since` None: a full read (the first one)."""

    system: str
    obj: str
    started: dt.datetime
    since: dt.datetime | None
    overlap: dt.timedelta
    metadata: bool  # describe / properties are stale
    deletes: bool  # list deleted records apart (HubSpot's archived list)
    association_columns: list[str] = field(default_factory=list)
    association_sweep: bool = False  # list every record's associations
    association_new_only: bool = True  # otherwise: read associations of every record the change read found
    fields: tuple[str, ...] = ()  # what this read reads
    fields_added: tuple[str, ...] = ()  # read now but not by the last read: why this read is whole
    expected: int = 0  # records the sync itself wrote since the read's window began: at least this many come

    @property
    def settled_until(self) -> dt.datetime:
        return self.started - self.overlap

    @property
    def full(self) -> bool:
        return self.since is None

    @property
    def association_reads(self) -> bool:
        """Read associations of the records this read found (search returns none)."""
        return bool(self.association_columns) and not self.full and not self.association_sweep


def plan_reads(con: duckdb.DuckDBPyConnection, system: str, obj: str, fields: list[str], settings: SyncSettings,
               now: dt.datetime, with_metadata: bool = True, whole: bool = False) -> ReadPlan:
    """The reads due for one object. HubSpot deletes can only be listed whole: every `hubspot_deletes_minutes`
    (and with the first read). HubSpot does not stamp a record when only its associations change: a sweep every
    `association_sweep_minutes` lists them all (the first read lists them with the records).

    A field the last read did not read (a mapping or an inclusion rule added one) makes the read whole, so
    every record has its value, not only those that change from now on.

    whole (reconcile): everything read again, deletes and metadata included, whatever the cursors say.

    `expected` counts the records the sync wrote to the object since the read's window begins: the read returns
    them all (they changed), so a connector can choose its cheapest way to read that many up front (Salesforce:
    straight to a Bulk API 2.0 query when they pass its threshold, reading a backfill's writes back)."""
    since = None if whole else cursors.last_read(con, system, obj)
    before = cursors.fields_read(con, system, obj)
    added = tuple(sorted(set(fields) - set(before))) if before is not None and since is not None else ()
    if added:
        since = None
    hubspot = system == "hubspot"
    columns = [f for f in fields if f.startswith(ASSOCIATION_PREFIX)] if hubspot else []
    sweep_every = (None if settings.association_sweep_minutes is None
                   else dt.timedelta(minutes=settings.association_sweep_minutes))
    return ReadPlan(
        system=system, obj=obj, started=now, since=since, overlap=dt.timedelta(seconds=settings.overlap_seconds),
        metadata=with_metadata and (whole or metadata.is_due(con, system, obj, now)),
        deletes=hubspot and (whole or cursors.is_due(
            con, system, obj, cursors.ARCHIVED, dt.timedelta(minutes=settings.hubspot_deletes_minutes), now)),
        association_columns=columns,
        association_sweep=bool(columns) and since is not None and cursors.is_due(
            con, system, obj, cursors.ASSOCIATIONS, sweep_every, now),
        association_new_only=settings.association_reads == "new", fields=tuple(fields), fields_added=added,
        expected=0 if since is None else written_since(con, system, obj, since - dt.timedelta(
            seconds=settings.overlap_seconds)))


def written_since(con: duckdb.DuckDBPyConnection, system: str, obj: str, since: dt.datetime) -> int:
    """Records of one object the sync created or updated (successfully) from `since` on."""
    return int(con.execute("""SELECT count(DISTINCT target_id) FROM sync.audit WHERE success AND target = ?
        AND object = ? AND action IN ('create', 'update') AND sent_at >= ?""", [system, obj, since]).fetchone()[0])


def finish_reads(con: duckdb.DuckDBPyConnection, plan: ReadPlan, run_id: str) -> None:
    """Advance the cursors of the reads that completed (a failed read raised before this)."""
    cursors.advance(con, plan.system, plan.obj, run_id, plan.started, fields=list(plan.fields))
    if plan.deletes:
        cursors.advance(con, plan.system, plan.obj, run_id, plan.started, cursors.ARCHIVED)
    if plan.association_columns and (plan.full or plan.association_sweep):
        cursors.advance(con, plan.system, plan.obj, run_id, plan.started, cursors.ASSOCIATIONS)
