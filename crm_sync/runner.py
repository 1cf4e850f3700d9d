"""Run the sync_cycle job through Dagster in this process (CLI, demo, tests), and the Dagster UI."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
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


INSTANCE_YAML = """# Written by crm-sync: the instance its CLI and `crm-sync ui` share (SQLite storage in this folder).
# DuckDB takes one writing process per file: runs launched from the UI queue and go one at a time.
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 1
telemetry:
  enabled: false
"""


def dagster_home(config) -> Path:
    """Where the CLI's runs are recorded: $DAGSTER_HOME when set, else the config's dagster_home."""
    home = Path(os.environ.get("DAGSTER_HOME") or config.dagster_home).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(INSTANCE_YAML)
    return home


@contextlib.contextmanager
def recorded(config_path: str | Path) -> Iterator[DagsterInstance]:
    """The persistent instance of this configuration: a run made through it shows in `crm-sync ui`'s history,
    with its materializations, check results and metadata plots."""
    instance = DagsterInstance.from_config(str(dagster_home(load_config(Path(config_path)))))
    try:
        yield instance
    finally:
        instance.dispose()


def execute_cycle(config_path: str | Path, instance: DagsterInstance | None = None,
                  verbose: bool = False, job_name: str = "sync_cycle", progress: bool | str = False) -> CycleOutcome:
    """One cycle through Dagster (every asset and check of sync_cycle), then the run's figures from DuckDB.

    Dagster's event log goes to the terminal with verbose; otherwise only warnings and errors do (the events
    stay in the instance). progress: a live table of the steps on the terminal (crm_sync/progress.py), kept
    after the run, or "transient": shown only while it runs.
    """
    from crm_sync.definitions import build_definitions

    defs = build_definitions(str(config_path))
    job = defs.resolve_job_def(job_name)
    instance = instance or DagsterInstance.ephemeral()
    run_id = str(uuid.uuid4())
    checks = frozenset(spec.name for c in defs.asset_checks for spec in c.check_specs)
    with _live(progress, instance, run_id, f"{job_name} {run_id[:8]}", checks):
        result = job.execute_in_process(run_config=_console("DEBUG" if verbose else "WARNING"), instance=instance,
                                        raise_on_error=False, run_id=run_id)
    config = load_config(Path(config_path))
    with db.opened_for(config) as con:
        summary = run_summary(con, [result.run_id])
        attempted = con.execute("SELECT count(*) FROM sync.audit WHERE run_id = ?", [result.run_id]).fetchone()[0]
    return CycleOutcome(result.run_id, result.success, summary, attempted)


def _live(progress: bool | str, instance: DagsterInstance, run_id: str, title: str, checks: frozenset[str]):
    if not progress:
        return contextlib.nullcontext()
    from crm_sync.progress import live

    return live(instance, run_id, title, checks, transient=progress == "transient")


def write_event_log(instance: DagsterInstance, run_id: str) -> Path:
    """The run's Dagster event log as text, one event a line, in <instance>/logs/<run_id>.log."""
    path = Path(instance.root_directory) / "logs" / f"{run_id}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for entry in instance.all_logs(run_id):
            stamp = dt.datetime.fromtimestamp(entry.timestamp, dt.UTC).isoformat(timespec="milliseconds")
            kind = entry.dagster_event.event_type_value if entry.dagster_event else entry.level
            step = f" [{entry.step_key}]" if entry.step_key else ""
            out.write(f"{stamp} {kind}{step} {entry.user_message or entry.message}\n")
    return path


