"""The portal's state in SQLite: one table per object type (a TEXT column per property), ids, metadata, history."""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import uuid
from collections.abc import Iterable
from pathlib import Path

from crm_sandbox.hubspot.catalog import (
    STANDARD_ASSOCIATIONS,
    STANDARD_TYPES,
    AssociationType,
    ObjectType,
    custom_type,
)
from crm_sandbox.hubspot.errors import HsError, not_found, unknown_object_type
from crm_sandbox.hubspot.properties import STANDARD_PROPERTIES, Prop, custom_object_system
from crm_sandbox.hubspot.values import db_id, now_iso
from crm_sandbox.state import Settings, Usage, open_db

DB_FILE = "hubspot.sqlite3"
DEFAULTS = {
    "allocation": 625_000,  # daily requests of a Professional portal's private app
    "ten_second": 190,
    "search_per_second": 5,
    "latency_ms": 0,
    "latency_jitter_ms": 0,
    "merge_creates_new_id": True,  # contacts/companies merges since 2024 (B9)
    "lifecycle_forward_only": False,
    "batch_errors": "per_record",  # or "whole": the first invalid input fails the batch with 400/409
    "search_max_groups": 5,
    "search_max_filters_per_group": 6,
    "search_max_filters": 18,
}
FIRST_ID = 100_001
LIVE, ARCHIVED, MERGED = 0, 1, 2
INTERNAL = ("id", "_state", "_archived_at", "_merged_into")

