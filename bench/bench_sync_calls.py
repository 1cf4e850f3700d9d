"""API calls of one sync cycle against the floor: cheap when something changed, one page per object when quiet.

Seeds a sandbox (S people per side, default 2,000) through `sync_env`, runs cycles until one sends no writes, then
measures, from the sandboxes' own usage counters (`GET {admin_url}/usage`, by endpoint):

- a quiet cycle (nothing edited since the last one);
- a cycle after K edits per side (default 500): K HubSpot contacts' jobtitle through the batch update API
  (hubspot-api-client) and K other people's Salesforce Contact Title through sObject collections
  (simple-salesforce). The edits' own calls are counted apart and are not part of the cycle's;
- the echo cycle after it, which reads back what that cycle wrote;
- with --deal-edits K, a cycle after K HubSpot deals' dealname and K other Opportunities' Name edits.

Cycles run back to back (closer than sync.overlap_seconds), which is the costly case for the overlap window;
`--overlap 0` shows cycles spaced as a schedule spaces them.

Calls are split into reads (query, search, list, get, batch read), writes (collections, batch writes) and other
(token, describe, properties, owners), per object where the label names it. Salesforce labels do not name the
object of a query or of an update collection, so those are attributed client side (a wrapper around the
connector's HTTP session reads the SOQL and the records' types); the server's counts stay the measure.

Floor, per the issue: reads = ceil(changed / page) per object and side, at least one page for an object with no
changes (Salesforce query page 2,000; HubSpot search page 200); writes = ceil(writes / batch) per object and side
(Salesforce collections of 200, HubSpot batches of 100). Changed and written counts are the workload's: the edits
made, and the writes they call for on the other side. Prints calls / floor per side and overall (target 1.25x),
with wall time, and where calls above the floor went. No asserts.
Run: `.venv/bin/python bench/bench_sync_calls.py [--deal-edits 500] [--association-reads changed] [--overlap 0]`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import math
import random
import re
import tempfile
import time
from pathlib import Path

import yaml
from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInput, SimplePublicObjectBatchInput

from crm_sync.config import load_config
from crm_sync.connectors import salesforce as sf_connector
from crm_sync.connectors.salesforce import endpoint_label
from crm_sync.engine.mapping import extract_fields, pair_specs
from crm_sync_tests.sync_harness import ROOT, SyncEnv, sync_env
from crm_sync_tests.sync_harness import call_kind as kind

TARGET = 1.25
PAGE = {"salesforce": 2000, "hubspot": 200}
BATCH = {"salesforce": 200, "hubspot": 100}
SOQL_FROM = re.compile(r"\bFROM\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)


# ---- client-side attribution of Salesforce calls to objects ----------------------------------------------------
class SalesforceObjects:
    """Counts the connector's Salesforce calls by (label, object), from the SOQL or the records sent."""

    def __init__(self) -> None:
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self._last_query_object = "?"
        original = sf_connector._MeteredSession.request

        def request(session, method, url, *args, **kwargs):
            self.counts[(endpoint_label(method.upper(), url), self._object(method, url, kwargs))] += 1
            return original(session, method, url, *args, **kwargs)

        sf_connector._MeteredSession.request = request

    def _object(self, method: str, url: str, kwargs: dict) -> str:
        query = (kwargs.get("params") or {}).get("q") if isinstance(kwargs.get("params"), dict) else None
        if query:
            match = SOQL_FROM.search(query)
            self._last_query_object = match.group(1) if match else "?"
            return self._last_query_object
        if "/query/" in url or "/queryAll/" in url:
            return self._last_query_object  # a query locator continues the last query
        body = kwargs.get("json") if isinstance(kwargs.get("json"), dict) else None
        if body is None and isinstance(kwargs.get("data"), str | bytes):
            try:
                body = json.loads(kwargs["data"])
            except ValueError:
                body = None
        if isinstance(body, dict) and isinstance(body.get("records"), list):
            types = {(r.get("attributes") or {}).get("type") for r in body["records"] if isinstance(r, dict)}
            return "+".join(sorted(t for t in types if t)) or "?"
        match = re.search(r"/sobjects/([A-Za-z_][A-Za-z0-9_]*)", url)
        return match.group(1) if match else "-"

    def snapshot(self) -> collections.Counter:
        return collections.Counter(self.counts)


