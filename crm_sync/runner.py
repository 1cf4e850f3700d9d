"""Run the sync_cycle job through Dagster in this process (CLI, demo, tests), and the Dagster UI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance

from crm_sync.config.models import ConfigError, load_config
from crm_sync.engine import db
from crm_sync.engine.report import format_summary, run_summary


@dataclass
class CycleOutcome:
    run_id: str
    success: bool
    summary: dict
    planned_writes: int  # writes the cycle sent or tried to send


def execute_cycle(config_path: str | Path, instance: DagsterInstance | None = None) -> CycleOutcome:
    """One cycle through Dagster (every asset and check of sync_cycle), then the run's figures from DuckDB."""
    from crm_sync.definitions import build_definitions

    defs = build_definitions(str(config_path))
    job = defs.resolve_job_def("sync_cycle")
    result = job.execute_in_process(instance=instance or DagsterInstance.ephemeral(), raise_on_error=False)
    config = load_config(Path(config_path))
    con = db.connect(config.state_path)
    try:
        summary = run_summary(con, [result.run_id])
        attempted = con.execute("SELECT count(*) FROM sync.audit WHERE run_id = ?", [result.run_id]).fetchone()[0]
    finally:
        con.close()
    return CycleOutcome(result.run_id, result.success, summary, attempted)


def run_cycle(config_path: str) -> int:
    try:
        outcome = execute_cycle(config_path)
    except ConfigError as exc:
        print(f"crm-sync run: {exc}", file=sys.stderr)
        return 2
    print(f"Run {outcome.run_id}: {'succeeded' if outcome.success else 'FAILED (see the Dagster logs above)'}")
    print(format_summary(outcome.summary))
    return 0 if outcome.success else 1


def run_ui(config_path: str, port: int = 3000) -> int:
    """Start the sandbox when sync.yaml uses it, then `dagster dev`; Ctrl-C stops both."""
    from crm_sync.sandbox.server import running_sandbox

    config = load_config(Path(config_path))
    home = Path("data/dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DAGSTER_HOME": str(home), "CRM_SYNC_CONFIG": str(Path(config_path).resolve())}
    cmd = [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml", "-p", str(port)]

    def interrupt(signum, frame):
        raise KeyboardInterrupt  # SIGTERM takes the same way out as Ctrl-C: stop dagster dev, then the sandbox

    signal.signal(signal.SIGTERM, interrupt)

    def serve_ui() -> int:
        # Popen (not a shell in the background) so SIGTERM reaches dagster dev.
        proc = subprocess.Popen(cmd, env=env)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            return proc.wait()

    if config.connections.salesforce.kind == "sandbox":
        with running_sandbox(config.connections.salesforce.sandbox_dir, sf_port=8443, hs_port=8090):
            return serve_ui()
    return serve_ui()
