"""The Dagster code location loads: `dagster definitions validate` passes on workspace.yaml, `dg check defs` on
the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_dagster_definitions_validate(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All code locations passed validation" in result.stdout + result.stderr


def test_dg_check_defs_passes_on_the_repository(tmp_path):
    """The repository is a dg project ([tool.dg] in pyproject.toml) on the same code location."""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    dg = Path(sys.executable).parent / "dg"
    result = subprocess.run([str(dg), "check", "defs"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr
    listed = subprocess.run([str(dg), "list", "defs", "--json"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert listed.returncode == 0 and "sync/plan/people" in listed.stdout, listed.stderr


def test_the_schedules_are_off_until_sync_yaml_turns_them_on(tmp_path):
    import yaml
    from dagster import DefaultScheduleStatus

    from crm_sync.definitions import build_definitions

    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    raw["connections"] = {"salesforce": {"kind": "client_credentials"}, "hubspot": {"kind": "private_app"}}
    path = tmp_path / "sync.yaml"
    for enabled, status in ((False, DefaultScheduleStatus.STOPPED), (True, DefaultScheduleStatus.RUNNING)):
        raw["schedule"]["enabled"] = enabled
        path.write_text(yaml.safe_dump(raw))
        defs = build_definitions(str(path))
        schedules = {s.name: s.default_status for s in defs.schedules}
        assert schedules == {"sync_cycle_schedule": status, "reconcile_schedule": status}