# ---- classification ---------------------------------------------------------------------------------------------
def hs_object(label: str) -> str:
    parts = label.split(" ", 1)[1].strip("/").split("/")
    if len(parts) > 3 and parts[1] in ("v3", "v4") and parts[2] in ("objects", "associations"):
        return parts[3] + (f"->{parts[4]}" if parts[2] == "associations" and len(parts) > 4 else "")
    return "-"


def delta(after: dict, before: dict) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


# ---- floor ------------------------------------------------------------------------------------------------------
def floor(objects: dict[str, list[str]], changed: dict[tuple[str, str], int],
          written: dict[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    """{system: {"read:<object>": calls, "write:<object>": calls}} at the issue's page and batch sizes."""
    out: dict[str, dict[str, int]] = {}
    for system, names in objects.items():
        side = out.setdefault(system, {})
        for obj in names:
            side[f"read:{obj}"] = max(1, math.ceil(changed.get((system, obj), 0) / PAGE[system]))
        for (target, obj), n in written.items():
            if target == system and n:
                side[f"write:{obj}"] = math.ceil(n / BATCH[system])
    return out


class Measure:
    """One cycle's server-side usage deltas, client-side Salesforce attribution and wall time."""

    def __init__(self, name: str, env: SyncEnv, sf_objects: SalesforceObjects):
        self.name, self.env, self.sf_objects = name, env, sf_objects

    def __enter__(self) -> Measure:
        self.before = {s: self.env.usage(s) for s in ("salesforce", "hubspot")}
        self.sf_before = self.sf_objects.snapshot()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start
        self.calls = {s: delta(self.env.usage(s), self.before[s]) for s in ("salesforce", "hubspot")}
        self.sf_by_object = self.sf_objects.snapshot() - self.sf_before


def report(m: Measure, outcome, floors: dict[str, dict[str, int]], rows_read: dict, workload: str) -> dict:
    """Print one cycle's calls against its floor; returns {system: (calls, floor)} for reads + writes."""
    m.writes_by_reason = writes_by_reason(m.env, outcome.run_id)
    print(f"\n=== {m.name}: {workload}")
    print(f"    run {outcome.run_id}: wall {m.seconds:.1f} s (Dagster in process, both loads included); "
          f"writes sent {outcome.summary['writes'] or 'none'}")
    if m.writes_by_reason:
        print("    writes by target, object, reason, outcome: " + "; ".join(
            f"{t} {o} '{r}' {'ok' if ok else 'refused'} {n}" for t, o, r, ok, n in m.writes_by_reason))
    print("    rows read (staged) per object: "
          + ", ".join(f"{s[:2]}:{o} {n:,}" for (s, o), n in sorted(rows_read.items()) if n))
    totals = {}
    for system in ("salesforce", "hubspot"):
        calls = m.calls[system]
        got: collections.Counter[str] = collections.Counter()
        for label, n in calls.items():
            k = kind(system, label)
            if k == "other":
                continue
            if system == "hubspot":
                got[f"{k}:{hs_object(label)}"] += n
        if system == "salesforce":
            for (label, obj), n in m.sf_by_object.items():
                k = kind(system, label)
                if k != "other":
                    got[f"{k}:{obj}"] += n
        server = {k: sum(n for label, n in calls.items() if kind(system, label) == k) for k in ("read", "write")}
        if system == "salesforce" and sum(got.values()) != server["read"] + server["write"]:
            print(f"    (salesforce: client-side attribution counts {sum(got.values())} read+write calls, the "
                  f"server {server['read'] + server['write']}; the server's figure is used for the ratio)")
        fl = floors[system]
        f_total = sum(fl.values())
        c_total = server["read"] + server["write"]
        totals[system] = (c_total, f_total)
        print(f"  {system}: {c_total} calls (reads {server['read']}, writes {server['write']}) vs floor {f_total} "
              f"= {c_total / f_total:.2f}x")
        for key in sorted(set(got) | set(fl)):
            extra = got.get(key, 0) - fl.get(key, 0)
            print(f"      {key:<40} calls {got.get(key, 0):>4}   floor {fl.get(key, 0):>4}"
                  + (f"   +{extra}" if extra > 0 else ""))
        counted = {k: v for k, v in sorted(calls.items()) if kind(system, k) != "other"}
        print(f"      by endpoint: {json.dumps(counted)}")
    calls_all = sum(c for c, _ in totals.values())
    floor_all = sum(f for _, f in totals.values())
    print(f"  OVERALL {m.name}: {calls_all} read+write calls vs floor {floor_all} = {calls_all / floor_all:.2f}x "
          f"({calls_all / floor_all / TARGET:.2f}x of the {TARGET}x target); wall {m.seconds:.1f} s")
    others = {f"{s}: {label}": n for s in ("salesforce", "hubspot") for label, n in sorted(m.calls[s].items())
              if kind(s, label) == "other"}
    print(f"  not reads or writes (outside the floor): {others or 'none'}")
    return totals


def run_cycle(env: SyncEnv):
    """One cycle through Dagster, its (DEBUG-level) event log kept out of the output unless the cycle fails."""
    log = io.StringIO()
    try:
        with contextlib.redirect_stderr(log):
            return env.cycle()
    except BaseException:
        print(log.getvalue()[-20_000:])
        raise


def writes_by_reason(env: SyncEnv, run_id: str) -> list[tuple]:
    with env.state() as con:
        return con.execute("""SELECT a.target, a.object, o.reason, a.success, count(*) FROM sync.audit a
            LEFT JOIN sync.outbox o USING (op_id) WHERE a.run_id = ? GROUP BY ALL ORDER BY ALL""", [run_id]).fetchall()


def rows_read(env: SyncEnv, run_id: str) -> dict[tuple[str, str], int]:
    with env.state() as con:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN "
                             "('raw_hubspot', 'raw_salesforce') AND NOT table_name LIKE '%\\_current' ESCAPE '\\'"
                             ).fetchall()
        return {(schema.removeprefix("raw_"), name): con.execute(
            f'SELECT count(*) FROM {schema}."{name}" WHERE _run_id = ?', [run_id]).fetchone()[0]
            for schema, name in tables}


def written_by_object(env: SyncEnv, run_id: str) -> dict[tuple[str, str], int]:
    with env.state() as con:
        # Every write attempted (a refused one cost its call too).
        rows = con.execute("SELECT target, object, count(*) FROM sync.audit WHERE run_id = ? GROUP BY ALL",
                           [run_id]).fetchall()
    return {(t, o): n for t, o, n in rows}


def make_edits(env: SyncEnv, k: int, seed: int) -> tuple[dict, dict, dict]:
    """K HubSpot contacts' jobtitle and K other people's Salesforce Contact Title; returns (changed, expected writes,
    the edits' own calls by system and endpoint)."""
    rng = random.Random(seed)
    with env.state() as con:
        linked = con.execute("""SELECT l.hubspot_id, l.salesforce_object, l.salesforce_id FROM sync.links l
            JOIN raw_hubspot."contacts_current" h ON h.id = l.hubspot_id AND NOT h.deleted
            WHERE l.pair = 'people' ORDER BY l.hubspot_id""").fetchall()
    contacts = [row for row in linked if row[1] == "Contact"]
    if len(contacts) < k or len(linked) < 2 * k:
        raise SystemExit(f"only {len(linked)} linked people ({len(contacts)} with a Contact): lower --edits or raise "
                         "--seed-size")
    sf_pick = rng.sample(contacts, k)
    taken = {row[0] for row in sf_pick}
    hs_pick = rng.sample([row for row in linked if row[0] not in taken], k)
    stamp = time.strftime("%H%M%S")
    before = {s: env.usage(s) for s in ("salesforce", "hubspot")}
    hs = env.hs()
    for start in range(0, k, 100):
        inputs = [SimplePublicObjectBatchInput(id=h, properties={"jobtitle": f"Bench title {stamp} {start + n}"})
                  for n, (h, _, _) in enumerate(hs_pick[start:start + 100])]
        hs.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=inputs))
    sf = env.sf()
    failed = 0
    for start in range(0, k, 200):
        records = [{"attributes": {"type": "Contact"}, "id": s, "Title": f"Bench SF title {stamp} {start + n}"}
                   for n, (_, _, s) in enumerate(sf_pick[start:start + 200])]
        results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records})
        failed += sum(1 for r in results if not r.get("success"))
    if failed:
        print(f"warning: {failed} Salesforce edits were refused")
    own = {s: delta(env.usage(s), before[s]) for s in ("salesforce", "hubspot")}
    changed = {("hubspot", "contacts"): k, ("salesforce", "Contact"): k}
    writes: collections.Counter[tuple[str, str]] = collections.Counter(("salesforce", obj) for _, obj, _ in hs_pick)
    writes[("hubspot", "contacts")] += k
    return changed, dict(writes), own


