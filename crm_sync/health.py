"""`crm-sync errors`, `crm-sync retry` and `crm-sync schema`: what the sync could not write, grouped by cause,
re-queued on demand; the JSON schema of sync.yaml for editors. No Dagster here: these read and change the state
file only (engine/errors.py), or print the models' schema."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table

from crm_sync.config import ConfigError, load_config
from crm_sync.config.models import SyncConfig
from crm_sync.engine import db
from crm_sync.engine import errors as engine_errors


def _state(config_path: str, verb: str):
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"crm-sync {verb}: {exc}", file=sys.stderr)
        return None
    if not config.state_path.exists():
        print(f"crm-sync {verb}: no state at {config.state_path} yet (nothing has run)", file=sys.stderr)
        return None
    return config


def run_errors(config_path: str, code: str | None = None, field: str | None = None, system: str | None = None,
               as_json: bool = False) -> int:
    """Open errors by cause with counts and samples; exit 0 whether or not there are any (1: unreadable)."""
    config = _state(config_path, "errors")
    if config is None:
        return 2
    with db.opened_for(config) as con:
        found = engine_errors.groups(con, code=code, field=field, system=system)
    if as_json:
        rows = found.assign(records=found["records"].map(list), first_seen=found["first_seen"].astype(str),
                            last_seen=found["last_seen"].astype(str)).to_dict("records")
        print(json.dumps(rows, indent=2, default=str))
        return 0
    console = Console()
    if found.empty:
        console.print("No open errors: every value the sync decided to write was written.")
        return 0
    table = Table(title=f"Open errors by cause ({int(found['errors'].sum()):,} in {len(found)} groups)")
    for column in ("kind", "system", "object", "code", "field", "errors", "sample records", "message"):
        table.add_column(column, overflow="fold", justify="right" if column == "errors" else "left")
    for row in found.itertuples():
        table.add_row(row.kind, row.system, row.object, row.code, row.field, f"{row.errors:,}",
                      ", ".join(str(r) for r in row.records), str(row.message)[:160])
    console.print(table)
    for kind in sorted(set(found["kind"])):
        console.print(f"[bold]{kind}[/]: {engine_errors.NEXT_STEP.get(kind, '')}")
    return 0


def run_retry(config_path: str, code: str | None = None, field: str | None = None,
              system: str | None = None) -> int:
    config = _state(config_path, "retry")
    if config is None:
        return 2
    with db.opened_for(config) as con:
        done = engine_errors.retry(con, code=code, field=field, system=system)
    print(f"Re-queued {done.requeued:,} refused write(s): the next run (`crm-sync run`) sends them.")
    for kind, n in sorted(done.left.items()):
        print(f"  {n:,} {kind} error(s) of this selection are not re-queued: {engine_errors.NEXT_STEP[kind]}")
    return 0


def run_schema() -> int:
    """The JSON schema of sync.yaml (pydantic), for editors: `crm-sync schema > sync.schema.json`."""
    schema = SyncConfig.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "crm-sync sync.yaml"
    print(json.dumps(schema, indent=2))
    return 0


def run_explain(config_path: str, key: str, as_json: bool = False, fresh: bool = False) -> int:
    """`crm-sync explain <email | HubSpot id | Salesforce id>`: exit 0 when found, 1 when nothing has that key.
    fresh: run the plan job first (read, link, plan, validate; nothing sent), so what the next cycle would do
    includes changes not read yet; its writes wait in the outbox for the next run, as `crm-sync plan`'s do."""
    from crm_sync.engine.explain import explain
    from crm_sync.engine.mapping import pair_specs

    config = _state(config_path, "explain")
    if config is None:
        return 2
    if fresh:
        from crm_sync.runner import execute_plan, recorded

        with recorded(config_path) as instance:
            planned = execute_plan(config_path, instance=instance, sample=0)
        if not planned.success:
            print(f"crm-sync explain: the plan run {planned.run_id} failed (see the errors above); what follows is "
                  "the state as it last was", file=sys.stderr)
    with db.opened_for(config) as con:
        found = explain(con, pair_specs(config), key, config.sync.max_attempts)
    if as_json:
        print(json.dumps(found, indent=2, default=str))
        return 0 if found else 1
    console = Console()
    if not found:
        console.print(f"No record with id or email {key!r} in the state (read by a sync yet?).")
        return 1
    for entry in found:
        rec, link = entry["record"], entry["link"]
        console.rule(f"{entry['pair']}: {rec['system']} {rec['object']} {rec['id']}" + (f" <{rec['email']}>"
                                                                                      if rec["email"] else ""))
        if link:
            console.print(f"Linked: HubSpot {link['hubspot_id']} <-> Salesforce {link['salesforce_object']} "
                          f"{link['salesforce_id']}, by {link['how']} ({link['linked_at']})")
        else:
            console.print("Not linked.")
        console.print("[green]In sync.[/]" if entry["in_sync"] else "[yellow]Not in sync:[/]")
        for reason in entry["reasons"]:
            console.print(f"  - {reason}")
        if entry["last_synced"]:
            table = Table(title="Last synced values")
            for column in ("field", "HubSpot", "Salesforce"):
                table.add_column(column, overflow="fold")
            for field, (hs, sf) in entry["last_synced"].items():
                table.add_row(field, str(hs if hs is not None else ""), str(sf if sf is not None else ""))
            console.print(table)
        for write in entry["next_writes"]:
            when = "next run" if write["due"] else f"{write['status']}, {write['attempts']} attempt(s)"
            console.print(f"Next: {write['action']} {write['target']} {write['object']} "
                          f"{write['target_id'] or '(new)'} {write['payload']} ({when}) {write['last_error'] or ''}",
                          markup=False)
    return 0
