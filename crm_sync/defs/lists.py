"""Assets of list membership (sync.yaml `lists:`): the HubSpot lists' members, their plan against the Campaigns'
members, and the loads of both sides. Decisions are engine/lists.py's; this module runs them in Dagster."""


from dagster import AssetExecutionContext, AssetKey, Failure, MaterializeResult, asset

from crm_sync.connectors.common import MissingInCrm
from crm_sync.defs.assets import CallsDuring, _result, _send_chunks, metered
from crm_sync.defs.resources import HubSpotResource, SalesforceResource, SyncConfigResource, SyncStateResource
from crm_sync.engine import lists, outbox
from crm_sync.engine.validate import validate_outgoing

READ = AssetKey(["hubspot", "raw", "lists"])
PLAN = AssetKey(["sync", "plan", "lists"])


def list_assets(after: list[AssetKey]) -> list:
    return [_read_asset(), _plan_asset(after), _load_asset("salesforce"), _load_asset("hubspot")]


def _read_asset():
    @asset(key=READ, group_name="extract", kinds={"hubspot", "duckdb"},
           description="Each configured HubSpot list's state, and its members whenever its listVersion moved "
                       "(250 a call), into sync.list_reads and sync.list_members_read.")
    def _read(context: AssetExecutionContext, sync_config: SyncConfigResource, state: SyncStateResource,
              hubspot: HubSpotResource) -> MaterializeResult:
        connector, run_id = hubspot.connector, context.run.run_id
        calls = CallsDuring(connector.usage)
        stats = {"lists": 0, "lists_read_again": 0, "members_read": 0}
        with state.connect() as con:
            metered(connector, con, run_id)
            try:
                for name, cfg in sync_config.config.lists.items():
                    try:
                        found = connector.list_state(cfg.list)
                    except MissingInCrm as exc:
                        raise Failure(description=f"lists.{name}: {exc}") from exc
                    members = None
                    if lists.needs_members(con, name, found):
                        members = connector.list_members(str(found["listId"]))
                        stats["lists_read_again"] += 1
                        stats["members_read"] += len(members)
                    lists.record_read(con, name, found, members, run_id)
                    stats["lists"] += 1
            finally:
                outbox.record_usage(con, run_id, "hubspot", calls.snapshot())
        return _result(stats, calls.snapshot())

    return _read


def _plan_asset(after: list[AssetKey]):
    deps = [READ, AssetKey(["salesforce", "raw", "Campaign"]), AssetKey(["salesforce", "raw", "CampaignMember"]),
            *after]

    @asset(key=PLAN, group_name="plan", kinds={"duckdb"}, deps=deps,
           description="List membership <-> CampaignMembers: the three-way diff of each list against its Campaign "
                       "and what both held (sync.list_members) into sync.outbox, validated.")
    def _plan(context: AssetExecutionContext, sync_config: SyncConfigResource,
              state: SyncStateResource) -> MaterializeResult:
        run_id, stats = context.run.run_id, {}
        with state.connect() as con:
            for name, cfg in sync_config.config.lists.items():
                try:
                    counts = lists.plan_list(con, name, cfg, run_id)
                except MissingInCrm as exc:
                    raise Failure(description=f"lists.{name}: {exc}") from exc
                for key, n in counts.items():
                    stats[f"{name} {key}"] = n
                for system in ("salesforce", "hubspot"):
                    validate_outgoing(con, lists.pair_of(name), system, run_id)
        return _result(stats or {"writes_planned": 0})

    return _plan


def _load_asset(target: str):
    @asset(key=[target, "load", "lists"], group_name="load", kinds={target, "duckdb"}, deps=[PLAN],
           description=f"Sends the planned list membership writes to {target} (CampaignMember creates and deletes; "
                       "list adds and removes) and records the answers, the audit and the memberships.")
    def _load(context: AssetExecutionContext, sync_config: SyncConfigResource, state: SyncStateResource,
              salesforce: SalesforceResource, hubspot: HubSpotResource) -> MaterializeResult:
        connector, run_id = (salesforce if target == "salesforce" else hubspot).connector, context.run.run_id
        calls = CallsDuring(connector.usage)
        stats = {"sent": 0, "rejected": 0}
        with state.connect() as con:
            metered(connector, con, run_id)
            try:
                for name in sync_config.config.lists:
                    ops = lists.ops_to_send(con, name, target, sync_config.config.sync.max_attempts)
                    done = _send_chunks(connector, ops, con, run_id, also=lists.after_load)
                    stats["sent"] += done.sent
                    stats["rejected"] += done.failed
            finally:
                outbox.record_usage(con, run_id, target, calls.snapshot())
        return _result(stats, calls.snapshot())

    return _load
