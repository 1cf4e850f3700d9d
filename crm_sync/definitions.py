"""crm-sync's Dagster Definitions: the sync_cycle job over the pairs in sync.yaml (or the file CRM_SYNC_CONFIG names).

Loaded lazily (`@definitions`): nothing is read at import; the config file is read when Dagster loads the code
location, secrets only when a run sets up its resources.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
    definitions,
    in_process_executor,
)

from crm_sync.config import load_config
from crm_sync.defs.assets import LOOKUPS, RECONCILE_TAG, build_assets
from crm_sync.defs.checks import pair_checks
from crm_sync.defs.resources import HubSpotResource, SalesforceResource, SyncConfigResource, SyncStateResource
from crm_sync.engine.mapping import pair_specs

STATE_FILE_TAG = "crm_sync/state_file"  # every run of a connection's jobs: the DuckDB file it writes


def build_definitions(config_path: str | Path = "sync.yaml") -> Definitions:
    config_path = str(config_path)
    config = load_config(Path(config_path))
    assets = build_assets(config)
    checks = [c for spec in pair_specs(config) for c in pair_checks(spec)]
    # DuckDB takes one writing process per file: every step of a cycle runs in this one process.
    incremental = AssetSelection.all() - AssetSelection.groups("backfill")
    # ... and one run at a time per state file: a queue that admits one run per value of this tag (the
    # run_coordinator of deploy/dagster.postgres.yaml) lets several connections run side by side, never two
    # runs of one connection.
    tags = {STATE_FILE_TAG: str(Path(config.state_path).expanduser().resolve())}
    sync_cycle = define_asset_job("sync_cycle", selection=incremental, executor_def=in_process_executor, tags=tags,
                                  description="One sync cycle: extract both sides, link, plan, validate, load.")
    lookups = AssetSelection.assets(*[AssetKey([system, "raw", obj]) for system, obj in sorted(LOOKUPS)])
    backfill = define_asset_job(
        "backfill", selection=AssetSelection.groups("backfill", "plan", "load") | lookups,
        executor_def=in_process_executor, tags=tags,  # partitioned like its backfill assets (Dagster infers it)
        description="The initial sync, by creation-time partitions (backfill.partitions_per_run a run): read both "
                    "sides' records created in the window, link, plan, validate, load. Creates wait until every "
                    "partition is read; the incremental cycle starts where the backfill began.")
    plan = define_asset_job(
        "plan", selection=AssetSelection.groups("extract", "plan"), executor_def=in_process_executor, tags=tags,
        description="The next cycle without its writes: extract, link, plan and validate into the outbox; "
                    "`crm-sync plan` (or each plan asset's next_load metadata) shows what the next run will send.")
    status = DefaultScheduleStatus.RUNNING if config.schedule.enabled else DefaultScheduleStatus.STOPPED
    schedule = ScheduleDefinition(name="sync_cycle_schedule", job=sync_cycle, cron_schedule=config.schedule.cron,
                                  default_status=status)
    reconcile = define_asset_job(
        "reconcile", selection=incremental, executor_def=in_process_executor, tags={**tags, RECONCILE_TAG: "true"},
        description="The safety net: read both CRMs whole, compare every linked pair with the shadow, record what "
                    "disagrees in sync.drift (counts by cause in the plan's metadata) and heal it.")
    reconcile_schedule = ScheduleDefinition(name="reconcile_schedule", job=reconcile,
                                            cron_schedule=config.schedule.reconcile_cron, default_status=status)
    return Definitions(
        assets=assets, asset_checks=checks, jobs=[sync_cycle, reconcile, backfill, plan],
        schedules=[schedule, reconcile_schedule],
        resources={"sync_config": SyncConfigResource(path=config_path),
                   "state": SyncStateResource(config_path=config_path),
                   "salesforce": SalesforceResource(config_path=config_path),
                   "hubspot": HubSpotResource(config_path=config_path)})


@definitions
def defs() -> Definitions:
    """crm-sync's own code location, loaded through its component as a dg project's defs.yaml would load it."""
    from dagster import build_defs_for_component

    from crm_sync.components import CrmSync

    config = Path(os.environ.get("CRM_SYNC_CONFIG", "sync.yaml")).resolve()
    return build_defs_for_component(CrmSync(config_path=str(config)))
