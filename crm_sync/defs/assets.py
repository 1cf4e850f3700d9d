"""Assets of one sync cycle: extract per object and side, link and plan per pair, load per pair and side.

Each body is a table of contents: ask the engine what to do, call the connector, hand the answer to the engine,
report. The decisions are the engine's, the HTTP the connectors'.
"""

import datetime as dt
import warnings

from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    BetaWarning,
    DailyPartitionsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    MonthlyPartitionsDefinition,
    TimeWindowPartitionsDefinition,
    WeeklyPartitionsDefinition,
    asset,
)

from crm_sync.config import SyncConfig
from crm_sync.config.models import ASSOCIATION_PREFIX, BackfillSettings
from crm_sync.connectors.common import ApiUsage, StopRun
from crm_sync.defs.resources import HubSpotResource, SalesforceResource, SyncConfigResource, SyncStateResource
from crm_sync.engine import associations, backfill, figures, lists, metadata, outbox, preview, staging
from crm_sync.engine.check import check as check_mappings
from crm_sync.engine.link import link_pair
from crm_sync.engine.mapping import PairSpec, extract_fields, pair_specs
from crm_sync.engine.plan import config_is_new, plan_pair
from crm_sync.engine.reads import finish_reads, plan_reads
from crm_sync.engine.validate import validate_outgoing

# Ops sent and recorded per transaction: a killed load loses the answers of at most one chunk, and replays it
# without duplicating anything (creates are upserts on a key, updates go by id). Large enough for a Bulk API
# 2.0 ingest job to take the whole chunk.
LOAD_CHUNK = 50_000


