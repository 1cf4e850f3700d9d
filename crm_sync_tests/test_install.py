"""crm-sync without its sandbox: a plain install brings no web server, and a real-org run never loads crm_sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from crm_sync_tests.sync_harness import ROOT

RUN_AND_REPORT = """
import json, sys
from crm_sync.cli import main
code = main(["run", "--config", sys.argv[1]])
print("MODULES " + json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
sys.exit(code)
"""


def test_plain_install_brings_neither_uvicorn_nor_starlette(tmp_path):
    # pip's resolver answers for a fresh virtualenv (--ignore-installed) without building one: what
    # `pip install .` would install, from the same package index.
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                           "--report", str(report), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert {"crm-sync", "dagster", "duckdb", "simple-salesforce", "hubspot-api-client"} <= names
    assert names & {"uvicorn", "starlette", "crm-sandbox", "dagster-webserver"} == set()


def test_a_real_org_run_never_imports_the_sandbox(tmp_path):
    from crm_sandbox.seed import seed_sandbox
    from crm_sandbox.server import running_sandbox

    seed_sandbox(tmp_path / "sandbox", size=100, seed=3)
    with running_sandbox(tmp_path / "sandbox") as info:
        sf, hs = info["salesforce"], info["hubspot"]
        raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
        raw["connections"] = {"salesforce": {"kind": "client_credentials", "api_version": sf["api_version"]},
                              "hubspot": {"kind": "private_app", "base_url": hs["base_url"]}}
        raw["state_path"] = str(tmp_path / "state" / "crm_sync.duckdb")
        config = tmp_path / "sync.yaml"
        config.write_text(yaml.safe_dump(raw))
        # Secrets come from the environment only, as for a real org and portal.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_", "HUBSPOT_"))} | {
            "SALESFORCE_TOKEN_URL": sf["token_url"], "SALESFORCE_CLIENT_ID": sf["client_id"],
            "SALESFORCE_CLIENT_SECRET": sf["client_secret"], "SALESFORCE_CA_FILE": sf["ca_file"],
            "HUBSPOT_ACCESS_TOKEN": hs["access_token"]}
        proc = subprocess.run([sys.executable, "-c", RUN_AND_REPORT, str(config)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        modules = json.loads(proc.stdout.rsplit("MODULES ", 1)[1])
        assert "crm_sync" in modules and "crm_sandbox" not in modules
        assert {"uvicorn", "starlette"} & set(modules) == set()
        # The run did sync: both sides' people were linked and the secrets are nowhere in the output.
        assert "people" in proc.stdout and sf["client_secret"] not in proc.stdout + proc.stderr
        assert hs["access_token"] not in proc.stdout + proc.stderr


def test_sandbox_verbs_name_the_extra_when_it_is_missing(tmp_path):
    # A blocker on the import path stands in for an install without the extra.
    blocker = tmp_path / "crm_sandbox"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ModuleNotFoundError('no crm_sandbox', name='crm_sandbox')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "crm_sync.cli", "sandbox", "up"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "crm-sync[sandbox]" in proc.stderr, proc.stderr


def test_crm_sync_sandbox_verbs_reach_the_sandbox_package(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "crm_sync.cli", "sandbox", "seed", "--dir", str(tmp_path / "sb"),
                           "--size", "100", "--seed", "5"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Lead" in proc.stdout and (tmp_path / "sb" / "seed.json").exists()
    again = subprocess.run([sys.executable, "-m", "crm_sync.cli", "sandbox", "seed", "--dir", str(tmp_path / "sb")],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "crm-sync sandbox seed" in again.stderr
