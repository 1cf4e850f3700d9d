"""The convergence runner: users edit both sandbox CRMs, faults are on in both, the sync process is killed with
SIGKILL at random points of its steps; then faults go off and cycles run until quiet, and an oracle built from
the churn log and both CRMs (read through the real clients) says whether the sync kept its promise.

The oracle's counts (all should be 0):
  lost_updates         a user's last edit of a mapped field that neither side holds at the end (or that only
                       its own side holds, with no error row naming the field)
  duplicates           live records the sync created next to one with the same natural key, or two live records
                       carrying the same cross-id
  dead_links           links whose HubSpot or Salesforce record is gone
  held_unexplained     linked records whose mapped values disagree at the end with no open error row naming
                       the field (held_explained counts those with one)
  creates_missing      live records with no counterpart and nothing saying why (ambiguous key, tombstone,
                       duplicate report, error row, creates switched off)
  deletes_against_rule deletes the sync sent for a pair whose rule is `deletes: unlink`
  quiet_cycle_writes   writes attempted by the cycle after the sync reported quiet (quiet: a cycle that wrote
                       nothing and left nothing in the outbox to send, due or on a backoff)
  writes_without_answer  rows of sync.audit without the CRM's answer

Used by bench/bench_convergence.py (several seeds, minutes each) and, in a short profile, by the test suite.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from crm_sync.config import load_config
from crm_sync.engine import db, figures
from crm_sync.engine.db import Binds
from crm_sync.engine.plan import REQUIRED_DEFAULTS
from crm_sync_tests.custom_objects import PAIRS as CUSTOM_PAIRS
from crm_sync_tests.custom_objects import association_type, define_objects
from crm_sync_tests.sync_harness import EXTRA_PAIRS, ROOT, SyncEnv, sync_env

# Faults while users edit: every kind the issue names, at rates that make each cycle meet several.
FAULTS = {
    "salesforce": {"error_500": 0.02, "error_503": 0.02, "drop": 0.02, "lock_row": 0.05, "expire_session": 0.02,
                   "slow": 0.01},
    "hubspot": {"error_502": 0.02, "error_504": 0.01, "drop": 0.02, "rate_limit": 0.05, "slow": 0.01},
}
SLOW_SECONDS = 3.0
TIMEOUT_SECONDS = 1.5  # the connectors' request timeout in these runs: a slow answer is a timeout
COMPARABLE = ("string", "email", "number", "date")  # types whose values compare without the engine's translation
STEP_START = re.compile(r'Started execution of step "([^"]+)"')


@dataclass
class Profile:
    size: int = 150  # people per side at the seed
    churn_seconds: float = 30.0
    churn_rate: float = 4.0
    kills: int = 2  # cycles killed with SIGKILL while users edit
    max_quiet_cycles: int = 8
    merges: str = "link"  # the merges: setting of every pair that merges (people, companies)
    extra_pairs: tuple[str, ...] = ("tickets", "tasks", "calls", "emails", "meetings", "notes", "products",
                                    "line_items")  # besides the shipped pairs
    lists: int = 1  # HubSpot lists <-> Campaigns (lists: with from_salesforce), their members edited on both sides
    custom_objects: int = 3  # projects per side at the start, each with a milestone (custom_objects.PAIRS); 0: none


@dataclass
class Report:
    seed: int
    lost_updates: int = 0
    duplicates: int = 0
    dead_links: int = 0
    held_unexplained: int = 0
    held_explained: int = 0
    creates_missing: int = 0
    deletes_against_rule: int = 0
    quiet_cycle_writes: int = 0
    writes_without_answer: int = 0
    list_members_apart: int = 0  # linked people in a list and not its campaign's members, or the other way
    edits: int = 0
    edits_checked: int = 0
    cycles: int = 0
    kills: list[str] = field(default_factory=list)
    faults_fired: dict = field(default_factory=dict)
    quiet_after: int | None = None
    seconds: float = 0.0
    examples: dict = field(default_factory=dict)

    FAILURES = ("lost_updates", "duplicates", "dead_links", "held_unexplained", "creates_missing",
                "deletes_against_rule", "quiet_cycle_writes", "writes_without_answer", "list_members_apart")

    @property
    def ok(self) -> bool:
        return all(getattr(self, k) == 0 for k in self.FAILURES) and self.quiet_after is not None

    def as_dict(self) -> dict:
        return asdict(self)


# ---- running cycles -------------------------------------------------------------------------------------------
def cycle_process(config: Path, kill_at_step: int | None, rng: random.Random) -> tuple[int, str | None, int]:
    """One `crm-sync run` in its own process; with kill_at_step, SIGKILL shortly after that step starts.
    Returns (exit code, the step it was killed in, steps started)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "crm_sync.cli", "run", "--config", str(config), "--verbose"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    killed, started = None, 0
    assert proc.stdout is not None
    for line in proc.stdout:
        found = STEP_START.search(line)
        if found:
            started += 1
            if started == kill_at_step:
                time.sleep(rng.uniform(0.0, 0.8))  # somewhere inside the step: mid page, mid batch, mid record
                proc.send_signal(signal.SIGKILL)
                killed = found.group(1)
                break
    proc.stdout.close()
    return proc.wait(timeout=600), killed, started


