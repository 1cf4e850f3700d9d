"""`crm-sync demo` end to end: it runs, and what demo_summary.json says is true of the sandboxes and the state.

The demo runs as users run it (a subprocess of the CLI, from the repository root). Its claims are then checked
against the sandboxes' own records and counters (the sandbox started again on the demo's folder, read through the
real clients) and against the DuckDB state it left.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys

from crm_sandbox.server import running_sandbox
from crm_sync_tests.sync_harness import ROOT, SyncEnv

# Per pair: the HubSpot object and the Salesforce objects it links to.
PAIRS = {"companies": ("companies", ("Account",)), "people": ("contacts", ("Lead", "Contact")),
         "deals": ("deals", ("Opportunity",))}
SF_COUNTED, HS_COUNTED = ("Lead", "Contact", "Account", "Opportunity"), ("contacts", "companies", "deals")


def churn_effects(entries: list[dict]) -> dict[tuple[str, str], int]:
    """Net change in live records per (system, object) that the users' edits made (from the churn log)."""
    net: collections.Counter = collections.Counter()
    for e in entries:
        if not e["ok"]:
            continue
        key = (e["system"], e["object"])
        if e["action"] == "create":
            net[key] += 1
        elif e["action"] == "delete":
            net[key] -= 1
        elif e["action"] == "merge":
            # Salesforce deletes the losers; HubSpot replaces both records with one survivor (a new id).
            net[key] -= len(e["merged_ids"]) if e["system"] == "salesforce" else 1
        elif e["action"] == "convert":
            result = e["result"]
            net[("salesforce", "Contact")] += 1  # the churn never converts into an existing contact
            if result["accountId"] != e["fields"].get("account_id"):
                net[("salesforce", "Account")] += 1
            if result.get("opportunityId"):
                net[("salesforce", "Opportunity")] += 1
    return net


