"""The convergence runner over several seeds: churn on both CRMs, faults on both sandboxes, SIGKILLs of the sync
at random points of its steps, then faults off and cycles until quiet; an oracle counts what went wrong.

    .venv/bin/python bench/bench_convergence.py --seeds 1 2 3 --size 300 --churn-seconds 120 --kills 4

Prints one line per seed and a JSON report (with examples of anything found) to --out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from crm_sync_tests.convergence import Profile, Report, run_profile


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--size", type=int, default=300, help="people per side at the seed")
    parser.add_argument("--churn-seconds", type=float, default=120.0)
    parser.add_argument("--churn-rate", type=float, default=4.0, help="user edits per second, both sides")
    parser.add_argument("--kills", type=int, default=4, help="cycles killed with SIGKILL per seed")
    parser.add_argument("--merges", choices=["link", "propagate"], default="link",
                        help="the merges: setting of people and companies")
    parser.add_argument("--out", default="data/convergence_report.json")
    parser.add_argument("--keep", help="keep each seed's sandbox, state and churn log under this folder")
    args = parser.parse_args()
    profile = Profile(size=args.size, churn_seconds=args.churn_seconds, churn_rate=args.churn_rate, kills=args.kills,
                      merges=args.merges)
    reports: list[Report] = []
    for seed in args.seeds:
        if args.keep:
            root = Path(args.keep) / f"seed-{seed}"
            shutil.rmtree(root, ignore_errors=True)
            report = run_profile(root, seed, profile)
        else:
            with tempfile.TemporaryDirectory(prefix=f"convergence-{seed}-") as tmp:
                report = run_profile(Path(tmp), seed, profile)
        reports.append(report)
        print(f"seed {seed} (merges: {args.merges}): " + ", ".join(f"{k} {getattr(report, k)}" for k in Report.FAILURES)
              + f"; held with an error row {report.held_explained}; {report.edits} edits "
              f"({report.edits_checked} checked), {report.cycles} cycles, kills in {report.kills}, "
              f"faults fired {report.faults_fired}, quiet after {report.quiet_after} cycles, {report.seconds} s")
    Path(args.out).write_text(json.dumps([r.as_dict() for r in reports], indent=1, default=str))
    print(f"all seeds converged with nothing lost: {all(r.ok for r in reports)}  (report: {args.out})")
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    raise SystemExit(main())
