"""`crm-sync ui` started in the background (SIGINT ignored, as a non-interactive shell's `&` leaves it) stops
on SIGTERM, and takes dagster dev, its webserver and its daemon with it."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests
import yaml

from crm_sync_tests.sync_harness import ROOT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ui_config(tmp_path, dagster_home=None):
    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    # A real-org config: the UI loads the definitions without starting a sandbox or reading any secret.
    raw["connections"] = {"salesforce": {"kind": "client_credentials"}, "hubspot": {"kind": "private_app"}}
    raw["state_path"] = str(tmp_path / "state" / "crm_sync.duckdb")
    raw["dagster_home"] = str(dagster_home or tmp_path / "dagster_home")
    config = tmp_path / "ui.yaml"
    config.write_text(yaml.safe_dump(raw))
    return config


@contextlib.contextmanager
def _ui(config, tmp_path):
    """`crm-sync ui` started as a background job (SIGINT ignored) on a free port; yields (process, port) once its
    webserver answers, and stops it (and whatever it started) after."""
    port = _free_port()

    def as_background_job() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    log = (tmp_path / "ui.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "crm_sync.cli", "ui", "--config", str(config), "--port",
                             str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, preexec_fn=as_background_job,
                            start_new_session=True)
    started: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "ui.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the Dagster UI did not answer within 180 s"
            try:
                if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        started.extend(psutil.Process(proc.pid).children(recursive=True))
        yield proc, port, started
    finally:
        for p in [*started, psutil.Process(proc.pid) if proc.poll() is None else None]:
            if p is not None and p.is_running():
                p.kill()
        log.close()


def test_ui_in_the_background_stops_on_sigterm_with_everything_it_started(tmp_path):
    with _ui(_ui_config(tmp_path), tmp_path) as (proc, _, started):
        assert len(started) >= 2, [p.cmdline() for p in started]  # dagster dev and what it started
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(started, timeout=30)
        assert alive == [], [p.cmdline() for p in alive]


def cli_run_id(out: str) -> str:
    """The run id `crm-sync run` printed ("Run <id>: succeeded")."""
    [run_id] = [line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith("Run ")]
    return run_id


RUNS = """{ runsOrError { ... on Runs { results { runId jobName status } } } }"""
MATERIALIZATIONS = """query ($path: [String!]!) { assetOrError(assetKey: {path: $path}) { ... on Asset {
    assetMaterializations(limit: 10) { runId metadataEntries { label ... on IntMetadataEntry { intValue } } } } } }"""


def test_a_cli_run_is_in_the_uis_run_history_with_its_metadata(tmp_path, capsys, monkeypatch):
    from crm_sync.cli import main
    from crm_sync_tests.sync_harness import converged_env

    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # the config's dagster_home, then

    with converged_env(tmp_path / "env", product_instance=True) as env:
        assert main(["run", "--config", str(env.config_path)]) == 0
        printed = capsys.readouterr()
        run_id = cli_run_id(printed.out)
    # the terminal shows a line per step with its figures, then the summary, not Dagster's event log (that stays
    # in the instance; --verbose prints it)
    lines = printed.out.splitlines()
    assert f"Run {run_id}: succeeded" in lines and len(lines) < 80, printed.out
    steps = [line for line in lines[:lines.index(f"Run {run_id}: succeeded")] if line.startswith("✓")]
    for step in ("read   hubspot contacts", "plan   people", "write  salesforce people",
                 "check  people links_one_to_one: passed"):
        assert any(step in line for line in steps), (step, steps)
    [owners] = [line.split() for line in steps if "read   hubspot owners" in line]
    assert int(owners[4]) == 8  # records read: the portal's owners, as the extract reported them
    assert not [line for line in (printed.out + printed.err).splitlines()
                if " - DEBUG - " in line or "STEP_START" in line or "Started execution of step" in line]
    [log] = [line.split(": ", 1)[1] for line in printed.out.splitlines() if line.startswith("Dagster's event log: ")]
    events = Path(log).read_text()
    assert "PIPELINE_SUCCESS" in events and "STEP_START [sync__plan__people]" in events
    home = tmp_path / "env" / "dagster_home"
    assert (home / "dagster.yaml").exists()  # the instance the CLI recorded the run in, shared with the UI
    with _ui(_ui_config(tmp_path, dagster_home=home), tmp_path) as (_, port, _started):
        graphql = f"http://127.0.0.1:{port}/graphql"
        runs = requests.post(graphql, json={"query": RUNS}, timeout=30).json()["data"]["runsOrError"]["results"]
        assert {"runId": run_id, "jobName": "sync_cycle", "status": "SUCCESS"} in runs
        answer = requests.post(graphql, json={"query": MATERIALIZATIONS,
                                              "variables": {"path": ["sync", "plan", "people"]}}, timeout=30).json()
        done = answer["data"]["assetOrError"]["assetMaterializations"]
        mine = [m for m in done if m["runId"] == run_id]
        assert mine, done
        numbers = {e["label"]: e["intValue"] for e in mine[0]["metadataEntries"] if "intValue" in e}
        # the figures Dagster plots over runs: the plan's writes by target, the records it looked at
        assert {"updates_salesforce", "updates_hubspot", "creates_salesforce"} <= set(numbers), numbers