def make_deal_edits(env: SyncEnv, k: int, seed: int) -> tuple[dict, dict]:
    """K HubSpot deals' dealname and K other Opportunities' Name (linked ones); returns (changed, expected writes)."""
    rng = random.Random(seed)
    with env.state() as con:
        linked = con.execute("SELECT hubspot_id, salesforce_id FROM sync.links WHERE pair = 'deals' "
                             "ORDER BY hubspot_id").fetchall()
    if len(linked) < 2 * k:
        raise SystemExit(f"only {len(linked)} linked deals: lower --deal-edits or raise --seed-size")
    picked = rng.sample(linked, 2 * k)
    hs_pick, sf_pick = picked[:k], picked[k:]
    stamp = time.strftime("%H%M%S")
    hs = env.hs()
    for start in range(0, k, 100):
        inputs = [{"id": h, "properties": {"dealname": f"Bench deal {stamp} {start + n}"}}
                  for n, (h, _) in enumerate(hs_pick[start:start + 100])]
        hs.crm.deals.batch_api.update({"inputs": inputs})
    sf = env.sf()
    for start in range(0, k, 200):
        records = [{"attributes": {"type": "Opportunity"}, "id": s, "Name": f"Bench SF deal {stamp} {start + n}"}
                   for n, (_, s) in enumerate(sf_pick[start:start + 200])]
        sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records})
    return ({("hubspot", "deals"): k, ("salesforce", "Opportunity"): k},
            {("salesforce", "Opportunity"): k, ("hubspot", "deals"): k})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed-size", type=int, default=2_000, help="people per side in the seeded sandbox")
    parser.add_argument("--edits", type=int, default=500, help="edits per side before the measured cycle")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--max-cycles", type=int, default=8, help="cycles allowed to converge")
    parser.add_argument("--overlap", type=int, default=None,
                        help="override sync.overlap_seconds (default: sync.yaml's) to see what re-reading costs")
    parser.add_argument("--dir", help="work in this (empty) folder and leave it in place")
    parser.add_argument("--association-reads", choices=["new", "changed"],
                        help="override sync.association_reads (whose HubSpot associations an incremental read fetches)")
    parser.add_argument("--deal-edits", type=int, default=0,
                        help="then edit this many deals per side and measure that cycle too (with association_reads "
                             "changed, their associations are read: 2 association types, 100 ids a call)")
    args = parser.parse_args()
    sf_objects = SalesforceObjects()
    with tempfile.TemporaryDirectory(prefix="sync-calls-") as tmp:
        root = Path(args.dir) if args.dir else Path(tmp)
        start = time.perf_counter()
        settings = (yaml.safe_load((ROOT / "sync.yaml").read_text()) or {}).get("sync") or {}
        if args.overlap is not None:
            settings["overlap_seconds"] = args.overlap
        if args.association_reads:
            settings["association_reads"] = args.association_reads
        extra = {"sync": settings}
        with sync_env(root, seed_size=args.seed_size, seed=args.seed, extra=extra) as env:
            print(f"seeded {args.seed_size:,} people per side in {time.perf_counter() - start:.1f} s")
            config = load_config(env.config_path)
            read = extract_fields(pair_specs(config))  # owners are listed whole each cycle, counted apart
            objects = {system: [obj for (s, obj) in read if s == system and obj != "owners"]
                       for system in ("salesforce", "hubspot")}
            print(f"objects read each cycle: {objects}; pairs {[s.name for s in pair_specs(config)]}; "
                  f"overlap {config.sync.overlap_seconds} s; association_reads {config.sync.association_reads}")
            other_by_cycle: list[tuple[str, dict]] = []

            # ---- converge ---------------------------------------------------------------------------------------
            for n in range(1, args.max_cycles + 1):
                with Measure(f"cycle {n}", env, sf_objects) as m:
                    outcome = run_cycle(env)
                total = {s: sum(v.values()) for s, v in m.calls.items()}
                print(f"converge cycle {n}: {m.seconds:5.1f} s, writes attempted {outcome.planned_writes:>5,}, "
                      f"calls {total}")
                other_by_cycle.append((f"converge {n}", m.calls))
                if outcome.planned_writes == 0:
                    break
            else:
                raise SystemExit(f"no quiet cycle after {args.max_cycles} cycles")
            with env.state() as con:
                errors = con.execute("SELECT system, code, count(*) FROM sync.errors WHERE resolved_at IS NULL "
                                     "GROUP BY ALL ORDER BY 3 DESC").fetchall()
            print(f"open rejections after converging (retried with backoff, 2^attempts minutes): {errors or 'none'}")

            # ---- quiet cycle -----------------------------------------------------------------------------------
            with Measure("QUIET CYCLE", env, sf_objects) as quiet:
                outcome = run_cycle(env)
            other_by_cycle.append(("quiet", quiet.calls))
            quiet_totals = report(quiet, outcome, floor(objects, {}, {}), rows_read(env, outcome.run_id),
                                  "nothing edited since the last cycle")

            # ---- edits, then the measured cycle ----------------------------------------------------------------
            changed, writes, own = make_edits(env, args.edits, args.seed)
            print(f"\nedits made (not counted in any cycle): {args.edits} HubSpot contacts' jobtitle, {args.edits} "
                  f"Salesforce Contacts' Title; their own calls {own}")
            print(f"writes the edits call for: {writes}")
            with Measure("CHANGED CYCLE", env, sf_objects) as changed_m:
                outcome = run_cycle(env)
            other_by_cycle.append(("changed", changed_m.calls))
            actual = written_by_object(env, outcome.run_id)
            if actual != writes:
                print(f"note: the cycle wrote {actual} (the edits call for {writes})")
            totals = report(changed_m, outcome, floor(objects, changed, writes), rows_read(env, outcome.run_id),
                            f"{args.edits} edits per side")

            # ---- the echo: the next cycle reads back what the changed cycle wrote ------------------------------
            with Measure("ECHO CYCLE", env, sf_objects) as echo:
                echo_outcome = run_cycle(env)
            other_by_cycle.append(("echo", echo.calls))
            echoed = {(("hubspot", "contacts") if t == "hubspot" else (t, o)): n for (t, o), n in actual.items()}
            report(echo, echo_outcome, floor(objects, echoed, {}), rows_read(env, echo_outcome.run_id),
                   "reads back the changed cycle's writes (changed = those writes)")

            deal_totals = None
            if args.deal_edits:
                changed_d, writes_d = make_deal_edits(env, args.deal_edits, args.seed)
                with Measure("DEAL EDITS CYCLE", env, sf_objects) as deal_m:
                    outcome = run_cycle(env)
                other_by_cycle.append(("deals", deal_m.calls))
                deal_totals = report(deal_m, outcome, floor(objects, changed_d, writes_d),
                                     rows_read(env, outcome.run_id), f"{args.deal_edits} deal edits per side")
                assoc = sum(n for label, n in deal_m.calls["hubspot"].items() if "/crm/v4/associations/" in label
                            and label.endswith("/batch/read"))
                hs_calls, hs_floor = deal_totals["hubspot"]
                print(f"  HubSpot deal association reads: {assoc}; counting them as their own objects at 100 ids a "
                      f"call, HubSpot {hs_calls}/{hs_floor + 2 * math.ceil(args.deal_edits / 100)}")

            # ---- calls that are not reads or writes, cycle by cycle ---------------------------------------------
            print("\ncalls that are neither reads nor writes, by cycle "
                  f"({', '.join(name for name, _ in other_by_cycle)}):")
            labels = sorted({(s, label) for _, calls in other_by_cycle for s in calls for label in calls[s]
                             if kind(s, label) == "other"})
            for system, label in labels:
                counts = [calls[system].get(label, 0) for _, calls in other_by_cycle]
                steady = counts[-3:]
                when = "every cycle" if all(steady) else ("first cycle only" if counts[0] and not any(counts[1:])
                                                          else "not every cycle")
                print(f"  {system:<10} {label:<52} {' '.join(f'{c:>4}' for c in counts)}   {when}")
            print("  (connectors live for a run: each run logs in to Salesforce once; OAuth token requests do not "
                  "count against the org's API allocation)")

            print(f"\nSUMMARY ({args.seed_size:,} people per side, overlap {config.sync.overlap_seconds} s; read + "
                  f"write calls / floor, target {TARGET}x):")
            rows = [(f"{args.edits} edits per side", totals, changed_m), ("quiet", quiet_totals, quiet)]
            if deal_totals:
                rows.append((f"{args.deal_edits} deal edits/side", deal_totals, deal_m))
            for label, t, m in rows:
                (sf_calls, sf_floor), (hs_calls, hs_floor) = t["salesforce"], t["hubspot"]
                overall = (sf_calls + hs_calls) / (sf_floor + hs_floor)
                print(f"  {label:<20} Salesforce {sf_calls}/{sf_floor} = {sf_calls / sf_floor:.2f}x, HubSpot "
                      f"{hs_calls}/{hs_floor} = {hs_calls / hs_floor:.2f}x, overall {overall:.2f}x "
                      f"(= {overall / TARGET:.2f}x of the target); wall {m.seconds:.1f} s")


if __name__ == "__main__":
    main()
