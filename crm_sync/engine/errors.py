"""Open errors grouped by cause, and a group re-queued on demand (`crm-sync errors`, `crm-sync retry`).

Every value the sync did not write has a sync.errors row (kind `write`: the CRM refused it; `validation`: held
back before sending; `skipped`: decided but not writable, e.g. no counterpart). A cause is (kind, system,
object, code, field): the way HubSpot's Sync Health cards group them, with counts and sample records.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from crm_sync.engine.db import transaction

# What fixes each kind, for the report: validation and skips are decided again by every plan by themselves.
NEXT_STEP = {
    "write": "retried on the backoff schedule (2^attempts minutes, up to sync.max_attempts), at once when the "
             "source value changes, or now with `crm-sync retry`",
    "validation": "checked again by every plan: fixing the value, the mapping or the target's metadata sends it",
    "skipped": "decided again by every plan: it is written once its cause is gone (an owner added, a record linked)",
}


def _where(code: str | None, field: str | None, system: str | None, kind: str | None) -> tuple[str, list]:
    clauses, params = ["resolved_at IS NULL"], []
    for column, value in (("code", code), ("system", system), ("kind", kind)):
        if value is not None:
            clauses.append(f"lower({column}) = lower(?)")
            params.append(value)
    if field is not None:  # fields holds one name, or several joined by commas
        clauses.append("list_contains(string_split(lower(COALESCE(fields, '')), ','), lower(?))")
        params.append(field)
    return " AND ".join(clauses), params


def groups(con: duckdb.DuckDBPyConnection, code: str | None = None, field: str | None = None,
           system: str | None = None, samples: int = 3) -> pd.DataFrame:
    """Open errors by cause, the largest first: kind, system, object, code, field, count, records (a sample of
    record ids), message (one of the group's), first_seen, last_seen."""
    where, params = _where(code, field, system, None)
    return con.execute(f"""SELECT kind, system, object, COALESCE(code, '(none)') AS code,
            COALESCE(fields, '') AS field, count(*) AS errors,
            list(record_id ORDER BY last_seen DESC)[1:{int(samples)}] AS records,
            arg_max(message, last_seen) AS message, min(first_seen) AS first_seen, max(last_seen) AS last_seen
        FROM sync.errors WHERE {where}
        GROUP BY ALL ORDER BY errors DESC, kind, system, object, code, field""", params).df()


@dataclass
class Retried:
    requeued: int  # write ops set due now
    left: dict  # kind -> open errors of the selection that re-queuing does not apply to


def retry(con: duckdb.DuckDBPyConnection, code: str | None = None, field: str | None = None,
          system: str | None = None) -> Retried:
    """Re-queue now the refused writes of the open errors selected (all of them without a filter): their ops
    become due at once with a fresh attempt count, and the next run sends them."""
    where, params = _where(code, field, system, "write")
    with transaction(con):
        requeued = con.execute(f"""UPDATE sync.outbox SET status = 'pending', attempts = 0, updated_at = now()
            WHERE status = 'failed' AND op_id IN (SELECT op_id FROM sync.errors WHERE {where})""",
                               params).fetchone()[0]
    where_all, params_all = _where(code, field, system, None)
    left = dict(con.execute(f"""SELECT kind, count(*) FROM sync.errors WHERE {where_all} AND kind <> 'write'
        GROUP BY kind""", params_all).fetchall())
    return Retried(requeued=requeued, left=left)
