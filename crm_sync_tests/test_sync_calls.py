"""API calls of a cycle against the issue's floor, counted by the sandboxes themselves (their usage by endpoint).

Floor: reads = ceil(changed / page) per object and side, at least one page per object (Salesforce query pages of
2,000, HubSpot search pages of 200); writes = ceil(writes / batch) per object and side (collections of 200,
HubSpot batches of 100). Cycles here are spaced further apart than the overlap window (set to 2 s), as scheduled
cycles are; `bench/bench_sync_calls.py` measures the same at a larger size and back to back.
"""

from __future__ import annotations

import math
import random
import time

import yaml
from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInput, SimplePublicObjectBatchInput

from crm_sync_tests.sync_harness import EXTRA_PAIRS, ROOT, SyncEnv, call_kind, sync_env

OVERLAP = 2
# Every pair: the shipped three, tickets, tasks, calls, emails and notes (the last four all on Task), meetings,
# products (Product2, with its price on PricebookEntry, whose standard book is a Pricebook2), line items.
SF_OBJECTS = ["Lead", "Contact", "Account", "Opportunity", "OpportunityContactRole", "Case", "Task", "Event",
              "Product2", "PricebookEntry", "Pricebook2", "OpportunityLineItem", "User"]
HS_OBJECTS = ["contacts", "companies", "deals", "tickets", "tasks", "calls", "emails", "meetings", "notes",
              "products", "line_items"]


def calls(env: SyncEnv, before: dict) -> dict[str, dict[str, int]]:
    """{system: {"read": n, "write": n}} since `before` (a {system: usage} snapshot)."""
    out = {}
    for system in ("salesforce", "hubspot"):
        after = env.usage(system)
        counts = {"read": 0, "write": 0, "other": 0, "login": 0}
        for label, n in after.items():
            # Each run logs in once (its connectors live for the run); Salesforce does not count OAuth token
            # requests against the org's API allocation.
            kind = "login" if label.startswith("auth:") else call_kind(system, label)
            counts[kind] += n - before[system].get(label, 0)
        out[system] = counts
    return out


def snapshot(env: SyncEnv) -> dict:
    return {s: env.usage(s) for s in ("salesforce", "hubspot")}


def spaced_env(tmp_path, seed_size: int):
    shipped = yaml.safe_load((ROOT / "sync.yaml").read_text())
    return sync_env(tmp_path, seed_size=seed_size, extra={"sync": {**shipped["sync"], "overlap_seconds": OVERLAP},
                                                          "pairs": {**shipped["pairs"], **EXTRA_PAIRS}})


def settle() -> None:
    """Let the overlap window behind the last read pass, as it has between scheduled cycles."""
    time.sleep(OVERLAP + 0.5)


def test_quiet_and_changed_cycles_stay_near_the_floor(tmp_path):
    with spaced_env(tmp_path, seed_size=1000) as env:
        converge = []
        for _ in range(5):  # cycles spaced as scheduled ones are (further apart than the overlap)
            converge.append(env.cycle())
            if len(converge) == 1:  # the first read listed deals with their associations: no association reads
                assert not [k for k in env.usage("hubspot") if "/associations/deals/" in k and "read" in k]
            settle()
            if converge[-1].planned_writes == 0:
                break
        assert converge[-1].planned_writes == 0
        assert sum(sum(o.summary["writes"].values()) for o in converge) > 200  # more than a search page written

        # Quiet: nothing written, and one read per object per side, though the last cycles wrote many pages.
        before = snapshot(env)
        quiet = env.cycle()
        used = calls(env, before)
        assert quiet.planned_writes == 0
        assert used["salesforce"] == {"read": len(SF_OBJECTS), "write": 0, "other": 0, "login": 1}, used
        assert used["hubspot"]["read"] == len(HS_OBJECTS) and used["hubspot"]["write"] == 0, used

        # 250 edits a side: HubSpot contacts' jobtitle, and other people's Salesforce Contact Title.
        with env.state() as con:
            linked = con.execute("SELECT hubspot_id, salesforce_object, salesforce_id FROM sync.links "
                                 "WHERE pair = 'people' ORDER BY hubspot_id").fetchall()
        rng = random.Random(3)
        contacts = [row for row in linked if row[1] == "Contact"]
        sf_pick = rng.sample(contacts, 250)
        hs_pick = rng.sample([row for row in linked if row not in sf_pick], 250)
        client, sf = env.hs(), env.sf()
        for start in range(0, 250, 100):
            client.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
                SimplePublicObjectBatchInput(id=h, properties={"jobtitle": f"Edited in HubSpot {start + n}"})
                for n, (h, _, _) in enumerate(hs_pick[start:start + 100])]))
        for start in range(0, 250, 200):
            records = [{"attributes": {"type": "Contact"}, "id": s, "Title": f"Edited in Salesforce {start + n}"}
                       for n, (_, _, s) in enumerate(sf_pick[start:start + 200])]
            assert all(r["success"] for r in sf.restful("composite/sobjects", method="PATCH",
                                                         json={"allOrNone": False, "records": records}))

        before = snapshot(env)
        changed = env.cycle()
        used = calls(env, before)
        to_lead = sum(1 for _, obj, _ in hs_pick if obj == "Lead")
        floor = {
            "salesforce": {"read": len(SF_OBJECTS),
                           "write": math.ceil(to_lead / 200) + math.ceil((250 - to_lead) / 200)},
            "hubspot": {"read": math.ceil(250 / 200) + len(HS_OBJECTS) - 1, "write": math.ceil(250 / 100)},
        }
        assert changed.summary["writes"] == {"hubspot:update": 250, "salesforce:update": 250}, changed.summary
        for system in ("salesforce", "hubspot"):
            spent = used[system]["read"] + used[system]["write"]
            least = floor[system]["read"] + floor[system]["write"]
            assert spent <= 1.25 * least, (system, used[system], floor[system])
        # And every edit arrived.
        assert {r["Id"]: r["Title"] for r in sf.query_all(
            "SELECT Id, Title FROM Contact WHERE Title LIKE 'Edited in HubSpot%'")["records"]}.keys() == {
            s for _, obj, s in hs_pick if obj == "Contact"}