def test_demo_runs_end_to_end_and_its_summary_is_true(tmp_path):
    directory = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "crm_sync.cli", "demo", "--dir", str(directory), "--size", "200",
                           "--churn-seconds", "4"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    out = proc.stdout
    for section in ("Initial sync:", "Users edit both sides", "Sync after the edits:", "What happened:",
                    "Links per pair:", "Linked by:", "Writes sent (target:action):", "API calls:",
                    "Ambiguous matches reported:", "Open rejections"):
        assert section in out, f"{section!r} missing from the demo's output:\n{out}"

    summary = json.loads((directory / "demo_summary.json").read_text())
    seed, cycles, churn, totals = summary["seed"], summary["cycles"], summary["churn"], summary["summary"]
    churn_log = [json.loads(line) for line in (directory / "churn.jsonl").read_text().splitlines()]

    # Every cycle succeeded and each phase ran until a cycle had nothing left to write.
    assert cycles and all(c["success"] for c in cycles)
    for phase in ("initial", "after edits"):
        ran = [c for c in cycles if c["phase"] == phase]
        assert ran and ran[-1]["writes"] == {}, ran
    # The churn figures are those of its own log.
    assert churn["attempted"] == len(churn_log) > 0
    assert churn["succeeded"] == sum(e["ok"] for e in churn_log)
    assert churn["by_kind"] == dict(collections.Counter(f"{e['system']}.{e['action']}.{e['object']}"
                                                        for e in churn_log))

    with running_sandbox(directory / "sandbox") as info:
        env = SyncEnv(directory, info, directory / "sync.yaml")
        # API calls: the sandboxes count every call they answered; only the demo's sync called their APIs (the
        # seed and the edits bypass them). Read before this test's own calls add to the counts.
        sandbox_calls = {system: sum(env.usage(system).values()) for system in ("salesforce", "hubspot")}
        assert totals["api_calls"] == sandbox_calls
        per_cycle = collections.Counter()
        for c in cycles:
            per_cycle.update(c["api_calls"])
        assert dict(per_cycle) == sandbox_calls

        sf, hs = env.sf(), env.hs()
        sf_records = {obj: {r["Id"]: r for r in sf.query_all(
            f"SELECT Id, HubSpot_Id__c{', IsConverted' if obj == 'Lead' else ''} FROM {obj}")["records"]}
            for obj in SF_COUNTED}
        hs_api = {"contacts": hs.crm.contacts, "companies": hs.crm.companies, "deals": hs.crm.deals}
        hs_records = {obj: {r.id: r.properties for r in api.get_all(properties=["salesforce_id"])}
                      for obj, api in hs_api.items()}

        with env.state() as con:
            links = con.execute("SELECT pair, hubspot_id, salesforce_object, salesforce_id FROM sync.links").fetchall()
            linked_by = {f"{p}:{how}": n for p, how, n in con.execute(
                "SELECT pair, linked_by, count(*) FROM sync.links GROUP BY ALL").fetchall()}
            audit_ok = {f"{t}:{a}": n for t, a, n in con.execute(
                "SELECT target, action, count(*) FROM sync.audit WHERE success GROUP BY ALL").fetchall()}
            audit_rows = con.execute("SELECT count(*) FROM sync.audit").fetchone()[0]
            net_writes = {(t, o): n for t, o, n in con.execute(
                "SELECT target, object, sum(CASE action WHEN 'create' THEN 1 WHEN 'delete' THEN -1 ELSE 0 END) "
                "FROM sync.audit WHERE success GROUP BY ALL").fetchall()}
            open_errors = con.execute("SELECT system, code, count(*), min(message) FROM sync.errors "
                                      "WHERE resolved_at IS NULL AND kind <> 'skipped' GROUP BY ALL").fetchall()
            skipped = {f"{s}:{c}": n for s, c, n in con.execute(
                "SELECT system, code, count(*) FROM sync.errors WHERE resolved_at IS NULL AND kind = 'skipped' "
                "GROUP BY ALL").fetchall()}
            errored = {r[0] for r in con.execute(
                "SELECT record_id FROM sync.errors WHERE resolved_at IS NULL").fetchall()}
            candidates = con.execute("SELECT count(*) FROM sync.link_candidates").fetchone()[0]
            state_calls = dict(con.execute("SELECT system, sum(calls) FROM sync.api_usage GROUP BY ALL").fetchall())

    # The state's own tallies are the summary's.
    assert totals["links"] == dict(collections.Counter(p for p, *_ in links))
    assert totals["linked_by"] == linked_by
    assert totals["writes"] == audit_ok
    assert summary["writes_recorded"] == audit_rows
    per_cycle_writes = collections.Counter()
    for c in cycles:
        per_cycle_writes.update(c["writes"])
    assert dict(per_cycle_writes) == audit_ok
    assert totals["ambiguous_matches_reported"] == candidates
    assert {(r["system"], r["code"]): (r["count"], r["example"]) for r in totals["rejected"]} == {
        (s, c): (n, example) for s, c, n, example in open_errors}
    assert {k: int(v) for k, v in state_calls.items()} == totals["api_calls"]
    assert totals["not_written"] == skipped

    # Each link is a pair that exists on both sides, and (unless a write for it was rejected) each record carries
    # the other's id. The churn deletes HubSpot records too; those are only noticed by the hourly read of archived
    # records, so a link whose HubSpot record the users deleted during the demo is allowed to point at it.
    hs_deleted = {e["id"] for e in churn_log if e["ok"] and e["system"] == "hubspot" and e["action"] == "delete"}
    unverified = []
    for pair, hubspot_id, sf_object, sf_id in links:
        hs_object, sf_objects = PAIRS[pair]
        sf_row, hs_row = sf_records[sf_object].get(sf_id), hs_records[hs_object].get(hubspot_id)
        if sf_object not in sf_objects or sf_row is None or (hs_row is None and hubspot_id not in hs_deleted):
            unverified.append((pair, hubspot_id, sf_id, "missing"))
        elif hs_row is not None and not {hubspot_id, sf_id} & errored and (
                sf_row["HubSpot_Id__c"] != hubspot_id or hs_row.get("salesforce_id") != sf_id):
            unverified.append((pair, hubspot_id, sf_id, sf_row["HubSpot_Id__c"], hs_row.get("salesforce_id")))
    assert unverified == []

    # Records now = seeded + created by the sync (its audit) + the users' net edits (the churn log).
    churned = churn_effects(churn_log)
    for system, objects, seeded, live in (("salesforce", SF_COUNTED, seed["salesforce"], sf_records),
                                          ("hubspot", HS_COUNTED, seed["hubspot"], hs_records)):
        for obj in objects:
            expected = seeded[obj] + net_writes.get((system, obj), 0) + churned[(system, obj)]
            assert len(live[obj]) == expected, (system, obj, seeded[obj], net_writes.get((system, obj)),
                                                churned[(system, obj)])
    converted = sum(1 for r in sf_records["Lead"].values() if r["IsConverted"])
    assert converted == seed["converted_leads"] + sum(
        1 for e in churn_log if e["ok"] and e["action"] == "convert")
