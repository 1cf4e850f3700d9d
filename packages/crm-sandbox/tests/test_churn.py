"""The churn workload: its log is ground truth for what both sandboxes hold; it never spends the sync's API calls."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.objects import ApiException, BatchReadInputSimplePublicObjectId, SimplePublicObjectId
from simple_salesforce import format_soql

from crm_sandbox.churn import churn_main, run_churn
from crm_sandbox.seed import seed_sandbox
from crm_sandbox.server import running_sandbox
from tests.clients import connect, http_session, sandbox_credentials

SIZE, RATE, DURATION = 300, 30.0, 4.0
STRUCTURAL = ("delete", "merge", "convert")


def usage(info: dict) -> dict:
    sf = http_session(info["salesforce"]["ca_file"]).get(f"{info['salesforce']['admin_url']}/usage", timeout=30)
    hs = requests.get(f"{info['hubspot']['admin_url']}/usage", timeout=30)
    return {"salesforce": sf.json()["by_endpoint"], "hubspot": hs.json()["by_endpoint"]}


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def churned(tmp_path_factory):
    directory = tmp_path_factory.mktemp("churn")
    seed_sandbox(directory, SIZE, seed=21)
    with running_sandbox(directory) as info:
        # The sync's own calls are counted; churn must add none.
        connect(sandbox_credentials(info)).query("SELECT COUNT() FROM Lead")
        HubSpot(access_token=info["hubspot"]["access_token"], host=info["hubspot"]["base_url"]).crm.contacts.basic_api \
            .get_page(limit=10)
        before = usage(info)
        stats = run_churn(info, RATE, seed=5, duration=DURATION, log_path=directory / "churn.jsonl")
        after = usage(info)
        yield {"info": info, "stats": stats, "log": read_log(directory / "churn.jsonl"), "usage": (before, after),
               "directory": directory}


def touched(log: list[dict]) -> dict[tuple[str, str], int]:
    """(system, id) -> seq of the last structural edit (delete, merge, conversion) that involved the record."""
    out = {}
    for e in log:
        if e["ok"] and e["action"] in STRUCTURAL:
            for rid in [e["id"], *e.get("merged_ids", []), *e.get("cascaded", [])]:
                out[(e["system"], rid)] = e["seq"]
    return out


def expected_values(log: list[dict]) -> dict[tuple[str, str, str], dict]:
    """(system, object, id) -> field values the last successful writes left, for records no structural edit hit."""
    gone = touched(log)
    out: dict[tuple[str, str, str], dict] = defaultdict(dict)
    for e in log:
        if not e["ok"] or e["action"] not in ("create", "update") or (e["system"], e["id"]) in gone:
            continue
        values = e.get("stored") or e["fields"]
        # References can move when their target is merged, so creates are checked on their own values only.
        out[(e["system"], e["object"], e["id"])].update(
            {k: v for k, v in values.items() if not (e["action"] == "create" and k.endswith("Id"))})
    return out


def error_code(entry: dict) -> str:
    error = entry["error"]
    if isinstance(error, list):  # Salesforce: [{"errorCode", "message", "fields"}]
        return error[0]["errorCode"]
    return error.get("category", "?") if isinstance(error, dict) else "transport"


def same(expected, actual) -> bool:
    if isinstance(expected, int | float) or isinstance(actual, int | float):
        return float(expected) == float(actual)
    return expected == actual


def test_churn_respects_rate_and_logs_every_edit(churned):
    stats, log = churned["stats"], churned["log"]
    assert RATE * DURATION * 0.5 <= stats.attempted <= RATE * DURATION + 1
    assert len(log) == stats.attempted and [e["seq"] for e in log] == list(range(len(log)))
    assert {e["system"] for e in log} == {"salesforce", "hubspot"}
    assert {"update", "create"} <= {e["action"] for e in log}
    failed = [e for e in log if not e["ok"]]
    assert stats.failed == len(failed) and all(e["error"] for e in failed)
    # Besides the deliberately bad edits, only converting a lead whose seeded email is malformed or padded may fail.
    assert {error_code(e) for e in failed if not e.get("expect_failure")} <= {"INVALID_EMAIL_ADDRESS"}
    assert all(not e["ok"] for e in log if e.get("expect_failure"))
    users = {e["user"] for e in log if e["system"] == "salesforce" and e["user"]}
    assert len(users) > 1  # edits are made as different seeded users


def test_churn_does_not_spend_the_sync_api_calls(churned):
    before, after = churned["usage"]
    assert before["salesforce"]["GET query"] == 1 and before["hubspot"]
    assert before == after


def test_salesforce_holds_what_the_log_says(churned):
    info, log = churned["info"], churned["log"]
    sf = connect(sandbox_credentials(info))
    expected = {k: v for k, v in expected_values(log).items() if k[0] == "salesforce"}
    by_type = defaultdict(dict)
    for (_, type_name, rid), values in expected.items():
        by_type[type_name][rid] = values
    for type_name, records in by_type.items():
        fields = sorted({f for values in records.values() for f in values})
        rows = sf.query_all(format_soql(f"SELECT Id, {', '.join(fields)} FROM {type_name} WHERE Id IN {{}}",
                                        list(records)))["records"]
        assert len(rows) == len(records), type_name
        for row in rows:
            for name, value in records[row["Id"]].items():
                assert same(value, row[name]), (type_name, row["Id"], name, value, row[name])
    for e in (e for e in log if e["ok"] and e["system"] == "salesforce"):
        if e["action"] == "delete":
            row = sf.query_all(format_soql(f"SELECT IsDeleted FROM {e['object']} WHERE Id = {{}}", e["id"]),
                               include_deleted=True)["records"][0]
            assert row["IsDeleted"] is True
        elif e["action"] == "merge":
            row = sf.query_all(format_soql(f"SELECT IsDeleted, MasterRecordId FROM {e['object']} WHERE Id = {{}}",
                                           e["merged_ids"][0]), include_deleted=True)["records"][0]
            assert row["IsDeleted"] is True and row["MasterRecordId"] == e["id"]
        elif e["action"] == "convert":
            row = sf.query(format_soql("SELECT IsConverted, ConvertedContactId, ConvertedAccountId FROM Lead "
                                       "WHERE Id = {}", e["id"]))["records"][0]
            assert row["IsConverted"] is True
            assert (row["ConvertedContactId"], row["ConvertedAccountId"]) == (e["result"]["contactId"],
                                                                              e["result"]["accountId"])
        elif e["action"] == "create":
            assert sf.query(format_soql(f"SELECT COUNT() FROM {e['object']} WHERE Id = {{}}", e["id"]),
                            include_deleted=True)["totalSize"] == 1
    assert any(e["action"] in STRUCTURAL for e in log if e["ok"] and e["system"] == "salesforce")


def _survivors(log: list[dict]) -> dict[str, str | None]:
    """HubSpot id -> the id it resolves to after the logged merges and deletes (None: archived)."""
    out: dict[str, str | None] = {}
    for e in (e for e in log if e["ok"] and e["system"] == "hubspot"):
        if e["action"] == "merge":
            for old in e["merged_ids"]:
                out[old] = e["result"]["id"]
        elif e["action"] == "delete":
            out[e["id"]] = None

    def final(rid: str) -> str | None:
        while rid in out:
            rid = out[rid]
            if rid is None:
                return None
        return rid

    return {rid: final(rid) for rid in out}


def test_hubspot_holds_what_the_log_says(churned):
    info, log = churned["info"], churned["log"]
    hs = HubSpot(access_token=info["hubspot"]["access_token"], host=info["hubspot"]["base_url"])
    expected = {k: v for k, v in expected_values(log).items() if k[0] == "hubspot"}
    by_type = defaultdict(dict)
    for (_, object_type, rid), values in expected.items():
        by_type[object_type][rid] = values
    for object_type, records in by_type.items():
        names = sorted({f for values in records.values() for f in values})
        found = hs.crm.objects.batch_api.read(object_type, BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in records], properties=names)).results
        assert len(found) == len(records), object_type
        for record in found:
            for name, value in records[record.id].items():
                assert record.properties.get(name) == value, (object_type, record.id, name)
    survivors = _survivors(log)
    merged = deleted = 0
    for e in (e for e in log if e["ok"] and e["system"] == "hubspot" and e["action"] in ("merge", "delete")):
        for rid in e.get("merged_ids") or [e["id"]]:
            target = survivors[rid]
            if target is None:
                with pytest.raises(ApiException) as err:
                    hs.crm.objects.basic_api.get_by_id(e["object"], rid)
                assert err.value.status == 404
                assert hs.crm.objects.basic_api.get_by_id(e["object"], rid, archived=True).archived
                deleted += 1
            else:
                assert hs.crm.objects.basic_api.get_by_id(e["object"], rid).id == target
                merged += 1
    assert merged + deleted > 0
    links: dict[tuple[str, str], bool] = {}
    for e in (e for e in log if e["ok"] and e["action"] in ("associate", "dissociate")):
        links[(e["id"], e["fields"]["to_id"])] = e["action"] == "associate"
    for (contact, company), present in links.items():
        if survivors.get(contact, contact) != contact or survivors.get(company, company) != company:
            continue
        page = hs.crm.associations.v4.basic_api.get_page("contacts", contact, "companies")
        assert (company in {str(r.to_object_id) for r in page.results}) is present, (contact, company)


def test_same_seed_makes_the_same_choices(churned, tmp_path):
    # A second, identically seeded sandbox: the same churn seed must pick the same targets and values.
    seed_sandbox(tmp_path / "twin", SIZE, seed=21)
    with running_sandbox(tmp_path / "twin") as info:
        run_churn(info, RATE, seed=5, duration=1.5, log_path=tmp_path / "twin.jsonl")
    twin = read_log(tmp_path / "twin.jsonl")

    def choices(entries):
        return [{k: v for k, v in e.items() if k not in ("ts", "error")} for e in entries]

    assert len(twin) >= 20
    assert choices(twin) == choices(churned["log"][:len(twin)])


def test_churn_main_needs_a_running_sandbox(tmp_path, capsys):
    assert churn_main(tmp_path, rate=5, seed=1, duration=1) == 1
    assert str(tmp_path / "sandbox.json") in capsys.readouterr().err


def test_churn_edits_custom_objects_products_line_items_and_logs_calls_and_emails(tmp_path):
    """Calls and emails are logged on both sides. Custom objects as their admins defined them are edited by their
    fields' types (and get new records, under a parent picked from its pool). Products and line items are edited
    and sold from the catalogue. Each edit that succeeded is what the CRM holds."""
    seed_sandbox(tmp_path, 100, seed=3)
    with running_sandbox(tmp_path) as info:
        admin = http_session(info["salesforce"]["ca_file"])
        assert admin.post(f"{info['salesforce']['admin_url']}/sobjects", timeout=30, json={
            "name": "Site__c", "label": "Site", "fields": [{"name": "Area__c", "type": "double"},
                                                          {"name": "Account__c", "type": "lookup",
                                                           "reference_to": "Account"}]}).ok
        hs = HubSpot(access_token=info["hubspot"]["access_token"], host=info["hubspot"]["base_url"])
        hs.crm.schemas.core_api.create({
            "name": "sites", "labels": {"singular": "Site", "plural": "Sites"}, "primaryDisplayProperty": "site_name",
            "requiredProperties": ["site_name"],
            "properties": [{"name": "site_name", "label": "Name", "type": "string", "fieldType": "text"},
                           {"name": "area", "label": "Area", "type": "number", "fieldType": "number"}]})
        # the unique key a sync adds (crm-sync's salesforce_id): no user types into it
        hs.crm.properties.core_api.create("sites", {"name": "salesforce_id", "label": "Salesforce Id", "type": "string",
                                                    "fieldType": "text", "groupName": "siteinformation",
                                                    "hasUniqueValue": True})
        sf = connect(sandbox_credentials(info))
        [book] = sf.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")["records"]
        product = sf.Product2.create({"Name": "Widget", "IsActive": True})["id"]
        sf.PricebookEntry.create({"Pricebook2Id": book["Id"], "Product2Id": product, "UnitPrice": 10, "IsActive": True})
        hs_product = hs.crm.objects.basic_api.create("products", {"properties": {"name": "Gadget", "price": "5"}}).id
        sf.Site__c.create({"Name": "North", "Area__c": 120})
        hs.crm.objects.basic_api.create("sites", {"properties": {"site_name": "South", "area": "80"}})
        run_churn(info, 50.0, seed=9, duration=8.0, log_path=tmp_path / "churn.jsonl")
        sf_products = {r["Id"] for r in sf.query_all("SELECT Id FROM Product2")["records"]}
        hs_products = {p.id for p in hs.crm.objects.get_all("products")} | {hs_product}
        log = [e for e in read_log(tmp_path / "churn.jsonl") if e["ok"]]
    done = defaultdict(set)
    for e in log:
        done[e["object"]].add(e["action"])
    assert {"update", "create"} <= done["Site__c"] and {"update", "create"} <= done["sites"], sorted(done)
    assert "create" in done["OpportunityLineItem"] and "create" in done["line_items"], sorted(done)
    assert "create" in done["calls"] and "create" in done["emails"], sorted(done)
    logged = {e["fields"]["TaskSubtype"] for e in log if e["object"] == "Task" and "TaskSubtype" in e["fields"]}
    assert logged == {"Call", "Email"}
    made = [e["fields"]["hs_product_id"] for e in log if e["object"] == "line_items" and e["action"] == "create"]
    sold = [e["fields"]["Product2Id"] for e in log if e["object"] == "OpportunityLineItem" and e["action"] == "create"]
    assert set(made) <= hs_products and set(sold) <= sf_products  # of the catalogue (the seed's, and the new ones)
    edits = [e for e in log if e["object"] == "sites" and e["action"] in ("create", "update")]
    assert all(e["stored"] == e["fields"] for e in edits if e["action"] == "update")
    assert all(set(e["fields"]) <= {"site_name", "area"} for e in edits)  # never the unique salesforce_id
