"""The sync's health in figures, from the state file (DuckDB SQL over whole tables): what `crm-sync report`
draws and the plan assets report as metadata.

- calls_per_day: API calls per UTC day and CRM (sync.api_usage), beside the configured daily budget;
- writes_per_run: record writes per run and CRM, landed and refused (sync.audit);
- open_errors: open errors by cause (engine/errors.groups);
- backlog: the outbox's record writes due now and those waiting (a backoff, or a create not landed yet).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from crm_sync.engine import errors
from crm_sync.engine.outbox import RECORD_WRITES_DUE


def calls_per_day(con: duckdb.DuckDBPyConnection, days: int = 30) -> pd.DataFrame:
    """day (YYYY-MM-DD), system, calls: the last `days` days with calls."""
    return con.execute("""SELECT strftime(day, '%Y-%m-%d') AS day, system, sum(calls)::BIGINT AS calls
        FROM sync.api_usage WHERE day > (SELECT max(day) FROM sync.api_usage) - CAST(? AS INTEGER)
        GROUP BY ALL ORDER BY day, system""",
                       [days]).df()


def writes_per_run(con: duckdb.DuckDBPyConnection, runs: int = 30) -> pd.DataFrame:
    """run_id, started (its first write, UTC to the minute), system, landed, refused: the last `runs` runs that
    wrote."""
    return con.execute("""WITH last AS (SELECT run_id, min(sent_at) AS started FROM sync.audit GROUP BY run_id
            ORDER BY started DESC LIMIT ?)
        SELECT a.run_id, strftime(timezone('UTC', l.started), '%Y-%m-%d %H:%M') AS started, a.target AS system,
            count(*) FILTER (WHERE a.success) AS landed,
            count(*) FILTER (WHERE NOT a.success) AS refused
        FROM sync.audit a JOIN last l USING (run_id) GROUP BY ALL ORDER BY started, system""", [runs]).df()


def open_errors(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """kind, system, object, code, field, errors: open errors by cause, the largest first."""
    return errors.groups(con)[["kind", "system", "object", "code", "field", "errors"]]


def backlog(con: duckdb.DuckDBPyConnection, max_attempts: int) -> pd.DataFrame:
    """pair, target, due, waiting: open record writes in the outbox (due: the next load sends them)."""
    return con.execute(f"""SELECT pair, target,
            count(*) FILTER (WHERE {RECORD_WRITES_DUE}) AS due,
            count(*) FILTER (WHERE NOT ({RECORD_WRITES_DUE})) AS waiting
        FROM sync.outbox WHERE parent_op_id IS NULL AND status IN ('pending', 'failed')
            AND NOT (status = 'failed' AND attempts >= $max_attempts)
            -- an update of associations only is the association load's, not a record write
            AND NOT (action = 'update' AND associations IS NOT NULL AND CAST(payload AS VARCHAR) = '{{}}')
        GROUP BY ALL ORDER BY pair, target""", {"max_attempts": max_attempts}).df()


def headline(con: duckdb.DuckDBPyConnection, max_attempts: int) -> dict[str, int]:
    """The numbers at the top of the page (and in asset metadata): today's calls per CRM, open errors, backlog."""
    calls = dict(con.execute("""SELECT system, sum(calls)::BIGINT FROM sync.api_usage WHERE day = current_date
        GROUP BY system""").fetchall())
    waiting = backlog(con, max_attempts)
    return {"api_calls_today_salesforce": int(calls.get("salesforce", 0)),
            "api_calls_today_hubspot": int(calls.get("hubspot", 0)),
            "open_errors": int(open_errors(con)["errors"].sum()),
            "outbox_due": int(waiting["due"].sum()), "outbox_waiting": int(waiting["waiting"].sum())}