def _audit_count(config: Path) -> int:
    con = db.connect(load_config(config).state_path)
    try:
        return con.execute("SELECT count(*) FROM sync.audit").fetchone()[0]
    finally:
        con.close()


def _backlog(config: Path) -> int:
    """Record writes the outbox still holds to send: due now, or waiting on a backoff that sends them again."""
    loaded = load_config(config)
    con = db.connect(loaded.state_path)
    try:
        left = figures.backlog(con, loaded.sync.max_attempts)
        return int(left["due"].sum() + left["waiting"].sum())
    finally:
        con.close()


def _last_writes(config: Path, n: int) -> list[list]:
    """The last n writes of sync.audit, as examples: pair, target, object, action, answered, the op's attempts and
    its last error."""
    con = db.connect(load_config(config).state_path)
    try:
        return [list(r) for r in con.execute("""SELECT o.pair, a.target, a.object, a.action, a.success, o.attempts,
                left(o.last_error, 160) FROM sync.audit a LEFT JOIN sync.outbox o USING (op_id)
            ORDER BY a.sent_at DESC LIMIT ?""", [n]).fetchall()]
    finally:
        con.close()


def set_faults(env: SyncEnv, on: bool, seed: int) -> None:
    for system, admin in (("salesforce", env.sf_admin), ("hubspot", env.hs_admin)):
        body = {"rules": FAULTS[system], "seed": seed, "slow_seconds": SLOW_SECONDS} if on else {"profile": "none"}
        admin("faults", body)


def faults_fired(env: SyncEnv) -> dict:
    return {s: a("faults", method="GET").get("fired", 0) for s, a in (("salesforce", env.sf_admin),
                                                                        ("hubspot", env.hs_admin))}