def run_cycle(config_path: str, verbose: bool = False) -> int:
    try:
        with recorded(config_path) as instance:
            outcome = execute_cycle(config_path, instance=instance, verbose=verbose, progress=not verbose)
            log = write_event_log(instance, outcome.run_id)
    except ConfigError as exc:
        print(f"crm-sync run: {exc}", file=sys.stderr)
        return 2
    failed = f"FAILED (see the errors above, the event log in {log}; --verbose prints it here too)"
    print(f"Run {outcome.run_id}: {'succeeded' if outcome.success else failed}")
    print(format_summary(outcome.summary))
    config = load_config(Path(config_path))
    print(f"Dagster's event log: {log}")
    print(f"Recorded in {dagster_home(config)} (`crm-sync ui` shows it).", end=" ")
    if not config.schedule.enabled:
        print(f"The schedule ({config.schedule.cron}) is off: set schedule.enabled: true in sync.yaml, or turn "
              "sync_cycle_schedule on in the UI.")
    else:
        print(f"The schedule runs the cycle at {config.schedule.cron} while the Dagster daemon runs.")
    return 0 if outcome.success else 1


@dataclass
class PlanOutcome:
    run_id: str
    success: bool
    writes: object  # pandas frame: one row per write the next load sends (engine/preview.py)
    summary: object  # counts by pair, target and action
    diffs: object  # a sample of field changes: old -> new, mapping, rule


def execute_plan(config_path: str | Path, instance: DagsterInstance | None = None, sample: int = 20) -> PlanOutcome:
    """The `plan` job (extract, link, plan, validate; no load) through Dagster, then what the next load sends."""
    from crm_sync.definitions import build_definitions
    from crm_sync.engine import preview
    from crm_sync.engine.mapping import pair_specs

    config = load_config(Path(config_path))
    job = build_definitions(str(config_path)).resolve_job_def("plan")
    result = job.execute_in_process(run_config=_console("WARNING"), instance=instance or DagsterInstance.ephemeral(),
                                    raise_on_error=False)
    specs, attempts = pair_specs(config), config.sync.max_attempts
    with db.opened_for(config) as con:
        return PlanOutcome(result.run_id, result.success, preview.writes(con, specs, attempts),
                           preview.summary(con, specs, attempts), preview.field_diffs(con, specs, attempts, sample))


def run_plan(config_path: str, json_path: str | None = None, sample: int = 20) -> int:
    """`crm-sync plan`: the next cycle's writes without sending any (they wait in the outbox for the next run)."""
    import json

    from rich.console import Console
    from rich.table import Table

    try:
        with recorded(config_path) as instance:
            outcome = execute_plan(config_path, instance=instance, sample=sample)
    except ConfigError as exc:
        print(f"crm-sync plan: {exc}", file=sys.stderr)
        return 2
    console = Console()
    if not outcome.success:
        console.print(f"Plan run {outcome.run_id} FAILED (see the errors above); what it planned so far is below.")
    if outcome.summary.empty:
        console.print("The next run writes nothing: both CRMs agree with what the sync last read.")
    else:
        table = Table(title=f"The next run's writes ({len(outcome.writes):,}; nothing sent)")
        for column in ("pair", "target", "action", "writes"):
            table.add_column(column, justify="right" if column == "writes" else "left")
        for row in outcome.summary.itertuples():
            table.add_row(row.pair, row.target, row.action, f"{row.writes:,}")
        console.print(table)
        diffs = Table(title=f"A sample of field changes (first {sample})")
        for column in ("pair", "target", "object", "action", "record", "field", "old", "new", "mapping", "rule"):
            diffs.add_column(column, overflow="fold")
        for row in outcome.diffs.itertuples():
            diffs.add_row(*(str(v) if v is not None and v == v else "" for v in row[1:]))
        console.print(diffs)
    if json_path:
        document = {"run_id": outcome.run_id, "success": outcome.success,
                    "by_pair": outcome.summary.to_dict("records"), "writes": outcome.writes.to_dict("records"),
                    "field_diffs": outcome.diffs.astype(object).where(outcome.diffs.notna(), None).to_dict("records")}
        Path(json_path).write_text(json.dumps(document, indent=2, default=str))
        console.print(f"Written to {json_path}.")
    return 0 if outcome.success else 1


