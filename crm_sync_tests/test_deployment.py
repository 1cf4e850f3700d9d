"""Production deployment: Dagster's runs, events and schedule state in a real PostgreSQL (deploy/dagster.postgres.yaml,
credentials from the environment), written by a CLI run and read by the UI."""

from __future__ import annotations

import shutil

import requests

from crm_sync.cli import main
from crm_sync_tests.postgres import running_postgres
from crm_sync_tests.sync_harness import ROOT, converged_env
from crm_sync_tests.test_ui import RUNS, _ui, _ui_config

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
        run_id = capsys.readouterr().out.split()[1].rstrip(":")

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
