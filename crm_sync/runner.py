"""Run the sync_cycle job through Dagster in this process (CLI, demo, tests), and the Dagster UI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance

from crm_sync.config import ConfigError, load_config
from crm_sync.engine import db
from crm_sync.engine.report import format_summary, run_summary


@dataclass
class CycleOutcome:
    run_id: str
    success: bool
    summary: dict
    planned_writes: int  # writes the cycle sent or tried to send


def execute_cycle(config_path: str | Path, instance: DagsterInstance | None = None,
                  verbose: bool = False, job_name: str = "sync_cycle") -> CycleOutcome:
    """One cycle through Dagster (every asset and check of sync_cycle), then the run's figures from DuckDB.

    Dagster's event log goes to the terminal with verbose; otherwise only warnings and errors do (the events
    stay in the instance).
    """
    from crm_sync.definitions import build_definitions

    defs = build_definitions(str(config_path))
    job = defs.resolve_job_def(job_name)
    run_config = {"loggers": {"console": {"config": {"log_level": "DEBUG" if verbose else "WARNING"}}}}
    result = job.execute_in_process(run_config=run_config, instance=instance or DagsterInstance.ephemeral(),
                                    raise_on_error=False)
    config = load_config(Path(config_path))
    con = db.connect(config.state_path)
    try:
        summary = run_summary(con, [result.run_id])
        attempted = con.execute("SELECT count(*) FROM sync.audit WHERE run_id = ?", [result.run_id]).fetchone()[0]
    finally:
        con.close()
    return CycleOutcome(result.run_id, result.success, summary, attempted)


def run_cycle(config_path: str, verbose: bool = False) -> int:
    try:
        outcome = execute_cycle(config_path, verbose=verbose)
    except ConfigError as exc:
        print(f"crm-sync run: {exc}", file=sys.stderr)
        return 2
    failed = "FAILED (see the errors above; --verbose prints the whole event log)"
    print(f"Run {outcome.run_id}: {'succeeded' if outcome.success else failed}")
    print(format_summary(outcome.summary))
    return 0 if outcome.success else 1


def run_reconcile(config_path: str, verbose: bool = False) -> int:
    """`crm-sync reconcile`: the reconcile job, then what it found by cause and what it healed."""
    try:
        outcome = execute_cycle(config_path, verbose=verbose, job_name="reconcile")
    except ConfigError as exc:
        print(f"crm-sync reconcile: {exc}", file=sys.stderr)
        return 2
    con = db.connect(load_config(Path(config_path)).state_path)
    try:
        found = con.execute("""SELECT pair, cause, count(*), count(*) FILTER (WHERE healed) FROM sync.drift
            WHERE run_id = ? GROUP BY ALL ORDER BY ALL""", [outcome.run_id]).fetchall()
    finally:
        con.close()
    print(f"Reconcile {outcome.run_id}: {'succeeded' if outcome.success else 'FAILED (--verbose for the log)'}")
    print("Drift found (sync.drift):" if found else "No drift: every linked pair agrees with the shadow.")
    for pair, cause, n, healed in found:
        print(f"  {pair}: {cause.replace('_', ' ')} {n} ({healed} healed by this run's writes)")
    print(format_summary(outcome.summary))
    return 0 if outcome.success else 1


def relink(config_path: str | Path, instance: DagsterInstance | None = None) -> dict:
    """Rebuild sync.links from what both CRMs hold: the extract steps through Dagster (whole reads when the state
    file is new), then the engine's linking per pair (stored cross-ids first, then natural keys). Nothing is
    planned and nothing is written to either CRM. Returns {pair: LinkResult as dict}."""
    from dagster import AssetKey

    from crm_sync.definitions import build_definitions
    from crm_sync.engine.link import link_pair
    from crm_sync.engine.mapping import extract_fields, pair_specs

    config = load_config(Path(config_path))
    specs = pair_specs(config)
    job = build_definitions(str(config_path)).resolve_job_def("sync_cycle")
    extracts = [AssetKey([system, "raw", obj]) for system, obj in extract_fields(specs)]
    result = job.execute_in_process(asset_selection=extracts, instance=instance or DagsterInstance.ephemeral(),
                                    run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                                    raise_on_error=True)
    con = db.connect(config.state_path)
    try:
        return {spec.name: link_pair(con, spec, result.run_id).as_dict() for spec in specs}
    finally:
        con.close()


def run_relink(config_path: str) -> int:
    try:
        found = relink(config_path)
    except ConfigError as exc:
        print(f"crm-sync relink: {exc}", file=sys.stderr)
        return 2
    print("Links rebuilt from both CRMs (nothing planned or written):")
    for pair, counts in found.items():
        made = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items() if v)
        print(f"  {pair}: {made or 'no new links'}")
    return 0


def run_ui(config_path: str, port: int = 3000) -> int:
    """Start the sandbox when sync.yaml uses it, then `dagster dev`; Ctrl-C or SIGTERM stops both."""
    import importlib.util

    config = load_config(Path(config_path))
    if importlib.util.find_spec("dagster_webserver") is None:
        print("crm-sync ui: the Dagster UI is not installed; it comes with the `ui` extra: "
              "pip install 'crm-sync[ui]'", file=sys.stderr)
        return 2
    home = Path("data/dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DAGSTER_HOME": str(home), "CRM_SYNC_CONFIG": str(Path(config_path).resolve())}
    cmd = [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml", "-p", str(port)]

    def interrupt(signum, frame):
        raise KeyboardInterrupt  # SIGTERM takes the same way out as Ctrl-C: stop dagster dev, then the sandbox

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a shell's `&` leaves SIGINT ignored

    def default_sigint() -> None:
        # dagster dev stops its webserver and daemon on SIGINT, which it would inherit as ignored from a
        # background shell; its own process group, so a stop reaches the children it starts.
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    def serve_ui() -> int:
        # Popen (not a shell in the background) so the stop reaches dagster dev.
        proc = subprocess.Popen(cmd, env=env, preexec_fn=default_sigint, start_new_session=True)  # noqa: PLW1509
        try:
            return proc.wait()
        except KeyboardInterrupt:
            return _stop_group(proc)

    if config.connections.salesforce.kind == "sandbox" or config.connections.hubspot.kind == "sandbox":
        from crm_sync.cli import sandbox_module

        server = sandbox_module("ui").server
        directory = (config.connections.salesforce.sandbox_dir if config.connections.salesforce.kind == "sandbox"
                     else config.connections.hubspot.sandbox_dir)
        with server.running_sandbox(directory):  # any free ports: the connectors read them from sandbox.json
            return serve_ui()
    return serve_ui()


def _stop_group(proc: subprocess.Popen, grace: float = 20.0) -> int:
    """SIGINT to dagster dev's process group (its clean stop), then SIGTERM and SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The group may still hold the webserver or daemon a moment after dagster dev itself exits.
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return 0
            time.sleep(0.1)
    return 0
