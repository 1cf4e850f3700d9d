"""The asset checks' severities: values held back by validation are a warning that never holds a load (the rest
of the record lands); a record linked twice is an error whose check blocks the pair's loads."""

from __future__ import annotations

from dagster import AssetCheckKey, AssetCheckSeverity, AssetKey, DagsterEventType, DagsterInstance
from hubspot.crm.companies import SimplePublicObjectInput as CompanyInput

from crm_sync.definitions import build_definitions
from crm_sync_tests.sync_harness import converged_env


def test_a_held_back_value_warns_and_the_load_goes_on_a_double_link_would_block(tmp_path):
    with converged_env(tmp_path) as env:
        with env.state() as con:
            [(company_hs, company_sf)] = con.execute("""SELECT hubspot_id, salesforce_id FROM sync.links
                WHERE pair = 'companies' ORDER BY hubspot_id LIMIT 1""").fetchall()
        # MANAGEMENT_CONSULTING has no Salesforce Industry: held back with its reason; the name goes on
        env.hs().crm.companies.basic_api.update(company_hs, CompanyInput(properties={
            "name": "Warned Not Held Ltd", "industry": "MANAGEMENT_CONSULTING"}))
        defs = build_definitions(env.config_path)
        result = defs.resolve_job_def("sync_cycle").execute_in_process(instance=DagsterInstance.ephemeral(),
                                                                        raise_on_error=False)
        evaluations = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
        held = evaluations[("sync/plan/companies", "outgoing_values_valid")]
        assert not held.passed and held.severity == AssetCheckSeverity.WARN
        assert held.metadata["quarantined_ops"].value >= 1
        done = {e.asset_key for e in result.all_events if e.event_type == DagsterEventType.ASSET_MATERIALIZATION}
        assert {AssetKey(["salesforce", "load", "companies"]), AssetKey(["salesforce", "load", "people"])} <= done
        assert env.sf().Account.get(company_sf)["Name"] == "Warned Not Held Ltd"
        # each load reports `crm-sync report`'s headline numbers as metadata (Dagster plots them over runs)
        [deals_load] = [e.event_specific_data.materialization.metadata for e in result.all_events
                        if e.event_type == DagsterEventType.ASSET_MATERIALIZATION
                        and e.asset_key == AssetKey(["hubspot", "load", "deals"])]
        with env.state() as con:
            open_now = con.execute("SELECT count(*) FROM sync.errors WHERE resolved_at IS NULL").fetchone()[0]
        assert deals_load["open_errors"].value == open_now >= 1  # the held Industry among them
        assert deals_load["api_calls_today_salesforce"].value > 0
        for (_, name), e in evaluations.items():
            if name == "outbox_drained":
                assert e.severity == AssetCheckSeverity.WARN
            if name == "links_one_to_one":
                assert e.passed and e.severity == AssetCheckSeverity.ERROR

    specs = {s.key: s for checks in defs.asset_checks for s in checks.check_specs}
    for pair in ("companies", "people", "deals"):
        plan = AssetKey(["sync", "plan", pair])
        assert specs[AssetCheckKey(plan, "links_one_to_one")].blocking  # a failure holds the loads after it
        assert not specs[AssetCheckKey(plan, "outgoing_values_valid")].blocking