def run_check(config_path: str) -> int:
    """`crm-sync check`: the mappings against both CRMs' live metadata (describe, properties) and the data last
    read, without syncing. Exit 1 when a mapping cannot work (errors), 0 otherwise (warnings printed)."""

    from crm_sync.defs.resources import hubspot_connector, salesforce_connector
    from crm_sync.engine import metadata
    from crm_sync.engine.check import check
    from crm_sync.engine.mapping import extract_fields, pair_specs

    try:
        config = load_config(Path(config_path))
    except ConfigError as exc:
        print(f"crm-sync check: {exc}", file=sys.stderr)
        return 2
    specs = pair_specs(config)
    connectors = {"salesforce": salesforce_connector(config), "hubspot": hubspot_connector(config)}
    config.state_path.parent.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    with db.opened_for(config) as con:
        for (system, obj), (_fields, cross_id) in extract_fields(specs).items():
            if cross_id is not None:
                metadata.store(con, system, obj, connectors[system].field_metadata(obj), "crm-sync check", now)
        found = check(con, specs)
    for finding in found:
        print(finding)
    errors = sum(f.level == "error" for f in found)
    print(f"{len(found) - errors} warning(s), {errors} error(s)" if found else "Every mapping fits both CRMs.")
    return 1 if errors else 0


RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@dataclass
class BackfillBatch:
    partitions: list[str]
    run_id: str
    success: bool
    rows_read: int
    writes: int
    api_calls: int
    error: str | None = None


def _console(level: str) -> dict:
    """Run config: Dagster's console log at this level (the events stay in the instance)."""
    return {"loggers": {"console": {"config": {"log_level": level}}}}


def _backfill_job(config_path: str | Path, first: str | None, last: str | None):
    """(config, the backfill job, its partition keys from first to last)."""
    from crm_sync.definitions import build_definitions

    config = load_config(Path(config_path))
    job = build_definitions(str(config_path)).resolve_job_def("backfill")
    keys = [k for k in job.partitions_def.get_partition_keys() if (first is None or k >= first)
            and (last is None or k <= last)]
    return config, job, keys


def backfill_batches(config_path: str | Path, instance: DagsterInstance | None = None, again: bool = False,
                     first: str | None = None, last: str | None = None):
    """Run the backfill job over its partitions, backfill.partitions_per_run a run, oldest first; yields a
    BackfillBatch per run, then stops at the first run that fails. Partitions already read are skipped (unless
    again): running `crm-sync backfill` again resumes."""
    config, job, keys = _backfill_job(config_path, first, last)
    yield from _backfill_ranges(config, job, keys, instance or DagsterInstance.ephemeral(), again)


def _backfill_ranges(config, job, keys: list[str], instance: DagsterInstance, again: bool):
    from crm_sync.defs.assets import Backfill

    objects = len(Backfill(config).objects)
    # a partition is done once every object of it was read
    with db.opened_for(config) as con:
        done = {k for (k,) in con.execute("SELECT partition_key FROM sync.backfill_reads GROUP BY partition_key "
                                          "HAVING count(*) = ?", [objects]).fetchall()}
    todo = keys if again else [k for k in keys if k not in done]
    size = config.backfill.partitions_per_run
    for start in range(0, len(todo), size):
        # A run takes a contiguous range: split where a partition in between was done already.
        for part in _contiguous(todo[start:start + size], keys):
            result = job.execute_in_process(tags={RANGE_START: part[0], RANGE_END: part[-1]}, instance=instance,
                                            raise_on_error=False, run_config=_console("ERROR"))
            yield _batch_figures(config, part, result)
            if not result.success:
                return


def _contiguous(batch: list[str], keys: list[str]) -> list[list[str]]:
    position = {k: n for n, k in enumerate(keys)}
    parts: list[list[str]] = []
    for k in batch:
        if parts and position[k] == position[parts[-1][-1]] + 1:
            parts[-1].append(k)
        else:
            parts.append([k])
    return parts