_DDL = """
CREATE TABLE IF NOT EXISTS _counters (name TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS _schemas (type_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _properties (type_id TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (type_id, name));
CREATE TABLE IF NOT EXISTS _assoc_types (type_id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _assoc_limits (type_id INTEGER PRIMARY KEY, max_to_ids INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS _associations (from_type TEXT NOT NULL, from_id INTEGER NOT NULL, to_type TEXT NOT NULL,
    to_id INTEGER NOT NULL, type_id INTEGER NOT NULL,
    PRIMARY KEY (from_type, from_id, to_type, to_id, type_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS _associations_to ON _associations (to_type, to_id);
CREATE TABLE IF NOT EXISTS _history (type_id TEXT NOT NULL, object_id INTEGER NOT NULL, name TEXT NOT NULL,
    value TEXT, timestamp TEXT NOT NULL, source_type TEXT NOT NULL, source_id TEXT);
CREATE INDEX IF NOT EXISTS _history_object ON _history (type_id, object_id, name);
CREATE TABLE IF NOT EXISTS _owners (id INTEGER PRIMARY KEY, email TEXT NOT NULL, first_name TEXT, last_name TEXT,
    user_id INTEGER NOT NULL, archived INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _lists (id INTEGER PRIMARY KEY, name TEXT NOT NULL, object_type_id TEXT NOT NULL,
    processing_type TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT,
    version INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS _list_members (list_id INTEGER NOT NULL, record_id INTEGER NOT NULL,
    added_at TEXT NOT NULL, PRIMARY KEY (list_id, record_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS _list_members_record ON _list_members (record_id);
"""


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class HubSpotStore:
    """Records, metadata and counters of one sandbox portal. Owned by the server's event-loop thread."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.conn = open_db(self.directory / DB_FILE)
        self.settings = Settings(self.conn, DEFAULTS)
        self.usage = Usage(self.conn)
        self.conn.executescript(_DDL)
        self.settings.setdefault("access_token", lambda: f"pat-na1-{uuid.uuid4()}")
        self.settings.setdefault("portal_id", lambda: 40_000_000 + secrets.randbelow(9_000_000))
        self.types: dict[str, ObjectType] = {}
        self.props: dict[str, dict[str, Prop]] = {}
        self.columns: dict[str, list[str]] = {}
        self.assoc_types: dict[int, AssociationType] = {}
        self.reload_hooks: list = []  # called after each reload (pipelines re-apply their stage options)
        self.reload()
        if self.conn.execute("SELECT COUNT(*) FROM _owners").fetchone()[0] == 0:
            self.insert_owners([{"email": "admin@sandbox.crm-sync.local", "firstName": "Sandbox",
                                 "lastName": "Admin"}])

    # ---- metadata -----------------------------------------------------------------------------------------
    def reload(self) -> None:
        """(Re)build the type, property and association registries from code and the metadata tables."""
        portal = int(self.settings["portal_id"])
        types = list(STANDARD_TYPES)
        for (body,) in self.conn.execute("SELECT body FROM _schemas ORDER BY type_id"):
            data = json.loads(body)
            types.append(custom_type(data["objectTypeId"], data["name"], portal, data["labels"],
                                     data.get("primaryDisplayProperty"), data.get("searchableProperties") or [],
                                     data.get("requiredProperties") or []))
        self.types = {t.name: t for t in types}
        custom: dict[str, list[Prop]] = {}
        for type_id, body in self.conn.execute("SELECT type_id, body FROM _properties ORDER BY rowid"):
            custom.setdefault(type_id, []).append(Prop.from_json(json.loads(body)))
        for otype in types:
            base = custom_object_system() if otype.custom else STANDARD_PROPERTIES[otype.name]
            self.props[otype.name] = {p.name: p for p in [*base, *custom.get(otype.type_id, [])]}
            self.ensure_table(otype)
        self.assoc_types = {a.type_id: a for a in STANDARD_ASSOCIATIONS}
        for (body,) in self.conn.execute("SELECT body FROM _assoc_types"):
            data = json.loads(body)
            self.assoc_types[data["type_id"]] = AssociationType(**data)
        for hook in self.reload_hooks:
            hook()

    def ensure_table(self, otype: ObjectType) -> None:
        props = [p for p in self.props[otype.name].values() if p.name != "hs_object_id"]
        table = q(otype.table)
        cols = ", ".join(f"{q(p.name)} TEXT" for p in props)
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, "
                          f"_state INTEGER NOT NULL DEFAULT 0, _archived_at TEXT, _merged_into INTEGER, {cols})")
        existing = {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}
        for p in props:
            if p.name not in existing:
                try:
                    self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {q(p.name)} TEXT")
                except sqlite3.OperationalError as exc:  # the loader process may have added it first
                    if "duplicate column" not in str(exc):
                        raise
        self.columns[otype.name] = [p.name for p in props]
        # Cursor reads (modified/created with the live flag first) stay index-only, counts included.
        indexes = {"mod": f"_state, {q(otype.modified_prop)}", "created": f"_state, {q(otype.created_prop)}",
                   "merged": "_merged_into"}
        if otype.name == "contacts":
            indexes["email"] = '"email" COLLATE NOCASE'
        if otype.name == "companies":
            indexes["domain"] = '"domain" COLLATE NOCASE'
        for p in props:
            if p.unique:
                indexes[f"u_{p.name}"] = q(p.name)
        for suffix, expr in indexes.items():
            self.conn.execute(f"CREATE INDEX IF NOT EXISTS {q(otype.table + '__' + suffix)} ON {table} ({expr})")

    def find_type(self, token: str) -> ObjectType | None:
        token = token.lower()
        for otype in self.types.values():
            names = {otype.name, otype.type_id, otype.singular, (otype.fully_qualified_name or "").lower()}
            if token and token in names:
                return otype
        return None

    def object_type(self, token: str) -> ObjectType:
        otype = self.find_type(token)
        if otype is None:
            raise unknown_object_type(token)
        return otype

    def type_by_id(self, type_id: str) -> ObjectType:
        return next(t for t in self.types.values() if t.type_id == type_id)

    def allocate(self, name: str, count: int, first: int = FIRST_ID) -> list[int]:
        # One statement, so the server and a direct loader in another process never hand out the same id.
        end = self.conn.execute(
            "INSERT INTO _counters VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET next = next + ? RETURNING next",
            (name, first + count, count)).fetchone()[0]
        return list(range(end - count, end))

    # ---- reads ------------------------------------------------------------------------------------------
    def select(self, otype: ObjectType, tail: str, params: Iterable = (), cols: Iterable[str] | None = None,
               in_id_order: bool = False) -> list[dict]:
        """Rows (internal columns plus cols, default all) of `SELECT ... FROM table <tail>`. in_id_order: walk
        the table by id, using no index (a page ordered by id of a query that matches many rows)."""
        wanted = list(cols) if cols is not None else self.columns[otype.name]
        names = [*INTERNAL, *[c for c in wanted if c in self.props[otype.name] and c != "hs_object_id"]]
        source = f"{q(otype.table)} NOT INDEXED" if in_id_order else q(otype.table)
        sql = f"SELECT {', '.join(q(n) for n in names)} FROM {source} {tail}"
        return [dict(zip(names, row, strict=True)) for row in self.conn.execute(sql, list(params))]

    def row(self, otype: ObjectType, object_id: int | str) -> dict | None:
        key = db_id(object_id)
        if key is None:
            return None
        rows = self.select(otype, "WHERE id = ?", [key])
        return rows[0] if rows else None

    def resolve(self, otype: ObjectType, object_id: int | str, archived: bool = False) -> dict:
        """The live record for an id, following merges to the survivor; archived ones only when asked."""
        found = self.row(otype, object_id)
        hops = 0
        while found is not None and found["_state"] == MERGED and hops < 20:
            found = self.row(otype, found["_merged_into"])
            hops += 1
        if found is None or (found["_state"] == ARCHIVED) != archived or found["_state"] == MERGED:
            raise not_found()
        return found

    def find_by(self, otype: ObjectType, prop: str, value: str) -> dict | None:
        if prop == "hs_object_id":
            try:
                return self.resolve(otype, value)
            except HsError:
                return None
        collate = " COLLATE NOCASE" if prop in ("email", "domain") else ""
        rows = self.select(otype, f"WHERE {q(prop)} = ?{collate} AND _state = {LIVE} ORDER BY id LIMIT 1", [value])
        return rows[0] if rows else None

    def history(self, otype: ObjectType, ids: list[int], names: list[str]) -> dict[int, dict[str, list[dict]]]:
        out: dict[int, dict[str, list[dict]]] = {}
        if not ids or not names:
            return out
        sql = (f"SELECT object_id, name, value, timestamp, source_type, source_id FROM _history WHERE type_id = ? "
               f"AND object_id IN ({', '.join('?' * len(ids))}) AND name IN ({', '.join('?' * len(names))}) "
               "ORDER BY rowid DESC")
        for object_id, name, value, stamp, source_type, source_id in self.conn.execute(
                sql, [otype.type_id, *ids, *names]):
            entry = {"value": value or "", "timestamp": stamp, "sourceType": source_type}
            if source_id:
                entry["sourceId"] = source_id
            out.setdefault(object_id, {}).setdefault(name, []).append(entry)
        return out

    # ---- writes -----------------------------------------------------------------------------------------
    def insert(self, otype: ObjectType, rows: list[dict], stamp: str | None = None,
               source: tuple[str, str | None] | None = None) -> list[int]:
        """Insert prepared rows (property -> stored string); stamps ids and create/modify dates."""
        if not rows:
            return []
        stamp = stamp or now_iso()
        ids = self.allocate(f"object:{otype.type_id}", len(rows))
        cols = self.columns[otype.name]
        params = []
        for object_id, row in zip(ids, rows, strict=True):
            row[otype.created_prop] = row.get(otype.created_prop) or stamp
            row[otype.modified_prop] = row.get(otype.modified_prop) or stamp
            params.append([object_id, *[row.get(c) for c in cols]])
        placeholders = ", ".join("?" for _ in range(len(cols) + 1))
        self.conn.executemany(f"INSERT INTO {q(otype.table)} (id, {', '.join(q(c) for c in cols)}) "
                              f"VALUES ({placeholders})", params)
        if source:
            written = [(i, {k: x for k, x in r.items() if x is not None}) for i, r in zip(ids, rows, strict=True)]
            self._log(otype, written, stamp, source)
        return ids

    def update(self, otype: ObjectType, object_id: int, changes: dict, stamp: str | None = None,
               source: tuple[str, str | None] | None = None) -> None:
        stamp = stamp or now_iso()
        changes = {**changes, otype.modified_prop: stamp}
        sets = ", ".join(f"{q(k)} = ?" for k in changes)
        self.conn.execute(f"UPDATE {q(otype.table)} SET {sets} WHERE id = ?", [*changes.values(), object_id])
        if source:
            self._log(otype, [(object_id, changes)], stamp, source)

    def _log(self, otype: ObjectType, rows: list[tuple[int, dict]], stamp: str, source: tuple[str, str | None]) -> None:
        skip = {otype.created_prop, otype.modified_prop}
        entries = [(otype.type_id, object_id, name, value, stamp, source[0], source[1])
                   for object_id, row in rows for name, value in row.items() if name not in skip]
        self.conn.executemany("INSERT INTO _history VALUES (?, ?, ?, ?, ?, ?, ?)", entries)

    def set_state(self, otype: ObjectType, ids: list[int], state: int, merged_into: int | None = None) -> None:
        stamp = now_iso()
        self.conn.executemany(
            f"UPDATE {q(otype.table)} SET _state = ?, _archived_at = ?, _merged_into = ? WHERE id = ?",
            [(state, stamp if state == ARCHIVED else None, merged_into, i) for i in ids])

    @contextlib.contextmanager
    def transaction(self):
        """One atomic unit; nested use becomes a savepoint so a failed batch input rolls back alone."""
        if self.conn.in_transaction:
            self.conn.execute("SAVEPOINT unit")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK TO unit")
                self.conn.execute("RELEASE unit")
                raise
            self.conn.execute("RELEASE unit")
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ---- owners -----------------------------------------------------------------------------------------
    def insert_owners(self, owners: list[dict]) -> list[str]:
        ids = self.allocate("owner", len(owners), first=70_000_001)
        stamp = now_iso()
        self.conn.executemany(
            "INSERT INTO _owners (id, email, first_name, last_name, user_id, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(i, o["email"], o.get("firstName"), o.get("lastName"), i - 70_000_000 + 9_000_000, stamp, stamp)
             for i, o in zip(ids, owners, strict=True)])
        return [str(i) for i in ids]

    def owner_ids(self) -> set[str]:
        return {str(r[0]) for r in self.conn.execute("SELECT id FROM _owners WHERE archived = 0")}

    def close(self) -> None:
        self.conn.close()