def run_profile(root: Path, seed: int, profile: Profile, log=print) -> Report:
    """Seed, sync until quiet, churn with faults and kills, quiet down, judge.

    HubSpot deletes and association changes are read on every cycle here (hubspot_deletes_minutes and
    association_sweep_minutes 0): with the shipped hourly listings the same end state is reached within the hour.
    The connectors give a call up after TIMEOUT_SECONDS, less than a slow fault takes: slow faults are timeouts.
    """
    from crm_sandbox.churn import run_churn

    begun = time.monotonic()
    report = Report(seed)
    rng = random.Random(seed)
    shipped = yaml.safe_load((ROOT / "sync.yaml").read_text())
    settings = shipped.get("sync") or {}
    pairs = {**shipped["pairs"], **{name: EXTRA_PAIRS[name] for name in profile.extra_pairs},
             **(CUSTOM_PAIRS if profile.custom_objects else {})}
    for name in ("people", "companies"):
        pairs[name] = {**pairs[name], "merges": profile.merges}
    every_cycle = {"sync": {**settings, "hubspot_deletes_minutes": 0, "association_sweep_minutes": 0,
                            "request_timeout_seconds": TIMEOUT_SECONDS}, "pairs": pairs}
    with sync_env(root, seed_size=profile.size, seed=seed, extra=every_cycle) as env:
        _make_lists(env, profile.lists, rng)
        if profile.custom_objects:
            _make_custom_records(env, profile.custom_objects, rng)
        env.converge(max_cycles=6)
        churn_log = root / "churn.jsonl"
        set_faults(env, True, seed)
        churn = threading.Thread(target=run_churn, args=(env.info, profile.churn_rate, seed, profile.churn_seconds,
                                                         churn_log), kwargs={"directory": env.sandbox_dir})
        churn.start()
        kills_left, steps = profile.kills, None
        while churn.is_alive() or kills_left > 0:
            # The first cycle counts the job's steps; later ones are killed in a step drawn from all of them.
            kill_at = rng.randint(1, steps) if kills_left > 0 and steps else None
            code, killed, started = cycle_process(env.config_path, kill_at, rng)
            steps = steps or (started if code == 0 else None)
            report.cycles += 1
            if killed:
                kills_left -= 1
                report.kills.append(killed)
            log(f"  seed {seed} cycle {report.cycles}: exit {code}" + (f", killed in {killed}" if killed else ""))
        churn.join()
        report.faults_fired = faults_fired(env)
        set_faults(env, False, seed)
        for n in range(1, profile.max_quiet_cycles + 1):
            before = _audit_count(env.config_path)
            code, _, _ = cycle_process(env.config_path, None, rng)
            report.cycles += 1
            writes = _audit_count(env.config_path) - before
            backlog = _backlog(env.config_path)
            log(f"  seed {seed} quiet-down cycle {n}: exit {code}, {writes} writes, {backlog} left in the outbox")
            # Quiet: nothing written, and nothing waiting to be (a write refused again and again on its backoff
            # would write in a later cycle, once its wait is over: not quiet, only between tries).
            if code == 0 and writes == 0 and backlog == 0:
                report.quiet_after = n
                break
        # The cycle after quiet: a sync that keeps writing (two sides fighting, a write that never sticks) shows.
        before = _audit_count(env.config_path)
        cycle_process(env.config_path, None, rng)
        report.cycles += 1
        report.quiet_cycle_writes = _audit_count(env.config_path) - before
        quiet_writes = _last_writes(env.config_path, min(report.quiet_cycle_writes, 5))
        judge(env, churn_log, report)
        if quiet_writes:
            report.examples["quiet_cycle_writes"] = quiet_writes
    report.seconds = round(time.monotonic() - begun, 1)
    return report


def _make_lists(env: SyncEnv, n: int, rng: random.Random) -> None:
    """n static HubSpot lists of some of the seeded contacts and as many Campaigns (one with members of its own),
    synced both ways (from_salesforce): the churn edits both memberships."""
    if not n:
        return
    hs, sf = env.hs(), env.sf()
    contacts = sorted(c.id for c in hs.crm.contacts.get_all())
    people = [r["Id"] for r in sf.query_all("SELECT Id FROM Contact")["records"]]
    lists = {}
    for i in range(n):
        made = hs.crm.lists.lists_api.create({"name": f"Churn list {i}", "objectTypeId": "0-1",
                                              "processingType": "MANUAL"}).list.list_id
        hs.crm.lists.memberships_api.add(made, rng.sample(contacts, min(15, len(contacts))))
        campaign = sf.Campaign.create({"Name": f"Churn campaign {i}"})["id"]
        for person in rng.sample(people, min(5, len(people))):
            sf.CampaignMember.create({"CampaignId": campaign, "ContactId": person, "Status": "Responded"})
        lists[f"churn{i}"] = {"list": made, "campaign": campaign, "from_salesforce": True}
    env.config_path.write_text(yaml.safe_dump({**yaml.safe_load(env.config_path.read_text()), "lists": lists}))


