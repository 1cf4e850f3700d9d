"""Asset checks shown in the Dagster UI: links one-to-one, outgoing values valid (pandera), outbox drained."""


from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, MetadataValue, asset_check

from crm_sync.defs.resources import SyncStateResource
from crm_sync.engine.mapping import PairSpec


def pair_checks(spec: PairSpec) -> list:
    plan_key = AssetKey(["sync", "plan", spec.name])
    p = spec.name

    # Blocking, severity ERROR: a record linked twice would be written from two sources, so this pair's loads
    # (and the later pairs') do not run until it is mended; nothing else is held.
    @asset_check(asset=plan_key, name="links_one_to_one", blocking=True,
                 description="No HubSpot or Salesforce record is linked twice in this pair. Blocking: when it "
                             "fails, the pair's loads do not run.")
    def links_one_to_one(state: SyncStateResource) -> AssetCheckResult:
        with state.connect() as con:
            # (a HubSpot id is the table's key within a pair: only the Salesforce side can repeat)
            dupes = con.execute("""SELECT count(*) FROM (SELECT salesforce_id FROM sync.links WHERE pair = ?
                GROUP BY salesforce_id HAVING count(*) > 1)""", [p]).fetchone()[0]
            links = con.execute("SELECT count(*) FROM sync.links WHERE pair = ?", [p]).fetchone()[0]
        return AssetCheckResult(passed=dupes == 0, severity=AssetCheckSeverity.ERROR,
                                metadata={"links": links, "salesforce_ids_linked_twice": dupes})

    @asset_check(asset=plan_key, name="outgoing_values_valid",
                 description="pandera: planned values fit the target's live metadata; failing ops are quarantined "
                             "in sync.errors and the rest go on.")
    def outgoing_values_valid(state: SyncStateResource) -> AssetCheckResult:
        with state.connect() as con:
            invalid = con.execute("SELECT count(*) FROM sync.outbox WHERE pair = ? AND status = 'invalid'",
                                  [p]).fetchone()[0]
            sample = con.execute("""SELECT system, object, record_id, code, message FROM sync.errors
                WHERE pair = ? AND kind = 'validation' AND resolved_at IS NULL ORDER BY last_seen DESC LIMIT 10""",
                                 [p]).df()
        return AssetCheckResult(passed=invalid == 0, severity=AssetCheckSeverity.WARN,
                                metadata={"quarantined_ops": invalid,
                                          "sample": MetadataValue.md(sample.to_markdown(index=False)
                                                                     if not sample.empty else "(none)")})

    checks = [links_one_to_one, outgoing_values_valid]
    for target in ("salesforce", "hubspot"):
        checks.append(_drained_check(spec, target))
    return checks


def _drained_check(spec: PairSpec, target: str):
    @asset_check(asset=AssetKey([target, "load", spec.name]), name="outbox_drained",
                 description="Nothing planned is left unsent; rejected writes are counted as open errors.")
    def outbox_drained(state: SyncStateResource) -> AssetCheckResult:
        with state.connect() as con:
            pending = con.execute("SELECT count(*) FROM sync.outbox WHERE pair = ? AND target = ? "
                                  "AND status = 'pending'", [spec.name, target]).fetchone()[0]
            errors = con.execute("SELECT count(*) FROM sync.errors WHERE pair = ? AND system = ? "
                                 "AND resolved_at IS NULL", [spec.name, target]).fetchone()[0]
        # A warning: what is left waits for its backoff or cause, and the next run sends it.
        return AssetCheckResult(passed=pending == 0, severity=AssetCheckSeverity.WARN,
                                metadata={"pending_ops": pending, "open_errors": errors})

    return outbox_drained
