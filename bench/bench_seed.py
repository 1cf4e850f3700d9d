"""Seed generator at scale: seed a fresh temporary sandbox with N people per side and measure time and memory.

Prints seconds, rows/s and peak RSS (this process and the HubSpot worker process), as ratios to the budget from the
issue: 1,000,000 people per side in well under 5 minutes. Run: `.venv/bin/python bench/bench_seed.py --size 1000000`.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from crm_sandbox.seed import format_summary, seed_sandbox

TIME_BUDGET_S = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", help="seed this folder instead of a temporary one (left in place)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seed-bench-") as tmp:
        directory = Path(args.keep) if args.keep else Path(tmp) / "sandbox"
        start = time.perf_counter()
        summary = seed_sandbox(directory, args.size, args.seed)
        seconds = time.perf_counter() - start
        files_mb = sum(p.stat().st_size for p in directory.glob("*.sqlite3*")) / 2**20
        print(format_summary(summary))
        print()
        rows = summary.total_records + sum(summary.hubspot_associations.values())
        print(f"seeded {args.size:,} people per side: {summary.total_records:,} records and "
              f"{sum(summary.hubspot_associations.values()):,} associations in {seconds:.1f} s "
              f"= {seconds / TIME_BUDGET_S:.2f}x of the 5-minute budget; {rows / seconds:,.0f} rows/s; "
              f"files {files_mb:,.0f} MB")
        own_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS: this process {own_mb:,.0f} MB (Salesforce half), largest child {child_mb:,.0f} MB "
              f"(HubSpot half)")


if __name__ == "__main__":
    main()