def _make_custom_records(env: SyncEnv, n: int, rng: random.Random) -> None:
    """The custom objects defined on both sides, and n projects a side, each under a company / Account of its
    side with a milestone under it: the churn edits their fields and adds more."""
    define_objects(env)
    hs, sf = env.hs(), env.sf()
    api = hs.crm.objects.basic_api
    companies = sorted(c.id for c in hs.crm.companies.get_all())
    accounts = [r["Id"] for r in sf.query_all("SELECT Id FROM Account")["records"]]
    on_company, on_project = association_type(hs, "projects", "companies"), association_type(hs, "milestones",
                                                                                              "projects")
    for i in range(n):
        project = api.create("projects", {"properties": {"project_name": f"Project {i}", "stage": "planned",
                                                         "budget": str(rng.randrange(1000, 90000, 500))},
                                          "associations": [{"to": {"id": rng.choice(companies)}, "types": [
                                              {"associationCategory": "USER_DEFINED",
                                               "associationTypeId": on_company}]}]}).id
        api.create("milestones", {"properties": {"milestone_name": f"Kick-off {i}", "due_date": "2027-01-15"},
                                  "associations": [{"to": {"id": project}, "types": [
                                      {"associationCategory": "USER_DEFINED", "associationTypeId": on_project}]}]})
        sf_project = sf.Project__c.create({"Name": f"Programme {i}", "Stage__c": "Active",
                                           "Budget__c": rng.randrange(1000, 90000, 500),
                                           "Account__c": rng.choice(accounts)})["id"]
        sf.Milestone__c.create({"Name": f"Launch {i}", "Due__c": "2027-02-15", "Project__c": sf_project})


def _lists_agree(env: SyncEnv, con, config, report: Report, examples: dict) -> None:
    """Every configured list and its Campaign hold the same linked people (from_salesforce: both ways); a member
    whose person has no counterpart on the other side is left out (it waits with a row of its own)."""
    hs, sf = env.hs(), env.sf()
    for name, cfg in config.lists.items():
        people = dict(con.execute("SELECT hubspot_id, salesforce_id FROM sync.links WHERE pair = ?",
                                  [cfg.people]).fetchall())
        live = {c.id for c in hs.crm.contacts.get_all()}
        in_list, after = set(), None
        while True:
            page = hs.crm.lists.memberships_api.get_page(cfg.list, limit=250, **({"after": after} if after else {}))
            in_list |= {r.record_id for r in page.results}
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                break
        rows = sf.query_all(f"SELECT ContactId, LeadId FROM CampaignMember WHERE CampaignId = '{cfg.campaign}'")
        members = {r["ContactId"] or r["LeadId"] for r in rows["records"]}
        from_list = {people[h] for h in in_list & live if h in people}
        linked = set(people.values())
        apart = sorted((from_list ^ members) & linked)
        report.list_members_apart += len(apart)
        examples["list_members_apart"] += [[name, p, p in from_list, p in members] for p in apart]


