"""A live view of a run on the terminal (rich): a line per stage and pair, filled in from the run's Dagster events.

The run executes in this process; a background thread reads its events from the instance twice a second and
redraws one table: each step's state (waiting steps are not shown, the running one has a spinner), records
read, writes planned, written and rejected, API calls and seconds, from the metadata its asset reported. On a
terminal the table updates in place; elsewhere (a pipe, CI) only the final table is printed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from dagster import DagsterEventType, DagsterInstance
from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table

EVENTS = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE,
          DagsterEventType.STEP_SKIPPED, DagsterEventType.ASSET_MATERIALIZATION,
          DagsterEventType.ASSET_CHECK_EVALUATION}
STAGES = {"raw": "read", "backfill": "read", "plan": "plan", "load": "write"}


@dataclass
class Step:
    label: str
    state: str = "running"
    started: float = 0.0
    ended: float | None = None
    read: int | None = None
    planned: int | None = None
    written: int | None = None
    rejected: int | None = None
    calls: int | None = None
    check: str | None = None  # an asset check's outcome


def _label(step_key: str, checks: frozenset[str]) -> str | None:
    """'hubspot__raw__contacts' -> 'read   hubspot contacts', 'sync__plan__people_links_one_to_one' -> 'check
    people links_one_to_one'; other steps have no line."""
    parts = step_key.split("__", 2)
    if len(parts) != 3 or parts[1] not in STAGES:
        return None
    system, stage, name = parts
    check = next((c for c in checks if name.endswith(f"_{c}")), None)
    if check is not None:
        target = "" if system == "sync" else f"{system} "
        return f"check  {target}{name.removesuffix(f'_{check}')} {check}"
    return f"{STAGES[stage]:<6} {name}" if system == "sync" else f"{STAGES[stage]:<6} {system} {name}"


def _number(metadata: dict, key: str) -> int | None:
    value = metadata.get(key)
    return int(value.value) if value is not None and isinstance(value.value, int | float) else None


def _figures(step: Step, metadata: dict) -> None:
    step.read = _number(metadata, "rows_read")
    planned = [_number(metadata, k) for k in metadata if k.startswith(("creates_", "updates_")) or k == "deletes"]
    if any(p is not None for p in planned):
        step.planned = sum(p or 0 for p in planned)
    step.written, step.rejected = _number(metadata, "sent"), _number(metadata, "rejected")
    step.calls = _number(metadata, "api_calls")


def steps_of(instance: DagsterInstance, run_id: str, checks: frozenset[str] = frozenset()) -> list[Step]:
    """The run's steps so far, in the order they started, with their figures; checks: the names of the job's
    asset checks (their steps show as checks, passed or failed)."""
    steps: dict[str, Step] = {}
    for entry in instance.all_logs(run_id, of_type=EVENTS):
        label = _label(entry.step_key or "", checks)
        if label is None:
            continue
        kind = entry.dagster_event_type
        step = steps.setdefault(entry.step_key, Step(label, started=entry.timestamp))
        if kind == DagsterEventType.ASSET_MATERIALIZATION:
            _figures(step, entry.dagster_event.event_specific_data.materialization.metadata)
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            step.check = "passed" if entry.dagster_event.event_specific_data.passed else "failed"
        elif kind != DagsterEventType.STEP_START:
            step.state = {DagsterEventType.STEP_SUCCESS: "done", DagsterEventType.STEP_FAILURE: "failed",
                          DagsterEventType.STEP_SKIPPED: "skipped"}[kind]
            step.ended = entry.timestamp
    return list(steps.values())


def table(steps: list[Step], title: str) -> Table:
    view = Table(title=title, title_justify="left", box=None, pad_edge=False)
    view.add_column("")
    view.add_column("step", no_wrap=True, overflow="ellipsis")
    for name in ("read", "planned", "written", "rejected", "API calls", "s"):
        view.add_column(name, justify="right")

    def cell(n: int | None) -> str:
        return "" if n is None else f"{n:,}"

    for s in steps:
        mark = Spinner("dots") if s.state == "running" else {"done": "[green]✓", "failed": "[red]✗",
                                                              "skipped": "[yellow]-"}[s.state]
        if s.check == "failed":
            mark = "[yellow]![/yellow]"
        seconds = (s.ended or time.time()) - s.started
        label = f"{s.label}: {s.check}" if s.check else s.label
        view.add_row(mark, label, cell(s.read), cell(s.planned), cell(s.written), cell(s.rejected),
                     cell(s.calls), f"{seconds:.1f}")
    return view


@contextlib.contextmanager
def live(instance: DagsterInstance, run_id: str, title: str, checks: frozenset[str] = frozenset(),
         console: Console | None = None, transient: bool = False) -> Iterator[None]:
    """Show the run's steps while the block runs it (run_id given to execute_in_process), and the final table.
    transient: on a terminal the table goes when the run ends; elsewhere nothing is shown."""
    if transient and not (console or Console()).is_terminal:
        yield
        return
    if console is None:
        console = Console()
        if not console.is_terminal:  # a log file or pipe: wide enough for a line per step
            console = Console(width=max(console.width, 110))
    stop = threading.Event()
    with Live(table([], title), console=console, refresh_per_second=4, transient=transient) as view:
        def follow() -> None:
            while not stop.wait(0.5):
                with contextlib.suppress(Exception):  # a read racing the run's own writes: the next one shows it
                    view.update(table(steps_of(instance, run_id, checks), title))

        thread = threading.Thread(target=follow, name="crm-sync-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            view.update(table(steps_of(instance, run_id, checks), title))
    if not console.is_terminal and not transient:
        console.line()
