"""Assets of one sync cycle: extract per object and side, link and plan per pair, load per pair and side."""


import datetime as dt

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from crm_sync.config.models import SyncConfig
from crm_sync.connectors.common import ApiUsage
from crm_sync.defs.resources import HubSpotResource, SalesforceResource, SyncConfigResource, SyncStateResource
from crm_sync.defs.steps import (
    extract_hubspot,
    extract_owners,
    extract_salesforce,
    hubspot_objects,
    load_pair,
    salesforce_objects,
)
from crm_sync.engine.link import link_pair
from crm_sync.engine.outbox import record_usage
from crm_sync.engine.pairs import PairSpec, pair_specs
from crm_sync.engine.plan import plan_pair
from crm_sync.engine.validate import validate_outgoing


def _table(rows: dict) -> MetadataValue:
    lines = ["| name | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows.items()]
    return MetadataValue.md("\n".join(lines))


class CallsDuring:
    """API calls a shared connector made while this step ran (by endpoint)."""

    def __init__(self, usage: ApiUsage):
        self.usage, self.before = usage, usage.snapshot()

    def snapshot(self) -> dict[str, int]:
        after = self.usage.snapshot()
        return {k: v - self.before.get(k, 0) for k, v in after.items() if v != self.before.get(k, 0)}


def _result(stats: dict, usage: CallsDuring | None = None) -> MaterializeResult:
    metadata = {k: v for k, v in stats.items() if isinstance(v, int | float | str | bool)}
    if usage is not None:
        calls = usage.snapshot()
        metadata["api_calls"] = sum(calls.values())
        metadata["api_calls_by_endpoint"] = _table(calls) if calls else MetadataValue.md("(none)")
    metadata["summary"] = _table({k: v for k, v in stats.items() if not isinstance(v, dict)})
    return MaterializeResult(metadata=metadata)


def salesforce_extract_asset(obj: str, fields: list[str]):
    @asset(key=["salesforce", "raw", obj], group_name="extract", kinds={"salesforce", "duckdb"},
           description=f"Salesforce {obj} changes since the cursor (deletes included), appended to "
                       f"raw_salesforce.{obj}; {obj}_current holds the latest version.")
    def _extract(context: AssetExecutionContext, sync_config: SyncConfigResource, state: SyncStateResource,
                 salesforce: SalesforceResource) -> MaterializeResult:
        config = sync_config.load()
        connector = salesforce.connector()
        usage = CallsDuring(connector.usage)
        with state.connect() as con:
            stats = extract_salesforce(con, connector, obj, fields,
                                       dt.timedelta(seconds=config.sync.overlap_seconds), context.run.run_id)
            record_usage(con, context.run.run_id, "salesforce", usage.snapshot())
        return _result(stats, usage)

    return _extract


def hubspot_extract_asset(obj: str, properties: list[str]):
    @asset(key=["hubspot", "raw", obj], group_name="extract", kinds={"hubspot", "duckdb"},
           description=f"HubSpot {obj} changes since the cursor, appended to raw_hubspot.{obj}.")
    def _extract(context: AssetExecutionContext, sync_config: SyncConfigResource, state: SyncStateResource,
                 hubspot: HubSpotResource) -> MaterializeResult:
        config = sync_config.load()
        connector = hubspot.connector()
        usage = CallsDuring(connector.usage)
        with state.connect() as con:
            stats = extract_hubspot(con, connector, obj, properties, config.sync, context.run.run_id,
                                    config.connections.hubspot.salesforce_id_property)
            record_usage(con, context.run.run_id, "hubspot", usage.snapshot())
        return _result(stats, usage)

    return _extract


@asset(key=["hubspot", "raw", "owners"], group_name="extract", kinds={"hubspot", "duckdb"},
       description="HubSpot owners (id, email): owner fields map to Salesforce users by email.")
def hubspot_owners(context: AssetExecutionContext, state: SyncStateResource,
                   hubspot: HubSpotResource) -> MaterializeResult:
    connector = hubspot.connector()
    usage = CallsDuring(connector.usage)
    with state.connect() as con:
        stats = extract_owners(con, connector, context.run.run_id)
        record_usage(con, context.run.run_id, "hubspot", usage.snapshot())
    return _result(stats, usage)


def _extract_keys(spec: PairSpec) -> list[AssetKey]:
    keys = [AssetKey(["hubspot", "raw", spec.hubspot_object]), AssetKey(["hubspot", "raw", "owners"]),
            AssetKey(["salesforce", "raw", "User"])]
    return keys + [AssetKey(["salesforce", "raw", o]) for o in (*spec.salesforce_objects, *spec.salesforce_children)]


def plan_asset(spec: PairSpec, after: list[AssetKey]):
    @asset(key=["sync", "plan", spec.name], group_name="plan", kinds={"duckdb"},
           deps=_extract_keys(spec) + after,
           description=f"Links {spec.hubspot_object} to {', '.join(spec.salesforce_objects)} (stored ids, then "
                       f"{spec.match_kind or 'stored ids only'}), plans the three-way diff into sync.outbox and "
                       "validates outgoing values against live metadata (pandera).")
    def _plan(context: AssetExecutionContext, state: SyncStateResource) -> MaterializeResult:
        with state.connect() as con:
            links = link_pair(con, spec, context.run.run_id)
            plan = plan_pair(con, spec, context.run.run_id, sides_built=True)
            valid_sf = validate_outgoing(con, spec.name, "salesforce", context.run.run_id)
            valid_hs = validate_outgoing(con, spec.name, "hubspot", context.run.run_id)
        stats = {**{f"links_{k}": v for k, v in links.as_dict().items()},
                 **{k: v for k, v in plan.as_dict().items() if k != "by_field"},
                 "quarantined_salesforce": valid_sf.invalid_ops, "quarantined_hubspot": valid_hs.invalid_ops}
        result = _result(stats)
        result.metadata["changes_by_field"] = _table(plan.by_field) if plan.by_field else MetadataValue.md("(none)")
        return result

    return _plan


def load_asset(spec: PairSpec, target: str, after: list[AssetKey]):
    @asset(key=[target, "load", spec.name], group_name="load", kinds={target, "duckdb"},
           deps=[AssetKey(["sync", "plan", spec.name]), *after],
           description=f"Sends the planned {spec.name} writes to {target} (upserts keyed by external ids, batches) "
                       "and records links, shadow, errors and audit.")
    def _load(context: AssetExecutionContext, sync_config: SyncConfigResource, state: SyncStateResource,
              salesforce: SalesforceResource, hubspot: HubSpotResource) -> MaterializeResult:
        config = sync_config.load()
        connector = salesforce.connector() if target == "salesforce" else hubspot.connector()
        usage = CallsDuring(connector.usage)
        with state.connect() as con:
            stats = load_pair(con, connector, target, spec, config.sync.max_attempts, context.run.run_id)
            record_usage(con, context.run.run_id, target, usage.snapshot())
        return _result(stats, usage)

    return _load


def build_assets(config: SyncConfig) -> list:
    """The asset graph for the configured pairs. Loads of earlier pairs come first (companies before people)."""
    assets = [salesforce_extract_asset(o, f) for o, f in salesforce_objects(config).items()]
    assets += [hubspot_extract_asset(o, p) for o, p in hubspot_objects(config).items()]
    assets.append(hubspot_owners)
    previous_loads: list[AssetKey] = []
    for spec in pair_specs(config):
        assets.append(plan_asset(spec, previous_loads))
        loads = [AssetKey(["salesforce", "load", spec.name]), AssetKey(["hubspot", "load", spec.name])]
        assets += [load_asset(spec, "salesforce", previous_loads), load_asset(spec, "hubspot", previous_loads)]
        previous_loads = loads
    return assets