# ---- the oracle -----------------------------------------------------------------------------------------------
def _norm(kind: str, value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if text == "":
        return None
    if kind == "email":
        return text.lower()
    if kind == "number":
        try:
            return repr(round(float(text), 2))
        except ValueError:
            return text
    if kind == "date":
        return text[:10]
    return text


# Values a mapping keeps on a child record in Salesforce: (object, mapped field) -> how the oracle reads them,
# {parent id: value}, on its own (not through the engine's SQL).
CHILD_READS = {("Product2", "PricebookEntry.UnitPrice"): ("SELECT Product2Id, UnitPrice FROM PricebookEntry WHERE "
                                                          "Pricebook2.IsStandard = true", "Product2Id", "UnitPrice")}


def _read_salesforce(env: SyncEnv, sobject: str, fields: list[str]) -> dict[str, dict]:
    sf = env.sf()
    where = " WHERE IsConverted = false" if sobject == "Lead" else ""
    names = ", ".join(sorted({"Id", *(f for f in fields if (sobject, f) not in CHILD_READS)}))
    rows = {r["Id"]: r for r in sf.query_all(f"SELECT {names} FROM {sobject}{where}")["records"]}
    for f in fields:
        if (sobject, f) in CHILD_READS:
            soql, parent, value = CHILD_READS[(sobject, f)]
            of = {r[parent]: r[value] for r in sf.query_all(soql)["records"]}
            for rid, r in rows.items():
                r[f] = of.get(rid)
    return rows


def _read_hubspot(env: SyncEnv, object_type: str, properties: list[str]) -> dict[str, dict]:
    api = env.hs().crm.objects.basic_api
    out, after = {}, None
    while True:
        page = api.get_page(object_type, limit=100, after=after, properties=properties, archived=False)
        for r in page.results:
            out[str(r.id)] = {"id": str(r.id), **(r.properties or {})}
        after = page.paging.next.after if page.paging and page.paging.next else None
        if not after:
            return out


def _churn_edits(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [e for e in map(json.loads, path.read_text().splitlines()) if e.get("ok")]


@dataclass
class PairView:
    """One pair as the oracle sees it at the end: both CRMs' live records, the links, the open error rows."""

    name: str
    pair: object  # config.models.PairConfig
    maps: list  # the two-way mappings whose values compare as text
    hs: dict[str, dict]
    sf: dict[str, dict]
    sf_object: dict[str, str]
    links: list[tuple[str, str]]
    error_fields: dict[str, set]

    @property
    def by_hs(self) -> dict[str, str]:
        return dict(self.links)

    @property
    def by_sf(self) -> dict[str, str]:
        return {s: h for h, s in self.links}

    def named(self, h: str, s: str, *fields) -> bool:
        """Whether an open error row of either record names one of these fields."""
        return bool(set(fields) & (self.error_fields[h] | self.error_fields[s]))


def _pairs_records(rows: dict[str, dict], condition, linked: set[str]) -> dict[str, dict]:
    """The records that are the pair's: those its inclusion condition takes (evaluated by the engine's own
    expression SQL, on the records as read through the client), and those it links whatever the condition says.
    Two pairs on one object (tasks and calls on Task) each own a part of it."""
    if condition is None or not rows:
        return rows
    frame = pd.DataFrame({"_id": list(rows), **{f: [r.get(f) for r in rows.values()] for f in condition.fields}})
    b = Binds()
    check = duckdb.connect()
    try:
        check.register("_rows", frame)
        taken = {i for (i,) in b.execute(check, f"SELECT _id FROM _rows r WHERE {condition.sql('r', b)} = 'true'")
                 .fetchall()}
    finally:
        check.close()
    return {i: r for i, r in rows.items() if i in taken or i in linked}


def _view(env: SyncEnv, con, name: str, pair, sf_ext: str, hs_sfid: str) -> PairView:
    # values that compare as text both sides: not those a transform changes on the way (a call's duration is
    # milliseconds in HubSpot, seconds in Salesforce; the transform tests check those)
    maps = [m for m in pair.fields if m.rule == "two_way" and m.type in COMPARABLE
            and m.to_salesforce is None and m.to_hubspot is None]
    links = con.execute("SELECT hubspot_id, salesforce_id FROM sync.links WHERE pair = ?", [name]).fetchall()
    hs_rule = pair.include.condition("hubspot") if pair.include.hubspot else None
    sf_rule = pair.include.condition("salesforce") if pair.include.salesforce else None
    hs = _pairs_records(_read_hubspot(env, pair.hubspot, sorted(
        {m.hubspot for m in maps} | {hs_sfid, "email", "domain", *(hs_rule.fields if hs_rule else ())})),
        hs_rule, {h for h, _ in links})
    sf: dict[str, dict] = {}
    sf_object: dict[str, str] = {}
    for obj in pair.salesforce:
        names = {m.salesforce_field(obj) for m in maps} - {None}
        names |= set(sf_rule.fields) if sf_rule else set()
        rows = _pairs_records(_read_salesforce(env, obj, sorted(names | {sf_ext, *NATURAL_SF.get(obj, ())})),
                              sf_rule, {s for _, s in links})
        sf |= rows
        sf_object |= dict.fromkeys(rows, obj)
    error_fields: dict[str, set] = defaultdict(set)
    for record, fields in con.execute("""SELECT record_id, COALESCE(fields, '') FROM sync.errors
            WHERE pair = ? AND resolved_at IS NULL""", [name]).fetchall():
        error_fields[record] |= set(filter(None, fields.split(",")))
    return PairView(name, pair, maps, hs, sf, sf_object, links, error_fields)


NATURAL_HS = {"contacts": "email", "companies": "domain"}
NATURAL_SF = {"Lead": ("Email",), "Contact": ("Email",), "Account": ("Website",)}


def _natural_key(value) -> str | None:
    text = _norm("email", value)
    return re.sub(r"^(https?://)?(www\.)?", "", text).rstrip("/") if text else None


def _dead_links(v: PairView, report: Report, examples: dict) -> None:
    for h, s in v.links:
        if h not in v.hs or s not in v.sf:
            report.dead_links += 1
            examples["dead_links"].append([v.name, h, s, h in v.hs, s in v.sf])


def _held_values(v: PairView, report: Report, examples: dict) -> None:
    for h, s in v.links:
        if h not in v.hs or s not in v.sf:
            continue
        for m in v.maps:
            sf_field = m.salesforce_field(v.sf_object[s])
            if not sf_field:
                continue
            a, b = _norm(m.type, v.hs[h].get(m.hubspot)), _norm(m.type, v.sf[s].get(sf_field))
            if a is None and b == REQUIRED_DEFAULTS.get(v.sf_object[s], {}).get(sf_field):
                continue  # a required Salesforce field the sync fills with its placeholder
            if a == b:
                continue
            if v.named(h, s, m.hubspot, sf_field):
                report.held_explained += 1
            else:
                report.held_unexplained += 1
                examples["held_unexplained"].append([v.name, h, s, m.name, a, b])


def _duplicates(v: PairView, con, report: Report, examples: dict, sf_ext: str, hs_sfid: str) -> None:
    """Two live records with one cross-id, or a record the sync created next to one with its natural key."""
    for side, rows, key in (("hubspot", v.hs, hs_sfid), ("salesforce", v.sf, sf_ext)):
        seen = defaultdict(list)
        for rid, r in rows.items():
            if r.get(key):
                seen[r[key]].append(rid)
        for xid, ids in seen.items():
            if len(ids) > 1:
                report.duplicates += len(ids) - 1
                examples["duplicates"].append([v.name, side, "same cross-id", xid, ids])
    if v.pair.hubspot not in NATURAL_HS:
        return
    created = con.execute("""SELECT target, target_id FROM sync.audit WHERE action = 'create' AND success
        AND target_id IS NOT NULL AND op_id IN (SELECT op_id FROM sync.outbox WHERE pair = ?)""", [v.name]).fetchall()
    keyed = {"hubspot": {rid: _natural_key(r.get(NATURAL_HS[v.pair.hubspot])) for rid, r in v.hs.items()},
             "salesforce": {rid: _natural_key(next((r.get(f) for f in NATURAL_SF.get(v.sf_object[rid], ())), None))
                            for rid, r in v.sf.items()}}
    for side, keys in keyed.items():
        groups = defaultdict(list)
        for rid, k in keys.items():
            if k:
                groups[k].append(rid)
        made = {t for target, t in created if target == side}
        for k, ids in groups.items():
            twins = [i for i in ids if i in made]
            if twins and len(ids) > 1:
                report.duplicates += len(twins)
                examples["duplicates"].append([v.name, side, "created next to a twin", k, ids])


def _creates_missing(v: PairView, con, report: Report, examples: dict) -> None:
    """Live records with no counterpart and nothing saying why."""
    explained = {r for (r,) in con.execute("""SELECT record_id FROM sync.tombstones WHERE pair = $p UNION
        SELECT record_id FROM sync.duplicates WHERE pair = $p UNION
        SELECT record_id FROM sync.errors WHERE pair = $p AND resolved_at IS NULL UNION
        SELECT split_part(unnest(candidates), ':', -1) FROM sync.link_candidates WHERE pair = $p UNION
        SELECT split_part(record_id, ':', -1) FROM sync.link_candidates WHERE pair = $p""",
                                             {"p": v.name}).fetchall()}
    for side, rows, linked, allowed in (("hubspot", v.hs, v.by_hs, v.pair.create_in_salesforce),
                                        ("salesforce", v.sf, v.by_sf, v.pair.create_in_hubspot)):
        for rid in rows if allowed else ():
            if rid not in linked and rid not in explained:
                report.creates_missing += 1
                examples["creates_missing"].append([v.name, side, rid])


def _lost_updates(v: PairView, edits: list[dict], report: Report, examples: dict) -> None:
    """A user's last edit of a mapped field, on a record still linked, that did not stick on both sides (or is
    held back on the other side without an error row naming the field)."""
    last: dict[tuple[str, str, str], dict] = {}
    latest_on: dict[tuple[str, str], str] = {}
    for e in edits:
        key = (e["system"], str(e.get("id")))
        latest_on[key] = max(latest_on.get(key, ""), e["ts"])
        if e["action"] != "update" or e.get("expect_failure"):
            continue
        if (e["system"] == "hubspot" and e["object"] == v.pair.hubspot) or (
                e["system"] == "salesforce" and e["object"] in v.pair.salesforce):
            for f, value in (e.get("fields") or {}).items():
                last[(e["system"], str(e["id"]), f)] = {"ts": e["ts"], "value": value}
    by_hs, by_sf = v.by_hs, v.by_sf
    for (system, rid, f), edit in last.items():
        h, s = (rid, by_hs.get(rid)) if system == "hubspot" else (by_sf.get(rid), rid)
        if not h or not s or h not in v.hs or s not in v.sf:
            continue  # merged, converted or deleted since, or never linked: the other checks cover it
        sf_field_of = {m.name: m.salesforce_field(v.sf_object[s]) for m in v.maps}
        m = next((m for m in v.maps if (m.hubspot if system == "hubspot" else sf_field_of[m.name]) == f), None)
        other = ("salesforce", s) if system == "hubspot" else ("hubspot", h)
        if m is None or not sf_field_of[m.name] or latest_on.get(other, "") > edit["ts"]:
            continue  # not a compared field, or a later edit on the counterpart may win it: a conflict, not a loss
        report.edits_checked += 1
        want = _norm(m.type, edit["value"])
        have_hs, have_sf = _norm(m.type, v.hs[h].get(m.hubspot)), _norm(m.type, v.sf[s].get(sf_field_of[m.name]))
        own, theirs = (have_hs, have_sf) if system == "hubspot" else (have_sf, have_hs)
        if own != want or (theirs != want and not v.named(h, s, m.hubspot, sf_field_of[m.name])):
            report.lost_updates += 1
            examples["lost_updates"].append([v.name, system, rid, f, want, have_hs, have_sf])


def judge(env: SyncEnv, churn_log: Path, report: Report) -> Report:
    config = load_config(env.config_path)
    sf_ext = config.connections.salesforce.external_id_field
    hs_sfid = config.connections.hubspot.salesforce_id_property
    examples: dict[str, list] = defaultdict(list)
    edits = _churn_edits(churn_log)
    report.edits = len(edits)
    con = db.connect(config.state_path)
    try:
        for name, pair in config.pairs.items():
            pair_ext = pair.external_id_field or sf_ext
            v = _view(env, con, name, pair, pair_ext, hs_sfid)
            _dead_links(v, report, examples)
            _held_values(v, report, examples)
            _duplicates(v, con, report, examples, pair_ext, hs_sfid)
            _creates_missing(v, con, report, examples)
            _lost_updates(v, edits, report, examples)
            report.writes_without_answer += con.execute("""SELECT count(*) FROM sync.audit a JOIN sync.outbox o
                USING (op_id) WHERE o.pair = ? AND a.response IS NULL""", [name]).fetchone()[0]
            if pair.deletes == "unlink":
                report.deletes_against_rule += con.execute("""SELECT count(*) FROM sync.audit a JOIN sync.outbox o
                    USING (op_id) WHERE o.pair = ? AND a.action = 'delete' AND a.success""", [name]).fetchone()[0]
        _lists_agree(env, con, config, report, examples)
    finally:
        con.close()
    report.examples = {k: v[:5] for k, v in examples.items()}
    return report