def _table(rows: dict) -> MetadataValue:
    lines = ["| name | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows.items()]
    return MetadataValue.md("\n".join(lines))


def metered(connector, con, run_id: str):
    """The run's connector with its per-day budget told what the sync's other runs spent today."""
    connector.meter.spent_today = outbox.calls_today(con, connector.system, run_id)
    return connector


class CallsDuring:
    """API calls the run's connector made while this step ran (by endpoint)."""

    def __init__(self, usage: ApiUsage):
        self.usage, self.before = usage, usage.snapshot()

    def snapshot(self) -> dict[str, int]:
        after = self.usage.snapshot()
        return {k: v - self.before.get(k, 0) for k, v in after.items() if v != self.before.get(k, 0)}


def _result(stats: dict, calls: dict[str, int] | None = None) -> MaterializeResult:
    metadata_ = {k: v for k, v in stats.items() if isinstance(v, int | float | str | bool)}
    if calls is not None:
        metadata_["api_calls"] = sum(calls.values())
        metadata_["api_calls_by_endpoint"] = _table(calls) if calls else MetadataValue.md("(none)")
    metadata_["summary"] = _table({k: v for k, v in stats.items() if not isinstance(v, dict)})
    return MaterializeResult(metadata=metadata_)


RECONCILE_TAG = "crm_sync/reconcile"  # a run of the reconcile job: whole reads, every link compared


def is_reconcile(context: AssetExecutionContext) -> bool:
    return context.run.tags.get(RECONCILE_TAG) == "true"


def extract_asset(system: str, obj: str, fields: list[str], cross_id: str | None):
    @asset(key=[system, "raw", obj], group_name="extract", kinds={system, "duckdb"},
           description=f"{system} {obj} changes since the cursor (deletes included), appended to raw_{system}.{obj}; "
                       f"{obj}_current holds the latest version.")
    def _extract(context: AssetExecutionContext, sync_config: SyncConfigResource, state: SyncStateResource,
                 salesforce: SalesforceResource, hubspot: HubSpotResource) -> MaterializeResult:
        connector, run_id = (salesforce if system == "salesforce" else hubspot).connector, context.run.run_id
        calls = CallsDuring(connector.usage)
        with state.connect() as con:
            metered(connector, con, run_id)
            try:
                read = plan_reads(con, system, obj, fields, sync_config.config.sync, dt.datetime.now(dt.UTC),
                                  with_metadata=cross_id is not None, whole=is_reconcile(context))
                if read.metadata:
                    connector.ensure_cross_id(obj, cross_id)
                    metadata.store(con, system, obj, connector.field_metadata(obj), run_id, read.started)
                frames = connector.read_changes(obj, fields, read.since, read.overlap, read.settled_until,
                                                expected=read.expected)
                rows = sum(staging.stage(con, system, obj, frame, run_id) for frame in frames)
                if read.deletes:
                    rows += sum(staging.stage(con, system, obj, frame, run_id)
                                for frame in connector.read_deleted(obj, fields))
                stats = {"rows_read": rows, "full_read": read.full}
                if read.fields_added:
                    stats["fields_added"] = ", ".join(read.fields_added)
                if read.association_sweep:
                    stats["association_sweep_changed"] = sum(
                        staging.refresh_columns(con, system, obj, frame, run_id)
                        for frame in connector.read_associations(obj, read.association_columns, None))
                elif read.association_reads:
                    ids = staging.changed_ids(con, system, obj, run_id, new_only=read.association_new_only)
                    for frame in connector.read_associations(obj, read.association_columns, ids):
                        staging.set_columns(con, system, obj, frame, run_id)
                    stats["association_reads"] = len(ids)
                finish_reads(con, read, run_id)
            finally:  # calls made before a stop count against the day's budget too
                outbox.record_usage(con, run_id, system, calls.snapshot())
        return _result(stats, calls.snapshot())

    return _extract


LOOKUPS = {("hubspot", "owners"), ("salesforce", "User")}  # read whole by their incremental extracts


def backfill_partitions(settings: BackfillSettings) -> TimeWindowPartitionsDefinition:
    """Creation-time partitions from backfill.start to the current period (included)."""
    kind = {"month": MonthlyPartitionsDefinition, "week": WeeklyPartitionsDefinition,
            "day": DailyPartitionsDefinition}[settings.partition]
    return kind(start_date=settings.start.isoformat(), end_offset=1)


class Backfill:
    """What the backfill's assets share: the partitions and the objects every partition reads."""

    def __init__(self, config: SyncConfig):
        self.partitions_def = backfill_partitions(config.backfill)
        self.policy = BackfillPolicy.multi_run(config.backfill.partitions_per_run)
        self.objects = [k for k in extract_fields(pair_specs(config)) if k not in LOOKUPS]

    def partitions(self) -> list[tuple[str, dt.datetime]]:
        return [(k, self.partitions_def.time_window_for_partition_key(k).start)
                for k in self.partitions_def.get_partition_keys()]

    def asset_keys(self) -> list[AssetKey]:
        return [AssetKey([system, "backfill", obj]) for system, obj in self.objects]


def backfill_asset(system: str, obj: str, fields: list[str], cross_id: str | None, plan: Backfill):
    with warnings.catch_warnings():  # backfill_policy is a beta parameter of @asset: known and wanted
        warnings.simplefilter("ignore", BetaWarning)
        return _backfill_asset(system, obj, fields, cross_id, plan)


def _backfill_asset(system: str, obj: str, fields: list[str], cross_id: str | None, plan: Backfill):
    @asset(key=[system, "backfill", obj], group_name="backfill", kinds={system, "duckdb"},
           partitions_def=plan.partitions_def, backfill_policy=plan.policy,
           description=f"The initial sync of {system} {obj}: the live records created in the partitions' window "
                       f"(the first partition reaches back without limit, none past the backfill's start), "
                       f"staged like any read into raw_{system}.{obj}.")
    def _backfill(context: AssetExecutionContext, sync_config: SyncConfigResource, state: SyncStateResource,
                  salesforce: SalesforceResource, hubspot: HubSpotResource) -> MaterializeResult:
        connector, run_id = (salesforce if system == "salesforce" else hubspot).connector, context.run.run_id
        calls = CallsDuring(connector.usage)
        now = dt.datetime.now(dt.UTC)
        span = context.partition_time_window
        keys = context.partition_keys
        with state.connect() as con:
            metered(connector, con, run_id)
            began = backfill.begin(con, now, plan.objects, run_id)
            window = backfill.window(span.start, span.end, keys[0] == plan.partitions_def.get_first_partition_key(),
                                     began)
            if cross_id is not None and metadata.is_due(con, system, obj, now):
                connector.ensure_cross_id(obj, cross_id)
                metadata.store(con, system, obj, connector.field_metadata(obj), run_id, now)
            try:
                rows = 0 if window.empty else sum(
                    staging.stage(con, system, obj, frame, run_id)
                    for frame in connector.read_created(obj, fields, window.start, window.end))
                columns = [f for f in fields if f.startswith(ASSOCIATION_PREFIX)]
                ids = staging.changed_ids(con, system, obj, run_id) if columns and rows else []
                for frame in connector.read_associations(obj, columns, ids):
                    staging.set_columns(con, system, obj, frame, run_id)
                backfill.record_read(con, keys, system, obj, window, rows, run_id)
            finally:  # calls made before a stop count against the day's budget too
                outbox.record_usage(con, run_id, system, calls.snapshot())
        stats = {"rows_read": rows, "partitions": len(keys), "window_start": str(window.start or "(unbounded)"),
                 "window_end": str(window.end), "association_reads": len(ids)}
        return _result(stats, calls.snapshot())

    return _backfill


def _extract_keys(spec: PairSpec) -> list[AssetKey]:
    keys = [AssetKey(["hubspot", "raw", spec.hubspot_object]), AssetKey(["hubspot", "raw", "owners"]),
            AssetKey(["salesforce", "raw", "User"])]
    return keys + [AssetKey(["salesforce", "raw", o]) for o in (*spec.salesforce_objects, *spec.salesforce_children)]


def plan_asset(spec: PairSpec, after: list[AssetKey], plan: Backfill):
    @asset(key=["sync", "plan", spec.name], group_name="plan", kinds={"duckdb"},
           deps=_extract_keys(spec) + [k for k in plan.asset_keys() if _reads_for(k, spec)] + after,
           description=f"Links {spec.hubspot_object} to {', '.join(spec.salesforce_objects)} (stored ids, then "
                       f"{spec.match_kind or 'stored ids only'}), plans the three-way diff into sync.outbox and "
                       "validates outgoing values against live metadata (pandera).")
    def _plan(context: AssetExecutionContext, sync_config: SyncConfigResource,
              state: SyncStateResource) -> MaterializeResult:
        run_id = context.run.run_id
        with state.connect() as con:
            # While a backfill has partitions unread, a record not read yet could make a natural key ambiguous or
            # be the counterpart a create would duplicate: matching by key and creates wait for the last one.
            # A mapping that cannot work refuses the plan (nothing decided, nothing written), naming its field
            # and, where the data shows it, sample values. Against the metadata every plan; against the data
            # once per configuration (its first plan, or the first after a change). Values that can fail are
            # held back one by one with their reason; `crm-sync check` samples them any time.
            findings = check_mappings(con, [spec], data=config_is_new(con, spec))
            refused = [str(f) for f in findings if f.level == "error"]
            if refused:
                raise Failure(description="\n".join(["The mappings cannot work as configured:", *refused]))
            for finding in findings:
                context.log.warning(str(finding))
            unread = backfill.unread(con, plan.partitions, plan.objects)
            links = link_pair(con, spec, run_id, by_key=unread == 0)
            result = plan_pair(con, spec, run_id, sides_built=True, reconcile=is_reconcile(context),
                               creates=unread == 0)
            valid_sf = validate_outgoing(con, spec.name, "salesforce", run_id)
            valid_hs = validate_outgoing(con, spec.name, "hubspot", run_id)
            next_load = preview.summary(con, [spec], sync_config.config.sync.max_attempts)
        stats = {**{f"links_{k}": v for k, v in links.as_dict().items()},
                 **{k: v for k, v in result.as_dict().items() if k != "by_field"}, "backfill_reads_left": unread,
                 "quarantined_salesforce": valid_sf.invalid_ops, "quarantined_hubspot": valid_hs.invalid_ops}
        out = _result(stats)
        out.metadata["changes_by_field"] = _table(result.by_field) if result.by_field else MetadataValue.md("(none)")
        # What the loads will send (record writes, cross-id write-backs included): `crm-sync plan` prints the same
        out.metadata["next_load"] = _table({f"{r.target} {r.action}": int(r.writes) for r in next_load.itertuples()}
                                           ) if not next_load.empty else MetadataValue.md("(nothing to write)")
        if is_reconcile(context):
            out.metadata["drift_by_cause"] = _table(result.drift) if result.drift else MetadataValue.md("(none)")
        return out

    return _plan


def load_asset(spec: PairSpec, target: str, after: list[AssetKey]):
    @asset(key=[target, "load", spec.name], group_name="load", kinds={target, "duckdb"},
           deps=[AssetKey(["sync", "plan", spec.name]), *after],
           description=f"Sends the planned {spec.name} writes to {target} (upserts keyed by external ids, batches), "
                       "then the associations they carry, and records links, shadow, errors and audit.")
    def _load(context: AssetExecutionContext, sync_config: SyncConfigResource, state: SyncStateResource,
              salesforce: SalesforceResource, hubspot: HubSpotResource) -> MaterializeResult:
        connector, run_id = (salesforce if target == "salesforce" else hubspot).connector, context.run.run_id
        other = (hubspot if target == "salesforce" else salesforce).connector
        max_attempts = sync_config.config.sync.max_attempts
        calls = CallsDuring(connector.usage)
        done = outbox.LoadResult()
        with state.connect() as con:
            metered(connector, con, run_id)
            ops = outbox.ops_to_send(con, spec, target, max_attempts)
            try:
                sent = ops
                for _ in range(2):  # a second pass sends again what the CRM refused for some fields only, without them
                    done += _send_chunks(connector, sent, con, run_id)
                    if not done.requeued:
                        break
                    sent = outbox.ops_to_send(con, spec, target, max_attempts)
                associations.expand(con, spec, target, run_id)
                changes = associations.changes_to_send(con, spec, target, max_attempts)
                # A stop here leaves the association ops open: associating or archiving again is harmless, and
                # the next run sends and records them.
                answers = connector.apply(changes)
                linked = associations.record(con, changes, answers, run_id, spec)
                stamped = _stamp_created(con, spec, target, run_id, other, max_attempts)
            except StopRun as stop:
                # Spent budget or allocation: the writes that landed are recorded (above); say how far it got.
                done += getattr(stop, "recorded", outbox.LoadResult())
                raise StopRun(f"{stop} - this load sent {done.sent:,} writes ({done.failed:,} refused) of "
                              f"{len(ops):,} before it stopped; the rest stay in the outbox") from stop
            finally:
                outbox.record_usage(con, run_id, target, calls.snapshot())
            health = figures.headline(con, max_attempts)  # `crm-sync report`'s numbers, plotted by Dagster too
        stats = {"ops": len(ops), "sent": done.sent, "rejected": done.failed, "links_made": done.links_made,
                 "sent_again_without_refused_fields": done.requeued,
                 "association_ops": linked.sent + linked.failed, "associations_rejected": linked.failed,
                 "cross_ids_written_back": stamped,
                 **{f"{action}s": int(n) for action, n in ops.groupby("action").size().items()}, **health}
        return _result(stats, calls.snapshot())

    return _load


def _stamp_created(con, spec: PairSpec, target: str, run_id: str, other, max_attempts: int) -> int:
    """Write the cross-ids of the records just created back to their sources on the other side, in this run
    (through the outbox, validation and the audit like every write): no second write cycle for them."""
    other_system = "hubspot" if target == "salesforce" else "salesforce"
    calls = CallsDuring(other.usage)
    metered(other, con, run_id)
    try:
        stamps = outbox.stamp_created(con, spec, target, run_id)
        if not stamps:
            return 0
        validate_outgoing(con, spec.name, other_system, run_id)
        due = outbox.ops_to_send(con, spec, other_system, max_attempts)
        return _send_chunks(other, due[due["op_id"].isin(stamps)], con, run_id).sent
    finally:
        outbox.record_usage(con, run_id, other_system, calls.snapshot())


def _send_chunks(connector, ops, con, run_id: str, also=None) -> outbox.LoadResult:
    """Send ops (payloads as JSON text) LOAD_CHUNK at a time, each chunk's answers recorded before the next
    (also: more bookkeeping in the same transaction, outbox.record_results)."""
    done = outbox.LoadResult()
    try:
        for start in range(0, len(ops), LOAD_CHUNK):
            chunk = outbox.parsed(ops.iloc[start:start + LOAD_CHUNK])
            answers = outbox.results_frame(_apply(connector, chunk, con, run_id, also))
            done += outbox.record_results(con, answers, run_id, also=also)
    except StopRun as stop:  # the chunks before this one count in what the load says it sent
        stop.recorded = done + getattr(stop, "recorded", outbox.LoadResult())
        raise
    return done


def _apply(connector, chunk, con, run_id: str, also=None) -> list:
    """The connector's answers to a chunk of ops; on a StopRun, the answers that came are recorded first."""
    try:
        return connector.apply(chunk)
    except StopRun as stop:
        stop.recorded = outbox.record_results(con, outbox.results_frame(stop.results), run_id, also=also)
        raise


def _reads_for(key: AssetKey, spec: PairSpec) -> bool:
    system, _, obj = key.path
    objects = ({spec.hubspot_object} if system == "hubspot"
               else {*spec.salesforce_objects, *spec.salesforce_children})
    return obj in objects


def build_assets(config: SyncConfig) -> list:
    """The asset graph for the configured pairs. Loads of earlier pairs come first (companies before people).
    The backfill's partitioned reads feed the same plans and loads as the incremental extracts."""
    specs = pair_specs(config)
    plan = Backfill(config)
    fields = extract_fields(specs)
    if config.lists:  # the Campaigns by name, and their members (engine/lists.py)
        for obj, names in lists.READS.items():
            have = fields.get(("salesforce", obj), ([], None))
            fields[("salesforce", obj)] = (sorted({*have[0], *names}), have[1])
    assets = [extract_asset(system, obj, f, cross_id) for (system, obj), (f, cross_id) in fields.items()]
    assets += [backfill_asset(system, obj, *fields[(system, obj)], plan) for system, obj in plan.objects]
    previous_loads: list[AssetKey] = []
    for spec in specs:
        assets.append(plan_asset(spec, previous_loads, plan))
        loads = [AssetKey(["salesforce", "load", spec.name]), AssetKey(["hubspot", "load", spec.name])]
        assets += [load_asset(spec, "salesforce", previous_loads), load_asset(spec, "hubspot", previous_loads)]
        previous_loads = loads
    if config.lists:  # list membership after every pair: the people are linked by then
        from crm_sync.defs.lists import list_assets

        assets += list_assets(previous_loads)
    return assets
