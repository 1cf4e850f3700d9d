"""`crm-sync demo`: the whole product on the sandbox CRMs, start to finish, in one command.

Starts the sandbox in the background, seeds an org and a portal, runs sync cycles until nothing is left to
write, lets users edit both sides for a while, syncs again, prints what happened and stops the sandbox.
Everything it prints is also written to DIR/demo_summary.json.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import yaml

from crm_sync.runner import execute_cycle, recorded

MAX_CYCLES = 6


def _fresh(directory: Path) -> None:
    # The demo owns its folder: each run starts from an empty org, portal and state so its figures are its own.
    for name in ("sandbox", "state", "churn.jsonl", "demo_summary.json", "sync.yaml"):
        target = directory / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    directory.mkdir(parents=True, exist_ok=True)


def write_config(directory: Path, template: Path = Path("sync.yaml")) -> Path:
    """A sync.yaml for the demo folder: the shipped pairs, pointed at the demo's sandbox and state."""
    raw = yaml.safe_load(template.read_text()) if template.exists() else {"pairs": {}}
    raw.setdefault("connections", {}).setdefault("salesforce", {})["sandbox_dir"] = str(directory / "sandbox")
    raw["connections"].setdefault("hubspot", {})["sandbox_dir"] = str(directory / "sandbox")
    raw["state_path"] = str(directory / "state" / "crm_sync.duckdb")
    raw["dagster_home"] = str(directory / "dagster_home")
    path = directory / "sync.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def sync_until_quiet(config: Path, label: str, log: list[dict]) -> None:
    for number in range(1, MAX_CYCLES + 1):
        started = time.perf_counter()
        with recorded(config) as instance:
            outcome = execute_cycle(config, instance=instance, progress="transient")
        writes = sum(outcome.summary["writes"].values())
        calls = outcome.summary["api_calls"]
        log.append({"phase": label, "cycle": number, "run_id": outcome.run_id, "success": outcome.success,
                    "writes": outcome.summary["writes"], "api_calls": calls,
                    "seconds": round(time.perf_counter() - started, 1)})
        print(f"  {label} cycle {number}: {writes:,} writes sent, API calls {calls}, "
              f"{time.perf_counter() - started:.1f} s{'' if outcome.success else '  (run FAILED)'}")
        if outcome.planned_writes == 0 or not outcome.success:
            return


def run_demo(directory: Path, size: int = 2000, seed: int = 7, churn_seconds: float = 20.0,
             churn_rate: float = 5.0) -> int:
    # The demo is the sandbox's own verb: crm_sandbox is imported here only (cli.py checked it is installed).
    from crm_sandbox.churn import run_churn
    from crm_sandbox.seed import format_summary as format_seed
    from crm_sandbox.seed import seed_sandbox
    from crm_sandbox.server import running_sandbox
    from crm_sync.engine import db
    from crm_sync.engine.report import format_summary, run_summary

    directory = directory.resolve()
    _fresh(directory)
    config = write_config(directory)
    cycles: list[dict] = []
    with running_sandbox(directory / "sandbox") as info:
        print(f"Sandbox CRMs: Salesforce {info['salesforce']['instance_url']}, HubSpot {info['hubspot']['base_url']}")
        seeded = seed_sandbox(directory / "sandbox", size=size, seed=seed)
        print(format_seed(seeded))
        print("\nInitial sync:")
        sync_until_quiet(config, "initial", cycles)
        print(f"\nUsers edit both sides for {churn_seconds:.0f} s ({churn_rate} edits/s)...")
        churn = run_churn(info, churn_rate, seed, churn_seconds, directory / "churn.jsonl",
                          directory=directory / "sandbox")
        print(churn.describe())
        print("\nSync after the edits:")
        sync_until_quiet(config, "after edits", cycles)
    con = db.connect(directory / "state" / "crm_sync.duckdb")
    try:
        summary = run_summary(con)
        writes_recorded = con.execute("SELECT count(*) FROM sync.audit").fetchone()[0]
    finally:
        con.close()
    print("\nWhat happened:")
    print(format_summary(summary))
    print(f"\nDuckDB state: {directory / 'state' / 'crm_sync.duckdb'} (query sync.links, sync.outbox, sync.errors, "
          "sync.audit, sync.api_usage)")
    print(f"Sandbox state stays in {directory / 'sandbox'}; run it again with "
          f"`crm-sync sandbox up --dir {directory / 'sandbox'}`.")
    (directory / "demo_summary.json").write_text(json.dumps(
        {"seed": seeded.to_dict(), "cycles": cycles, "churn": churn.__dict__ | {"by_kind": dict(churn.by_kind),
                                                                                 "failures": dict(churn.failures)},
         "summary": summary, "writes_recorded": writes_recorded}, indent=2, default=str))
    return 0 if all(c["success"] for c in cycles) else 1