def _batch_figures(config, part: list[str], result) -> BackfillBatch:
    with db.opened_for(config) as con:
        rows = con.execute("SELECT COALESCE(sum(rows_read), 0) FROM sync.backfill_reads "
                           "WHERE list_contains(?, partition_key)", [part]).fetchone()[0]
        writes = con.execute("SELECT count(*) FROM sync.audit WHERE run_id = ?", [result.run_id]).fetchone()[0]
        calls = con.execute("SELECT COALESCE(sum(calls), 0) FROM sync.api_usage WHERE run_id = ?",
                            [result.run_id]).fetchone()[0]
    error = None
    if not result.success:
        failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        error = str(failures[0].event_specific_data.error.message).strip() if failures else "the run failed"
    return BackfillBatch(part, result.run_id, result.success, int(rows), int(writes), int(calls), error)


def run_backfill(config_path: str, again: bool = False, first: str | None = None, last: str | None = None) -> int:
    """`crm-sync backfill`: the backfill job partition range by range, with progress (rich) on the terminal."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=False)
    try:
        config, job, wanted = _backfill_job(config_path, first, last)
    except ConfigError as exc:
        print(f"crm-sync backfill: {exc}", file=sys.stderr)
        return 2
    totals = {"rows": 0, "writes": 0, "calls": 0}
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("left"), TimeRemainingColumn()]
    with contextlib.ExitStack() as stack, Progress(*columns, console=console) as progress:
        overall = progress.add_task(f"backfill ({config.backfill.partition}ly partitions)", total=len(wanted))
        instance = stack.enter_context(recorded(config_path))
        for batch in _backfill_ranges(config, job, wanted, instance, again):
            totals["rows"] += batch.rows_read
            totals["writes"] += batch.writes
            totals["calls"] += batch.api_calls
            label = batch.partitions[0] if len(batch.partitions) == 1 else f"{batch.partitions[0]} .. " \
                                                                            f"{batch.partitions[-1]}"
            task = progress.add_task(f"  {label}", total=len(batch.partitions), completed=len(batch.partitions))
            progress.update(task, description=f"  {label}: {batch.rows_read:,} read, {batch.writes:,} written, "
                                              f"{batch.api_calls:,} API calls" + ("" if batch.success else " FAILED"))
            progress.update(overall, advance=len(batch.partitions) if batch.success else 0,
                            description=f"backfill: {totals['rows']:,} read, {totals['writes']:,} written, "
                                        f"{totals['calls']:,} API calls")
            if not batch.success:
                progress.stop()
                done = progress.tasks[overall].completed
                print(f"crm-sync backfill stopped in {label} ({done:.0f} of {len(wanted)} partitions done): "
                      f"{batch.error}\nNothing of the failed range is lost: run `crm-sync backfill` again "
                      "to resume from it.", file=sys.stderr)
                return 1
        progress.update(overall, completed=len(wanted))
    with db.opened_for(config) as con:
        links = dict(con.execute("SELECT pair, count(*) FROM sync.links GROUP BY ALL ORDER BY ALL").fetchall())
    print(f"Backfill done: {totals['rows']:,} records read, {totals['writes']:,} writes, {totals['calls']:,} API "
          f"calls; links {links}. The incremental cycle (`crm-sync run`, the schedule) takes over from where the "
          "backfill began.")
    return 0


def run_reconcile(config_path: str, verbose: bool = False) -> int:
    """`crm-sync reconcile`: the reconcile job, then what it found by cause and what it healed."""
    try:
        with recorded(config_path) as instance:
            outcome = execute_cycle(config_path, instance=instance, verbose=verbose, job_name="reconcile")
    except ConfigError as exc:
        print(f"crm-sync reconcile: {exc}", file=sys.stderr)
        return 2
    config = load_config(Path(config_path))
    with db.opened_for(config) as con:
        found = con.execute("""SELECT pair, cause, count(*), count(*) FILTER (WHERE healed) FROM sync.drift
            WHERE run_id = ? GROUP BY ALL ORDER BY ALL""", [outcome.run_id]).fetchall()
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
                                    run_config=_console("WARNING"), raise_on_error=True)
    with db.opened_for(config) as con:
        return {spec.name: link_pair(con, spec, result.run_id).as_dict() for spec in specs}


def run_relink(config_path: str) -> int:
    try:
        with recorded(config_path) as instance:
            found = relink(config_path, instance=instance)
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
    home = dagster_home(config)
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
