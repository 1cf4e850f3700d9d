"""An existing `dg` project adds crm-sync through its component: `dg scaffold defs`, `dg check defs`, and a cycle
launched with `dg launch` writes to both sandbox CRMs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from dagster import DagsterInstance

from crm_sync_tests.sync_harness import converged_env

PYPROJECT = """[project]
name = "acme-data"
version = "0.1.0"

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "acme_data"
"""

DEFINITIONS = """from pathlib import Path

import dagster as dg


@dg.definitions
def defs():
    return dg.load_from_defs_folder(project_root=Path(__file__).parent.parent)
"""


def _dg(project: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run([str(Path(sys.executable).parent / "dg"), *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"dg {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _project(root: Path) -> Path:
    """A team's dg project, as `create-dagster project` lays it out, with one asset of its own."""
    (root / "acme_data" / "defs").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "acme_data" / "__init__.py").write_text("")
    (root / "acme_data" / "defs" / "__init__.py").write_text("")
    (root / "acme_data" / "definitions.py").write_text(DEFINITIONS)
    (root / "acme_data" / "defs" / "revenue.py").write_text(
        "import dagster as dg\n\n\n@dg.asset\ndef revenue_report() -> None:\n    pass\n")
    return root


def test_a_dg_project_adds_the_sync_through_the_component_and_runs_a_cycle(tmp_path):
    project = _project(tmp_path / "acme-data")
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(project)}
    with converged_env(tmp_path / "env") as sync_env:
        sf = sync_env.sf()
        [before] = sf.query("SELECT Id, Title FROM Contact WHERE HubSpot_Id__c != null LIMIT 1")["records"]
        [contact] = [c for c in sync_env.hs().crm.contacts.basic_api.get_page(limit=100, properties=[
            "salesforce_id"]).results if c.properties.get("salesforce_id") == before["Id"]]
        sync_env.hs().crm.contacts.basic_api.update(contact.id, {"properties": {"jobtitle": "Head of Component"}})

        scaffolded = _dg(project, "scaffold", "defs", "crm_sync.components.CrmSync", "crm", env=env)
        defs_yaml = project / "acme_data" / "defs" / "crm" / "defs.yaml"
        assert yaml.safe_load(defs_yaml.read_text())["type"] == "crm_sync.components.CrmSync", scaffolded.stdout
        defs_yaml.write_text(yaml.safe_dump({"type": "crm_sync.components.CrmSync",
                                             "attributes": {"config_path": str(sync_env.config_path)}}))
        _dg(project, "check", "defs", env=env)
        listed = _dg(project, "list", "defs", "--json", env=env).stdout
        for key in ("sync/plan/people", "hubspot/load/people", "salesforce/raw/Contact", "revenue_report"):
            assert key in listed, key  # the sync's assets beside the project's own
        for name in ("sync_cycle", "reconcile", "backfill", "sync_cycle_schedule", "links_one_to_one"):
            assert name in listed, name

        _dg(project, "launch", "--job", "sync_cycle", env=env)
        after = sf.query(f"SELECT Title FROM Contact WHERE Id = '{before['Id']}'")["records"][0]
        assert after["Title"] == "Head of Component"  # the HubSpot edit reached Salesforce through the project
        instance = DagsterInstance.from_config(str(home))
        try:
            [run] = instance.get_runs()
            assert run.job_name == "sync_cycle" and run.is_success
        finally:
            instance.dispose()
