"""SOQL query execution with Salesforce's paging: snapshot cursors behind query locators."""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from crm_sandbox.salesforce.errors import SfError
from crm_sandbox.salesforce.soql import CompiledQuery, SoqlError, compile_soql
from crm_sandbox.salesforce.store import SCHEMA

DEFAULT_BATCH = 2000
CURSOR_IDLE_SECONDS = 15 * 60
MAX_OPEN_CURSORS = 50


def compile_or_error(soql: str, include_deleted: bool) -> CompiledQuery:
    try:
        return compile_soql(soql, SCHEMA, include_deleted=include_deleted)
    except SoqlError as exc:
        raise SfError(exc.error_code, exc.message) from None


@dataclass
class Cursor:
    """An open read snapshot of one query: later pages see the data as it was at the first page."""

    query: CompiledQuery
    conn: sqlite3.Connection
    rows: sqlite3.Cursor
    total: int
    served: int = 0
    touched: float = field(default_factory=time.monotonic)

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass


class Cursors:
    """Open query locators, each its own SQLite connection in a read transaction (WAL snapshot)."""

    def __init__(self, db_path: Path, prefix: str):
        self.db_path = db_path
        self.prefix = prefix
        self._open: OrderedDict[str, Cursor] = OrderedDict()
        self._ids = itertools.count(1)

    def open(self, query: CompiledQuery) -> Cursor:
        self._expire()
        conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only = 1")
        conn.execute("PRAGMA cache_size = -8192")
        conn.execute("BEGIN")
        total = conn.execute(query.count_sql, query.count_params).fetchone()[0]
        rows = conn.execute(query.select_sql, query.params)
        return Cursor(query, conn, rows, int(total))

    def keep(self, cursor: Cursor) -> str:
        """Register a cursor that has more pages; returns its locator id."""
        locator = f"{self.prefix}{next(self._ids):013d}"
        self._open[locator] = cursor
        while len(self._open) > MAX_OPEN_CURSORS:
            _, oldest = self._open.popitem(last=False)
            oldest.close()
        return locator

    def get(self, locator: str) -> Cursor:
        self._expire()
        cursor = self._open.get(locator)
        if cursor is None:
            raise SfError("INVALID_QUERY_LOCATOR", "invalid query locator")
        cursor.touched = time.monotonic()
        self._open.move_to_end(locator)
        return cursor

    def drop(self, locator: str) -> None:
        cursor = self._open.pop(locator, None)
        if cursor:
            cursor.close()

    def close_all(self) -> None:
        for cursor in self._open.values():
            cursor.close()
        self._open.clear()

    def _expire(self) -> None:
        now = time.monotonic()
        for locator in [k for k, c in self._open.items() if now - c.touched > CURSOR_IDLE_SECONDS]:
            self.drop(locator)
