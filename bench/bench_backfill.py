"""The initial sync by the partitioned backfill: API calls and wall time against their floors.

    .venv/bin/python bench/bench_backfill.py --size 2000 --latency-ms 100

Seeds both sandboxes (--size people per side, with their companies and deals), runs `crm-sync backfill`'s
ranges in-process through Dagster, then incremental cycles until one writes nothing, and prints:
- calls per side (counted by the sandboxes; logins, describes, properties and owners apart) against the call
  floor: every record read once at the largest page (Salesforce REST 2,000, or a Bulk API 2.0 query of about
  five calls for objects of more than 10,000; HubSpot search 200), every write at the largest batch
  (Salesforce collections of 200, or a Bulk 2.0 ingest job of about eight calls from 2,000; HubSpot 100);
- the quiet cycle's read-back in the floor too: every record the sync wrote is read once more (it changed since
  the backfill began), at the same page sizes;
- wall time against the rate-limit floor: the HubSpot calls of the floor at 19 a second (190 per 10 s), the
  searches among them (every HubSpot record read: the backfill's windows and the read-back) at 5 a second,
  whichever is longer.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml
from dagster import DagsterEventType, DagsterInstance

from crm_sync.runner import backfill_batches, execute_cycle
from crm_sync_tests.sync_harness import call_kind, sync_env

SF_OBJECTS = ("Account", "Lead", "Contact", "Opportunity", "OpportunityContactRole")
HS_OBJECTS = ("companies", "contacts", "deals")


def sf_read_floor(n: int) -> int:
    return 5 if n > 10_000 else max(1, math.ceil(n / 2000))


def sf_write_floor(n: int) -> int:
    return 8 if n >= 2000 else math.ceil(n / 200)


def reset_peak_rss(pid: int) -> None:
    """Start a process's VmHWM again from its current RSS (Linux: clear_refs 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss_mb(pid: int) -> float:
    """A live process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def step_seconds(instance: DagsterInstance) -> Counter:
    """Seconds each step took, summed over the instance's runs, and each run's time outside its steps."""
    spent: Counter = Counter()
    for run in instance.get_runs():
        events = [r for r in instance.all_logs(run.run_id) if r.is_dagster_event]
        starts = {r.step_key: r.timestamp for r in events if r.dagster_event_type == DagsterEventType.STEP_START}
        in_steps = 0.0
        for r in events:
            if r.dagster_event_type == DagsterEventType.STEP_SUCCESS and r.step_key in starts:
                spent[r.step_key] += r.timestamp - starts[r.step_key]
                in_steps += r.timestamp - starts[r.step_key]
        if events:
            spent["(outside steps)"] += events[-1].timestamp - events[0].timestamp - in_steps
    return spent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--partitions-per-run", type=int, default=12)
    parser.add_argument("--detail", action="store_true", help="also print the calls by endpoint")
    parser.add_argument("--unlimited", action="store_true", help="lift HubSpot's rate limits (the sandbox's and "
                        "the sync's own pacing): a scale run bound by the machine, not by the limits")
    args = parser.parse_args()
    extra = {"backfill": {"start": "2021-01-01", "partition": "month", "partitions_per_run": args.partitions_per_run}}
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp, \
            sync_env(Path(tmp), seed_size=args.size, seed=args.seed, extra=extra) as env:
        sf, hs = env.sf(), env.hs()
        if args.unlimited:
            raw = yaml.safe_load(env.config_path.read_text())
            raw["connections"]["hubspot"] |= {"ten_second_limit": 10**6, "search_per_second": 10**5}
            env.config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
        limits = env.hs_admin("rate-limits", method="GET")
        env.hs_admin("rate-limits", {"ten_second": 10**6})  # counting the records is not part of the measure
        counts = {("salesforce", o): sf.query(f"SELECT COUNT() FROM {o}")["totalSize"] for o in SF_OBJECTS}
        counts |= {("hubspot", o): sum(1 for _ in hs.crm.objects.get_all(o, properties=["hs_object_id"]))
                   for o in HS_OBJECTS}
        if args.unlimited:
            env.hs_admin("rate-limits", {"search_per_second": 10**5, "reset": True})
        else:
            env.hs_admin("rate-limits", {"ten_second": limits["ten_second"], "reset": True})
        for admin in (env.sf_admin, env.hs_admin):
            admin("usage/reset")
            admin("latency", {"ms": args.latency_ms})
        pids = {**(env.info.get("pids") or {}), "sync (this process)": os.getpid()}
        for pid in pids.values():  # peaks from here: the seeding (in this process too) is not what is measured
            reset_peak_rss(pid)
        started = time.perf_counter()
        instance = DagsterInstance.ephemeral()
        runs = list(backfill_batches(env.config_path, instance=instance))
        backfill_seconds = time.perf_counter() - started
        after_backfill = {s: Counter(env.usage(s)) for s in ("salesforce", "hubspot")}
        cycles = []
        for _ in range(6):
            outcome = execute_cycle(env.config_path, instance=instance)
            cycles.append(outcome.planned_writes)
            if outcome.planned_writes == 0:
                break
        seconds = time.perf_counter() - started
        usage = {s: env.usage(s) for s in ("salesforce", "hubspot")}
        with env.state() as con:
            writes = con.execute("""SELECT target, object, action, count(*) FROM sync.audit WHERE success
                GROUP BY ALL""").fetchall()
            # Records the sync changed, read back by the quiet cycle (associations change the records they join)
            written = con.execute("""SELECT target, object, count(DISTINCT target_id) FROM sync.audit WHERE success
                AND action IN ('create', 'update') GROUP BY ALL""").fetchall()
        peaks = {name: peak_rss_mb(pid) for name, pid in pids.items()}
    measured = {s: Counter(call_kind(s, k) for k, n in u.items() for _ in range(n)) for s, u in usage.items()}
    searches = sum(n for k, n in usage["hubspot"].items() if k.endswith("/search"))
    floor = {"salesforce": Counter(), "hubspot": Counter()}
    for (system, _obj), n in counts.items():
        floor[system]["read"] += sf_read_floor(n) if system == "salesforce" else max(1, math.ceil(n / 200))
    for system, _obj, n in written:
        floor[system]["read"] += sf_read_floor(n) if system == "salesforce" else math.ceil(n / 200)
    search_floor = floor["hubspot"]["read"]
    for target, _obj, _action, n in writes:
        floor[target]["write"] += sf_write_floor(n) if target == "salesforce" else math.ceil(n / 100)
    floor["hubspot"]["read"] += math.ceil(counts[("hubspot", "deals")] / 1000) * 2  # deal associations
    print(f"backfill of {args.size:,} people per side ({sum(counts.values()):,} records), {len(runs)} runs, "
          f"latency {args.latency_ms:g} ms; cycles after it until quiet: writes {cycles}")
    for system in ("salesforce", "hubspot"):
        m, f = measured[system], floor[system]
        total_m, total_f = m["read"] + m["write"], f["read"] + f["write"]
        print(f"  {system}: reads {m['read']} / floor {f['read']}, writes {m['write']} / floor {f['write']}: "
              f"{total_m} / {total_f} = {total_m / max(total_f, 1):.2f}x  (other calls: {m['other']})")
    if args.detail:
        print("    writes by target, object and action (records, and their floor in calls):")
        for target, obj, action, n in sorted(writes):
            fl = sf_write_floor(n) if target == "salesforce" else math.ceil(n / 100)
            print(f"    {target:<10} {obj:<24} {action:<8} {n:>7} records, floor {fl:>4} calls")
        for system, u in usage.items():
            for label, n in sorted(u.items(), key=lambda kv: -kv[1])[:15]:
                print(f"    {system:<10} {n:>6} (backfill {after_backfill[system][label]:>5})  {label}")
        print("    seconds by step, summed over the runs (backfill, then the cycles):")
        for label, seconds_ in step_seconds(instance).most_common(20):
            print(f"    {seconds_:>8.1f}  {label}")
    hs_floor = floor["hubspot"]["read"] + floor["hubspot"]["write"]
    time_floor = max(hs_floor / 19, search_floor / 5)
    print(f"  wall time: backfill {backfill_seconds:.1f} s, until quiet {seconds:.1f} s; rate-limit floor "
          f"{time_floor:.1f} s: {seconds / time_floor:.1f}x  (HubSpot searches made: {searches})"
          + ("  [rate limits lifted]" if args.unlimited else ""))
    records = sum(counts.values())
    print(f"  per record: {seconds / records * 1000:.3f} ms of wall time for {records:,} records; peak RSS: "
          + ", ".join(f"{name} {mb:,.0f} MB" for name, mb in peaks.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
