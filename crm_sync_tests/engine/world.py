"""A small world for engine tests: a sync.yaml and a DuckDB state file in tmp_path, two fake CRMs held as
dicts, and every engine call behind one class (the engine API is being refactored; adapt only this module).

A test stages records as plain dicts (`stage_hubspot` / `stage_salesforce`; a dict updates the record the fake
CRM holds, so a partial dict is an edit), runs `cycle()` (link + plan + validate for every configured pair, in
load order), reads the planned writes with `ops()`, answers them with `answer_all()` / `answer()` (the loads:
successful writes are applied to the fake CRMs, associations follow their record as ops of their own) and feeds
the written records back with `echo()`. `run()` is a whole run as the job orders it (each pair planned, then
loaded, before the next pair is planned), for what depends on an earlier pair's load in the same run.

Time is explicit: `at(minutes)` is a fixed instant; every staging call gets a strictly newer version stamp
(cursor_at), and modified_at is that stamp unless a row says otherwise.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from crm_sync.config import load_config
from crm_sync.config.defaults import DEFAULT_FIELDS
from crm_sync.connectors.common import WriteResult
from crm_sync.engine import associations, db, metadata, outbox
from crm_sync.engine.link import link_pair
from crm_sync.engine.mapping import extract_fields, pair_specs
from crm_sync.engine.outbox import ops_to_send, record_results
from crm_sync.engine.plan import plan_pair
from crm_sync.engine.staging import stage
from crm_sync.engine.validate import validate_outgoing

ROOT = Path(__file__).resolve().parents[2]
T0 = pd.Timestamp("2024-01-01T00:00:00Z")
SYSTEM_KEYS = ("id", "cursor_at", "modified_at", "deleted")
SF_PREFIX = {"Lead": "00Q", "Contact": "003", "Account": "001", "Opportunity": "006", "OpportunityContactRole": "00K",
             "User": "005"}
LOOKUPS = {("hubspot", "owners"): ["email"], ("salesforce", "User"): ["Email", "IsActive"]}


def at(minutes: float) -> pd.Timestamp:
    """A fixed instant: T0 plus minutes."""
    return T0 + pd.Timedelta(minutes=minutes)


@dataclass(frozen=True)
class Op:
    """One row of sync.outbox: payload is the record write (for an `associate` op, the planned set);
    associations are the ones the record op writes after it, apart."""

    op_id: str
    pair: str
    target: str
    object: str
    action: str
    record_key: str
    target_id: str | None
    payload: dict | str
    status: str
    attempts: int
    last_error: str | None
    associations: dict | None
    parent_op_id: str | None

    @property
    def values(self) -> dict:
        """Everything this op sets on the target record: its fields and its associations (planned sets)."""
        return {**self.payload, **{k: v["v"] for k, v in (self.associations or {}).items()}}


def _text(value):
    """A value as a CRM API would hand it back to an extract: text (numbers without a spurious .0)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class World:
    def __init__(self, tmp_path: Path, pairs: dict | None = None, fields: dict | None = None,
                 only: tuple[str, ...] | None = None):
        """pairs: per-pair settings merged into sync.yaml ({"people": {"deletes": "propagate"}}); fields: per-pair
        changes to the shipped field mappings by mapping name ({"people": {"title": {"rule": "dont_sync"}}});
        only: keep just these pairs (fewer pairs, faster cycles)."""
        self._tmp, self._only = tmp_path, only
        self._configure(pairs, fields)
        self.con = db.connect(self.config.state_path)
        self.crm: dict[str, dict[str, dict[str, dict]]] = {"hubspot": {}, "salesforce": {}}
        self._dirty: set[tuple[str, str, str]] = set()
        self._run = 1
        self._planned = False
        self._stamp = 0
        self._ids = itertools.count(1)

    def reconfigure(self, pairs: dict | None = None, fields: dict | None = None) -> None:
        """Edit sync.yaml between runs (as a user fixing a mapping would), same state and CRMs."""
        self._configure(pairs, fields)

    def _configure(self, pairs: dict | None, fields: dict | None) -> None:
        tmp_path, only = self._tmp, self._only
        raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
        raw["state_path"] = str(tmp_path / "state" / "crm_sync.duckdb")
        for name, override in (pairs or {}).items():
            raw["pairs"].setdefault(name, {}).update(override)  # a pair not shipped: added
        if only:
            raw["pairs"] = {name: raw["pairs"][name] for name in only}
        pair_of = {p["hubspot"]: name for name, p in raw["pairs"].items()}
        for name, changes in (fields or {}).items():
            mappings = []
            for mapping in DEFAULT_FIELDS[raw["pairs"][name]["hubspot"]]:
                m = mapping.model_dump(exclude_none=True)
                if mapping.association_target:
                    if mapping.association_target not in pair_of:
                        continue
                    m["links_to"] = pair_of[mapping.association_target]
                m.update(changes.get(m["name"], {}))
                mappings.append(m)
            known = {m["name"] for m in mappings}  # names not shipped: mappings added
            mappings += [{"name": n, **c} for n, c in changes.items() if n not in known]
            raw["pairs"][name]["fields"] = mappings
        self.config_path = tmp_path / "sync.yaml"
        self.config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
        self.config = load_config(self.config_path)
        self.specs = pair_specs(self.config)

    # -- configuration ---------------------------------------------------------------------------------------
    def _extracted(self, system: str, obj: str) -> list[str]:
        """The fields a real extract reads for this object (absent ones come as None)."""
        names = set(LOOKUPS.get((system, obj), []))
        names |= set(extract_fields(self.specs).get((system, obj), ((), None))[0])
        return sorted(names)

    @property
    def run_id(self) -> str:
        return f"run-{self._run}"

    def _next_run_if_planned(self) -> None:
        if self._planned:
            self._run += 1
            self._planned = False

    # -- extract ---------------------------------------------------------------------------------------------
    def stage_hubspot(self, obj: str, rows: list[dict], associations: bool = True) -> None:
        """associations False: read as search reads, with no association columns (the staged ones stay)."""
        self._stage("hubspot", obj, rows, associations)

    def stage_salesforce(self, obj: str, rows: list[dict]) -> None:
        self._stage("salesforce", obj, rows)

    def _stage(self, system: str, obj: str, rows: list[dict], associations: bool = True) -> None:
        """Edit the fake CRM's records and stage them whole, as an extract would read them."""
        self._stamp += 1
        version = at(self._stamp)
        ids = []
        for row in rows:
            record = self.crm[system].setdefault(obj, {}).setdefault(str(row["id"]), {"deleted": False})
            record.update({k: _text(v) if k not in SYSTEM_KEYS else v for k, v in row.items()})
            record["id"] = str(row["id"])
            record["cursor_at"] = row.get("cursor_at", version)
            record["modified_at"] = row.get("modified_at", version)
            ids.append(record["id"])
        self._stage_records(system, obj, ids, associations)

    def _stage_records(self, system: str, obj: str, ids: list[str], associations: bool = True) -> None:
        self._next_run_if_planned()
        records = [self.crm[system][obj][i] for i in ids]
        columns = sorted(set(self._extracted(system, obj)) | {k for r in records for k in r} - set(SYSTEM_KEYS))
        if not associations:
            columns = [c for c in columns if not c.startswith("associations.")]
        frame = pd.DataFrame({
            "id": [r["id"] for r in records],
            "cursor_at": pd.to_datetime([r["cursor_at"] for r in records], utc=True),
            "modified_at": pd.to_datetime([r["modified_at"] for r in records], utc=True),
            "deleted": [bool(r.get("deleted")) for r in records],
            **{c: pd.Series([r.get(c) for r in records], dtype="object") for c in columns}})
        stage(self.con, system, obj, frame, self.run_id)

    def echo(self) -> None:
        """Stage every record the answered writes changed, as the CRM now holds it (a newer version)."""
        self._stamp += 1
        version = at(self._stamp)
        by_object: dict[tuple[str, str], list[str]] = {}
        for system, obj, record_id in sorted(self._dirty):
            record = self.crm[system][obj][record_id]
            record["cursor_at"] = record["modified_at"] = version
            by_object.setdefault((system, obj), []).append(record_id)
        self._dirty.clear()
        for (system, obj), ids in by_object.items():
            self._stage_records(system, obj, ids)

    def record(self, system: str, obj: str, record_id: str) -> dict:
        """The fake CRM's record (what the other side now holds after our writes)."""
        return self.crm[system][obj][record_id]

    # -- metadata --------------------------------------------------------------------------------------------
    def salesforce_metadata(self, obj: str, overrides: dict | None = None) -> None:
        """obj's fields as describe gives them: every field the pairs read (plain writable text, Email an email),
        changed per field by overrides in sync.metadata's terms (type, length, restricted, options, createable...)."""
        self._metadata("salesforce", obj, self._extracted("salesforce", obj), overrides,
                       lambda name: "email" if name == "Email" else "string", 255)

    def hubspot_metadata(self, obj: str, overrides: dict | None = None) -> None:
        """obj's property definitions: every property the pairs read (text, email an email), changed by overrides."""
        names = [p for p in self._extracted("hubspot", obj) if not p.startswith("associations.")]
        self._metadata("hubspot", obj, names, overrides, lambda name: "email" if name == "email" else "string", 0)

    def _metadata(self, system, obj, names, overrides, kind, length) -> None:
        overrides = overrides or {}
        rows = []
        for name in sorted(set(names) | set(overrides)):
            row = {"field": name, "label": name, "type": kind(name), "length": length, "createable": True,
                   "updateable": True, "restricted": False, "options": []}
            row.update(overrides.get(name, {}))
            rows.append(row)
        metadata.store(self.con, system, obj, rows, self.run_id, pd.Timestamp.now(tz="UTC").to_pydatetime())

    def _has_metadata(self, system: str) -> bool:
        return bool(self.con.execute("SELECT count(*) FROM sync.metadata WHERE system = ?", [system]).fetchone()[0])

    # -- the cycle -------------------------------------------------------------------------------------------
    def cycle(self, reconcile: bool = False) -> dict:
        """Link, plan and validate every pair in load order (one run); returns the engine's figures per pair.
        reconcile: plan as the reconcile job does (every link compared, drift recorded)."""
        self._next_run_if_planned()
        out = {spec.name: self._plan(spec, reconcile) for spec in self.specs}
        self._planned = True
        return out

    def run(self, success: bool = True, ids: dict | None = None, **error) -> dict[str, str]:
        """One whole run as the job orders it: per pair, plan, then load (every write answered alike, as in
        answer_all), so a pair's plan sees the links the earlier pairs' loads made in this run."""
        self._next_run_if_planned()
        made = {}
        for spec in self.specs:
            self._plan(spec)
            for target in ("salesforce", "hubspot"):
                made |= self._load(spec, target, success, ids, error)
        self._planned = True
        return made

    def _plan(self, spec, reconcile: bool = False) -> dict:
        figures = {"link": link_pair(self.con, spec, self.run_id).as_dict(),
                   "plan": plan_pair(self.con, spec, self.run_id, sides_built=True, reconcile=reconcile).as_dict()}
        for target in ("salesforce", "hubspot"):
            # Without metadata for a target there is nothing to check against (and nothing quarantined).
            if self._has_metadata(target):
                figures[f"validate_{target}"] = validate_outgoing(self.con, spec.name, target, self.run_id).as_dict()
        return figures

    # -- the outbox ------------------------------------------------------------------------------------------
    def ops(self, status: str | None = "pending", **where) -> list[Op]:
        """Outbox rows (status None: all), filtered by column values, e.g. ops(pair="people", target="hubspot")."""
        rows = self.con.execute("""SELECT op_id, pair, target, object, action, record_key, target_id,
            CAST(payload AS VARCHAR), status, attempts, last_error, CAST(associations AS VARCHAR), parent_op_id
            FROM sync.outbox ORDER BY pair, target, action, record_key, created_at""").fetchall()
        ops = [Op(*r[:7], json.loads(r[7]), *r[8:11], json.loads(r[11]) if r[11] else None, r[12]) for r in rows]
        where = {**where, **({"status": status} if status else {})}
        return [o for o in ops if all(getattr(o, k) == v for k, v in where.items())]

    def op(self, **where) -> Op:
        """The one op matching (pending unless status= says otherwise)."""
        found = self.ops(**where)
        assert len(found) == 1, found
        return found[0]

    def sendable(self) -> list[Op]:
        """The record writes a load would send now, per pair in load order and target: pending ops, failed ones
        due for a retry."""
        return [op for spec in self.specs for target in ("salesforce", "hubspot") for op in self._due(spec, target)]

    def _due(self, spec, target: str) -> list[Op]:
        by_id = {o.op_id: o for o in self.ops(status=None)}
        return [by_id[i] for i in ops_to_send(self.con, spec, target, self.config.sync.max_attempts)["op_id"]]

    def answer_all(self, success: bool = True, ids: dict | None = None, **error) -> dict[str, str]:
        """The loads of this run, every write answered alike: per pair and target, the record writes due, then
        the associations of the records written. ids: the new id per record_key for creates. error: error_code,
        error_message, error_fields of failures. Returns record_key -> id of the records created."""
        made = {}
        for spec in self.specs:
            for target in ("salesforce", "hubspot"):
                made |= self._load(spec, target, success, ids, error)
        return made

    def _load(self, spec, target: str, success: bool, ids: dict | None, error: dict) -> dict[str, str]:
        made = {}
        for op in self._due(spec, target):
            new_id = self.answer(op, success, target_id=(ids or {}).get(op.record_key), **error)
            if success and op.action == "create":
                made[op.record_key] = new_id
        if made:
            self._stamp_created(spec, target)
        self._load_associations(spec, target, success, error)
        return made

    def _stamp_created(self, spec, target: str) -> None:
        """As the load does after its creates: their cross-ids (and Salesforce creates' echo) go back to the
        source records at once, through validation like every write."""
        other = "hubspot" if target == "salesforce" else "salesforce"
        stamps = outbox.stamp_created(self.con, spec, target, self.run_id)
        if not stamps:
            return
        if self._has_metadata(other):
            validate_outgoing(self.con, spec.name, other, self.run_id)
        for op in self._due(spec, other):
            if op.op_id in stamps:
                self.answer(op)

    def answer(self, op: Op, success: bool = True, target_id: str | None = None, error_code: str | None = None,
               error_message: str | None = None, error_fields: list[str] | None = None) -> str | None:
        """Record one CRM answer to a record write (a success is applied to the fake CRM first); returns the
        target record id."""
        if success:
            target_id = self._apply(op, target_id)
        elif error_code is None:
            error_code, error_message = "FIELD_CUSTOM_VALIDATION_EXCEPTION", "rejected by the test"
        frame = pd.DataFrame([{"op_id": op.op_id, "success": success, "target_id": target_id if success else None,
                               "error_code": None if success else error_code,
                               "error_message": None if success else error_message,
                               "error_fields": None if success else (error_fields or []), "response": None}])
        record_results(self.con, frame, self.run_id)
        return target_id

    def _load_associations(self, spec, target: str, success: bool, error: dict) -> None:
        """Associations of the records written: their own ops, sent as member changes once the record is."""
        associations.expand(self.con, spec, target, self.run_id)
        changes = associations.changes_to_send(self.con, spec, target, self.config.sync.max_attempts)
        results = []
        for change in changes.to_dict("records"):
            if success:
                self._apply_member_change(target, change)
                results.append(WriteResult.ok(change["op_id"], change["target_id"]))
            else:
                results.append(WriteResult.failed(change["op_id"], error.get("error_code", "INVALID_ASSOCIATION"),
                                                  error.get("error_message", "rejected by the test")))
        associations.record(self.con, changes, results, self.run_id, spec)

    def _new_id(self, system: str, obj: str) -> str:
        n = next(self._ids)
        return f"{SF_PREFIX.get(obj, '0ZZ')}{n:012d}" if system == "salesforce" else str(90000 + n)

    def _apply(self, op: Op, target_id: str | None) -> str:
        """Make the fake CRM hold what a successful record write asked for."""
        system, obj = op.target, op.object
        records = self.crm[system].setdefault(obj, {})
        record_id = op.target_id or target_id or self._new_id(system, obj)
        record = records.setdefault(record_id, {"id": record_id, "deleted": False})
        if op.action == "delete":
            record["deleted"] = True
        elif op.action == "merge":  # the loser goes; HubSpot's survivor lists it, Salesforce's loser names its master
            loser = records.setdefault(op.payload["merge_id"], {"id": op.payload["merge_id"]})
            loser["deleted"] = True
            if system == "salesforce":
                loser["MasterRecordId"] = record_id
            else:
                merged = [*filter(None, str(record.get("hs_merged_object_ids") or "").split(";")), loser["id"]]
                record["hs_merged_object_ids"] = ";".join(merged)
            self._dirty.add((system, obj, loser["id"]))
        else:
            record.update({k: _text(v) for k, v in op.payload.items()})
        self._dirty.add((system, obj, record_id))
        return record_id

    def _apply_member_change(self, target: str, change: dict) -> None:
        """One association member added or removed, as the CRM would hold it afterwards."""
        payload = change["payload"]
        if target == "hubspot":
            record = self.crm["hubspot"][payload["from_type"]][payload["from_id"]]
            column = "associations." + payload["to_type"]
            members = set(filter(None, (record.get(column) or "").split(";")))
            if change["action"] == "dissociate":
                members.discard(payload["to_id"])
            elif payload.get("type_id") is not None:
                members = {payload["to_id"]}  # the labelled (primary) one is what the extract reads
            else:
                members.add(payload["to_id"])
            record[column] = ";".join(sorted(members, key=lambda m: (len(m), m))) or None
            self._dirty.add(("hubspot", payload["from_type"], payload["from_id"]))
        else:
            rows = self.crm["salesforce"].setdefault(change["object"], {})
            if change["action"] == "delete":
                rows[change["target_id"]]["deleted"] = True
                row_id = change["target_id"]
            else:
                row_id = self._new_id("salesforce", change["object"])
                rows[row_id] = {"id": row_id, "deleted": False, **payload}
            self._dirty.add(("salesforce", change["object"], row_id))

    def make_failed_ops_due(self) -> None:
        """As if the retry wait of failed ops had passed (2^attempts minutes)."""
        self.con.execute("UPDATE sync.outbox SET updated_at = now() - INTERVAL 1 DAY WHERE status = 'failed'")

    # -- state -----------------------------------------------------------------------------------------------
    def links(self, pair: str) -> dict[str, tuple[str, str, str]]:
        """hubspot_id -> (salesforce_object, salesforce_id, linked_by)."""
        rows = self.con.execute("SELECT hubspot_id, salesforce_object, salesforce_id, linked_by FROM sync.links "
                                "WHERE pair = ?", [pair]).fetchall()
        return {h: (o, s, how) for h, o, s, how in rows}

    def shadow(self, pair: str, hubspot_id: str) -> dict[str, tuple[str | None, str | None]]:
        """field -> (hubspot value, salesforce value) as last synced."""
        rows = self.con.execute("SELECT field, hubspot_value, salesforce_value FROM sync.shadow WHERE pair = ? "
                                "AND hubspot_id = ?", [pair, hubspot_id]).fetchall()
        return {f: (h, s) for f, h, s in rows}

    def errors(self, open_only: bool = True) -> list[dict]:
        rows = self.con.execute("""SELECT kind, pair, system, object, record_id, op_id, code, message, fields,
            occurrences, resolved_at FROM sync.errors ORDER BY first_seen, error_key""").df()
        out = rows.to_dict("records")
        for e in out:
            e["resolved_at"] = None if pd.isna(e["resolved_at"]) else e["resolved_at"]
        return [e for e in out if not open_only or e["resolved_at"] is None]

    def tombstones(self, pair: str) -> set[tuple[str, str]]:
        return set(self.con.execute("SELECT system, record_id FROM sync.tombstones WHERE pair = ?",
                                    [pair]).fetchall())

    def candidates(self, pair: str) -> list[dict]:
        """sync.link_candidates rows: ambiguous keys and moves that found their target taken."""
        rows = self.con.execute("""SELECT system, record_id, match_key, candidates, reason FROM sync.link_candidates
            WHERE pair = ? ORDER BY reported_at""", [pair]).fetchall()
        return [dict(zip(("system", "record_id", "match_key", "candidates", "reason"), r, strict=True)) for r in rows]
