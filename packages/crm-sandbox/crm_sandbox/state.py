"""On-disk state shared by both sandbox servers: one SQLite file each, settings, and API usage counts."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any


def open_db(path: Path) -> sqlite3.Connection:
    """Open (or create) a sandbox SQLite file tuned for one writer and bulk loads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # One event-loop thread owns the connection; isolation_level=None so transactions are explicit.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")  # the direct loader may write from another process
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache: bounded memory whatever the row count
    conn.executescript(
        """
        CREATE TABLE IF NOT EXISTS _settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS _usage (
            day TEXT NOT NULL, endpoint TEXT NOT NULL, calls INTEGER NOT NULL,
            PRIMARY KEY (day, endpoint)) WITHOUT ROWID;
        """
    )
    return conn


class Settings:
    """Typed key/value settings persisted in the sandbox file (allocation, latency, fault profile, secrets)."""

    def __init__(self, conn: sqlite3.Connection, defaults: dict[str, Any]):
        self._conn = conn
        self._cache: dict[str, Any] = dict(defaults)
        for key, value in conn.execute("SELECT key, value FROM _settings"):
            self._cache[key] = json.loads(value)

    def __getitem__(self, key: str) -> Any:
        return self._cache[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._cache.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._cache[key] = value
        self._conn.execute("INSERT INTO _settings VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                           (key, json.dumps(value)))

    def setdefault(self, key: str, factory) -> Any:
        if key not in self._cache:
            self.set(key, factory())
        return self._cache[key]


def utc_day(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d")


class Usage:
    """API calls counted per UTC day and endpoint; the daily total is what allocations are checked against."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def count(self, endpoint: str) -> None:
        """Record one call."""
        self.add(endpoint, 1)

    def add(self, endpoint: str, calls: int) -> None:
        self._conn.execute(
            "INSERT INTO _usage VALUES (?, ?, ?) "
            "ON CONFLICT (day, endpoint) DO UPDATE SET calls = calls + excluded.calls",
            (utc_day(), endpoint, calls))

    def today(self) -> int:
        """Today's calls that count against the allocation (logins do not)."""
        row = self._conn.execute("SELECT COALESCE(SUM(calls), 0) FROM _usage "
                                 "WHERE day = ? AND endpoint NOT LIKE 'auth:%'",
                                 (utc_day(),)).fetchone()
        return int(row[0])

    def by_endpoint(self, day: str | None = None) -> dict[str, int]:
        if day is None:
            rows = self._conn.execute("SELECT endpoint, SUM(calls) FROM _usage GROUP BY endpoint ORDER BY endpoint")
        else:
            rows = self._conn.execute("SELECT endpoint, calls FROM _usage WHERE day = ? ORDER BY endpoint", (day,))
        return {endpoint: int(calls) for endpoint, calls in rows}

    def reset(self) -> None:
        self._conn.execute("DELETE FROM _usage")
