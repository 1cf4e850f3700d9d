"""Production deployment: Dagster's runs, events and schedule state in a real PostgreSQL (deploy/dagster.postgres.yaml,
credentials from the environment), written by a CLI run and read by the UI."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests
import yaml

from crm_sync.cli import main
from crm_sync_tests.postgres import running_postgres
from crm_sync_tests.sync_harness import ROOT, converged_env
from crm_sync_tests.test_ui import RUNS, _free_port, _ui, _ui_config, cli_run_id

REPOSITORIES = """{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"""
START_SCHEDULE = """mutation ($selector: ScheduleSelector!) { startSchedule(scheduleSelector: $selector) {
    __typename ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }"""


def test_a_run_its_events_and_the_schedule_state_land_in_postgres_and_the_ui_reads_them(tmp_path, capsys,
                                                                                         monkeypatch):
    with running_postgres() as pg:
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
        for key, value in pg.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("DAGSTER_HOME", str(home))

        with converged_env(tmp_path / "env") as env:
            assert main(["run", "--config", str(env.config_path)]) == 0
        run_id = cli_run_id(capsys.readouterr().out)

        [(status, tags)] = pg.query("SELECT r.status, string_agg(t.key || '=' || t.value, ',') FROM runs r "
                                    "JOIN run_tags t USING (run_id) WHERE r.run_id = %s GROUP BY r.status", (run_id,))
        assert status == "SUCCESS"
        state_file = (tmp_path / "env" / "state" / "crm_sync.duckdb").resolve()
        assert f"crm_sync/state_file={state_file}" in tags.split(",")  # what the queue's per-file limit reads
        kinds = dict(pg.query("SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s "
                              "GROUP BY dagster_event_type", (run_id,)))
        assert kinds.get("PIPELINE_SUCCESS") == 1 and kinds.get("ASSET_MATERIALIZATION", 0) >= 8, kinds
        assert kinds.get("ASSET_CHECK_EVALUATION", 0) >= 3, kinds
        assert not [p for p in home.rglob("*") if p.suffix == ".db"]  # no SQLite storage beside it
        for path in [p for p in home.rglob("*") if p.is_file()]:
            assert pg.password not in path.read_text(errors="replace"), path

        with _ui(_ui_config(tmp_path, dagster_home=home), tmp_path) as (_, port, _started):
            graphql = f"http://127.0.0.1:{port}/graphql"
            runs = requests.post(graphql, json={"query": RUNS}, timeout=30).json()["data"]["runsOrError"]["results"]
            assert {"runId": run_id, "jobName": "sync_cycle", "status": "SUCCESS"} in runs
            [repo] = requests.post(graphql, json={"query": REPOSITORIES}, timeout=30).json()[
                "data"]["repositoriesOrError"]["nodes"]
            selector = {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"],
                        "scheduleName": "sync_cycle_schedule"}
            started = requests.post(graphql, json={"query": START_SCHEDULE, "variables": {"selector": selector}},
                                    timeout=30).json()["data"]["startSchedule"]
            assert started.get("scheduleState", {}).get("status") == "RUNNING", started
        schedules = pg.query("SELECT status, instigator_body FROM instigators WHERE instigator_type = 'SCHEDULE'")
        assert [s for s, body in schedules if "sync_cycle_schedule" in body] == ["RUNNING"], schedules


LAUNCH = """mutation ($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
    ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } } } }"""
RUN = """query ($id: ID!) { runOrError(runId: $id) { ... on Run { status startTime endTime } } }"""


@contextlib.contextmanager
def _dagster_dev(workspace, env: dict, log_path) -> Iterator[str]:
    """`dagster dev` (webserver and daemon) on a workspace; yields the GraphQL URL once it answers."""
    port = _free_port()
    with log_path.open("w") as log:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(workspace), "-p",
                                 str(port)], env=env, cwd=workspace.parent, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 180
            while True:
                assert proc.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, "dagster dev did not answer within 180 s"
                with contextlib.suppress(requests.ConnectionError):
                    if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                        break
                time.sleep(0.5)
            yield f"http://127.0.0.1:{port}/graphql"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def test_two_connections_run_side_by_side_and_never_two_runs_on_one_state_file(tmp_path):
    connections = tmp_path / "connections"
    with running_postgres() as pg, converged_env(connections / "acme") as acme, \
            converged_env(connections / "globex") as globex:
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
        workspace = tmp_path / "workspace.yaml"
        workspace.write_text(yaml.safe_dump({"load_from": [
            {"python_module": {"module_name": "crm_sync.connections", "attribute": name, "location_name": name}}
            for name in ("acme", "globex")]}))
        env = {**os.environ, **pg.env(), "DAGSTER_HOME": str(home), "CRM_SYNC_CONNECTIONS": str(connections)}
        with _dagster_dev(workspace, env, tmp_path / "dagster_dev.log") as graphql:
            def launch(location: str) -> str:
                params = {"selector": {"repositoryLocationName": location, "repositoryName": "__repository__",
                                       "jobName": "sync_cycle"}, "runConfigData": {}}
                answer = requests.post(graphql, json={"query": LAUNCH, "variables": {"params": params}},
                                       timeout=60).json()["data"]["launchRun"]
                assert answer["__typename"] == "LaunchRunSuccess", answer
                return answer["run"]["runId"]

            runs = {"acme 1": launch("acme"), "acme 2": launch("acme"), "globex": launch("globex")}
            deadline, done = time.monotonic() + 400, {}
            while len(done) < len(runs):
                assert time.monotonic() < deadline, f"runs not finished: {done}"
                for label, run_id in runs.items():
                    run = requests.post(graphql, json={"query": RUN, "variables": {"id": run_id}},
                                        timeout=30).json()["data"]["runOrError"]
                    if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                        done[label] = run
                time.sleep(2)
        assert {label: run["status"] for label, run in done.items()} == dict.fromkeys(runs, "SUCCESS")
        first, second, other = done["acme 1"], done["acme 2"], done["globex"]
        # one connection: its second run started only after its first ended (the queue held it)
        assert second["startTime"] >= first["endTime"] or first["startTime"] >= second["endTime"], done
        # two connections: side by side (globex ran while one of acme's runs did)
        assert any(other["startTime"] < a["endTime"] and a["startTime"] < other["endTime"] for a in (first, second))
        # each connection's runs wrote its own state file only
        for env_, mine in ((acme, {runs["acme 1"], runs["acme 2"]}), (globex, {runs["globex"]})):
            with env_.state() as con:
                written = {r for (r,) in con.execute("SELECT DISTINCT run_id FROM sync.api_usage").fetchall()}
            assert mine <= written and not (written & (set(runs.values()) - mine)), (written, mine)
