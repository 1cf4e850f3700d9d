"""The convergence runner's short profile (bench/bench_convergence.py runs the long one over several seeds)."""

from __future__ import annotations

from crm_sync_tests.convergence import Profile, Report, run_profile


def test_users_faults_and_kills_converge_with_nothing_lost(tmp_path):
    """Users edit both CRMs (every pair: tickets and tasks too) while faults are on in both sandboxes and two cycles
    are killed with SIGKILL in a random step; once faults are off the sync goes quiet, and the oracle finds nothing
    lost or duplicated."""
    report = run_profile(tmp_path, seed=5, profile=Profile(size=100, churn_seconds=8, churn_rate=5, kills=2),
                         log=lambda _: None)
    assert len(report.kills) == 2
    assert report.edits > 20 and report.edits_checked > 5  # the oracle had edits to judge
    assert sum(report.faults_fired.values()) > 0
    assert report.quiet_after is not None, report.as_dict()
    assert {k: getattr(report, k) for k in Report.FAILURES} == dict.fromkeys(Report.FAILURES, 0), report.examples
