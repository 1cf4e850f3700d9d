"""Churn workload: edits both sandbox CRMs as sales and marketing users would, and logs every edit as ground truth.

Edits go through the sandboxes' admin interfaces (user edits, not API calls, so they never touch the sync's API
usage). Targets are chosen from ids read once at the start (read-only SQLite) and tracked as edits create, delete,
merge and convert records, so a seed and a starting dataset give the same sequence of edits; only timing varies.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sqlite3
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

from crm_sandbox.churn_actions import ACTIONS, Edit

LOG_FILE = "churn.jsonl"
SANDBOX_FILE = "sandbox.json"


@dataclass
class ChurnStats:
    """What a churn run did: edits attempted, succeeded and failed, per system.action.object."""

    attempted: int = 0
    succeeded: int = 0
    failed: int = 0
    by_kind: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    log_path: str = ""

    def describe(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.by_kind.items()))
        rate = self.attempted / self.seconds if self.seconds else 0.0
        return (f"{self.attempted} edits in {self.seconds:.1f} s ({rate:.1f}/s): {self.succeeded} succeeded, "
                f"{self.failed} failed; log {self.log_path}\n{kinds}")


class Pool:
    """Ids to pick from by position; removal swaps with the last id, so picks stay reproducible and O(1)."""

    def __init__(self, items: list | None = None):
        self.items = list(items or [])
        self._pos: dict | None = None  # built on first removal: most pools of a big org are never shrunk

    def __len__(self) -> int:
        return len(self.items)

    def pick(self, rng: random.Random, other_than: str | None = None) -> str | None:
        if len(self.items) < (2 if other_than else 1):
            return None
        while True:
            chosen = self.items[rng.randrange(len(self.items))]
            if chosen != other_than:
                return chosen

    def _positions(self) -> dict:
        if self._pos is None:
            self._pos = {x: i for i, x in enumerate(self.items)}
        return self._pos

    def has(self, item: str) -> bool:
        return item in self._positions()

    def add(self, item: str) -> None:
        if self._pos is not None:
            self._pos[item] = len(self.items)
        self.items.append(item)

    def remove(self, item: str) -> None:
        i = self._positions().pop(item, None)
        if i is None:
            return
        last = self.items.pop()
        if i < len(self.items):
            self.items[i] = last
            self._pos[last] = i


@dataclass
class Targets:
    pools: dict[str, Pool] = field(default_factory=dict)
    users: list[str] = field(default_factory=list)  # Salesforce usernames edits are made as
    owners: list[str] = field(default_factory=list)  # HubSpot owner ids
    company_links: list[tuple[str, str]] = field(default_factory=list)  # HubSpot contact -> company pairs
    lists: list[str] = field(default_factory=list)  # HubSpot MANUAL contact lists (their members: pools "list:<id>")
    # Custom objects as their admin defined them: {(system, object name): {field: (type, options, reference_to)}};
    # their records are pools of their own name.
    custom: dict[tuple[str, str], dict[str, tuple]] = field(default_factory=dict)
    # Records a delete takes with it (an Opportunity's line items, master-detail): parent id -> child ids.
    details: dict[str, set[str]] = field(default_factory=dict)

    def pool(self, name: str) -> Pool:
        return self.pools.setdefault(name, Pool())


# ---------------------------------------------------------------------------------------------------------
# Starting targets (read-only SQLite: for choosing targets only, never for writing)
# ---------------------------------------------------------------------------------------------------------

def _rows(conn: sqlite3.Connection, sql: str) -> list[tuple]:
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # the table does not exist yet: nothing to pick from
        return []


def _ids(conn: sqlite3.Connection, sql: str) -> list:
    return [row[0] for row in _rows(conn, sql)]


def _read_only(path: Path) -> sqlite3.Connection | None:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True) if path.exists() else None


def load_targets(directory: Path) -> Targets:
    """Ids of live records on both sides, in id order so that choices by position are reproducible."""
    targets = Targets()
    sf = _read_only(directory / "salesforce.sqlite3")
    if sf is not None:
        try:
            admin = sf.execute("SELECT value FROM _settings WHERE key = 'admin_user_id'").fetchone()
            admin_id = json.loads(admin[0]) if admin else ""
            targets.users = [u for u in _ids(sf, 'SELECT "Username" FROM "User" WHERE "IsActive" = 1 AND "Id" != '
                                                 f"'{admin_id}' ORDER BY \"Id\"")]
            targets.pools["Lead"] = Pool(_ids(sf, 'SELECT "Id" FROM "Lead" WHERE "IsDeleted" = 0 AND "IsConverted" = 0 '
                                                 'ORDER BY "Id"'))
            for name in ("Contact", "Account", "Opportunity", "Case", "Campaign", "CampaignMember", "Product2",
                         "OpportunityLineItem"):
                targets.pools[name] = Pool(_ids(sf, f'SELECT "Id" FROM "{name}" WHERE "IsDeleted" = 0 ORDER BY "Id"'))
            for item, opportunity in _rows(sf, 'SELECT "Id", "OpportunityId" FROM "OpportunityLineItem" '
                                               'WHERE "IsDeleted" = 0 ORDER BY "Id"'):
                targets.details.setdefault(opportunity, set()).add(item)
            for body in _ids(sf, "SELECT body FROM _custom_objects ORDER BY prefix"):
                data = json.loads(body)
                targets.custom[("salesforce", data["name"])] = {
                    f["name"]: (f["type"], tuple(f.get("values") or ()), f.get("reference_to"))
                    for f in data.get("fields") or () if not f.get("external_id") and not f.get("unique")}
                targets.pools[data["name"]] = Pool(_ids(sf, f'SELECT "Id" FROM "{data["name"]}" WHERE "IsDeleted" = 0 '
                                                            'ORDER BY "Id"'))
        finally:
            sf.close()
    hs = _read_only(directory / "hubspot.sqlite3")
    if hs is not None:
        try:
            for name, table in (("contacts", "obj_0_1"), ("companies", "obj_0_2"), ("deals", "obj_0_3"),
                                ("tickets", "obj_0_5"), ("products", "obj_0_7"), ("line_items", "obj_0_8")):
                targets.pools[name] = Pool([str(i) for i in _ids(hs, f"SELECT id FROM {table} WHERE _state = 0 "
                                                                    "ORDER BY id")])
            targets.owners = [str(i) for i in _ids(hs, "SELECT id FROM _owners WHERE archived = 0 ORDER BY id")]
            for body in _ids(hs, "SELECT body FROM _schemas ORDER BY type_id"):
                data = json.loads(body)
                type_id, name = data["objectTypeId"], data["name"]
                targets.custom[("hubspot", name)] = {
                    p["name"]: (p["type"], tuple(o["value"] for o in p.get("options") or ()), None)
                    for p in map(json.loads, _ids(hs, f"SELECT body FROM _properties WHERE type_id = '{type_id}' "
                                                      "ORDER BY rowid"))
                    # users type into plain fields, not a unique key (the sync's own salesforce_id property)
                    if not p.get("read_only") and not p.get("unique")}
                targets.pools[name] = Pool([str(i) for i in _ids(
                    hs, f"SELECT id FROM obj_{type_id.replace('-', '_')} WHERE _state = 0 ORDER BY id")])
            # Contact-company links to remove later; a bounded sample is enough to pick from.
            links = hs.execute("SELECT from_id, to_id FROM _associations WHERE from_type = '0-1' AND to_type = '0-2' "
                               "ORDER BY from_id, to_id LIMIT 100000").fetchall() if _ids(
                hs, "SELECT name FROM sqlite_master WHERE name = '_associations'") else []
            targets.company_links = [(str(a), str(b)) for a, b in links]
            targets.lists = [str(i) for i in _ids(hs, "SELECT id FROM _lists WHERE object_type_id = '0-1' AND "
                                                      "processing_type = 'MANUAL' AND deleted_at IS NULL ORDER BY id")]
            for list_id in targets.lists:
                targets.pools[f"list:{list_id}"] = Pool([str(i) for i in _ids(
                    hs, f"SELECT record_id FROM _list_members WHERE list_id = {int(list_id)} ORDER BY record_id")])
        finally:
            hs.close()
    return targets


# ---------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------

def _sessions(sandbox: dict) -> tuple[requests.Session, requests.Session]:
    sf = requests.Session()
    # REQUESTS_CA_BUNDLE would override session.verify unless the environment is ignored.
    sf.trust_env = False
    sf.verify = sandbox["salesforce"]["ca_file"]
    hs = requests.Session()
    hs.trust_env = False
    if sandbox["hubspot"].get("ca_file"):
        hs.verify = sandbox["hubspot"]["ca_file"]
    return sf, hs


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run_churn(sandbox: dict, rate: float, seed: int, duration: float, log_path: Path,
              directory: Path | None = None) -> ChurnStats:
    """Edit both sandboxes at `rate` edits per second for `duration` seconds; append every edit to log_path.

    directory: the sandbox folder (default: the folder of the sandbox CA file, where sandbox.json lives).
    """
    if rate <= 0 or duration < 0:
        raise ValueError(f"rate must be > 0 and duration >= 0, got rate={rate}, duration={duration}")
    directory = Path(directory or Path(sandbox["salesforce"]["ca_file"]).parent)
    rng = random.Random(seed)
    targets = load_targets(directory)
    sf_session, hs_session = _sessions(sandbox)
    edit = Edit(rng, targets, sf_session, hs_session, sandbox["salesforce"]["admin_url"],
                sandbox["hubspot"]["admin_url"], seed)
    names = [name for name, _, _ in ACTIONS]
    weights = [weight for _, weight, _ in ACTIONS]
    actions = {name: action for name, _, action in ACTIONS}
    stats = ChurnStats(log_path=str(log_path))
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with log_path.open("a", encoding="utf-8") as log:
        while True:
            due = start + stats.attempted / rate
            if due - start >= duration:
                break
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            entry = {"seq": stats.attempted, "ts": _stamp(), **edit.perform(actions[rng.choices(names, weights)[0]])}
            stats.attempted += 1
            kind = f"{entry['system']}.{entry['action']}.{entry['object']}"
            stats.by_kind[kind] += 1
            if entry["ok"]:
                stats.succeeded += 1
            else:
                stats.failed += 1
                stats.failures[kind] += 1
            log.write(json.dumps(entry, default=str) + "\n")
            log.flush()
            if time.monotonic() - start >= duration:
                break
    stats.seconds = round(time.monotonic() - start, 3)
    sf_session.close()
    hs_session.close()
    return stats


def _running(info: dict) -> bool:
    try:
        os.kill(int(info["pid"]), 0)
    except (KeyError, ValueError, ProcessLookupError):
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def churn_main(directory: Path, rate: float, seed: int, duration: float) -> int:
    """`crm-sync sandbox churn`: churn the running sandbox in directory, logging to DIR/churn.jsonl."""
    directory = Path(directory)
    settings = directory / SANDBOX_FILE
    try:
        info = json.loads(settings.read_text())
    except FileNotFoundError:
        print(f"sandbox churn: the sandbox in {directory} is not running ({settings} not found); "
              f"start it with `crm-sync sandbox up --dir {directory}`", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"sandbox churn: cannot read {settings}: {exc}", file=sys.stderr)
        return 1
    if not _running(info):
        print(f"sandbox churn: the sandbox in {directory} is not running (process {info.get('pid')} "
              f"named in {settings} is gone)", file=sys.stderr)
        return 1
    stats = run_churn(info, rate, seed, duration, directory / LOG_FILE, directory=directory)
    print(stats.describe())
    return 0
