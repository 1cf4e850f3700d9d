"""Custom objects defined through the admin interface (as in Setup's Object Manager): their describe, required and
read-only fields, lookups and master-detail relationships with their cascade deletes, kept across a restart."""

from __future__ import annotations

import uuid

import pytest
from simple_salesforce import format_soql
from simple_salesforce.exceptions import SalesforceMalformedRequest

from crm_sandbox.server import running_sandbox
from crm_sandbox.testing import salesforce_admin
from tests.clients import connect, sandbox_credentials


def _names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:6]
    return f"Project{tag}__c", f"Milestone{tag}__c"


def define(admin, project: str, milestone: str) -> None:
    admin.post("sobjects", {"name": project, "label": "Project", "fields": [
        {"name": "Budget__c", "type": "currency"},
        {"name": "Stage__c", "type": "picklist", "values": ["Planned", "Active", "Done"], "restricted": True},
        {"name": "Account__c", "type": "lookup", "reference_to": "Account"},
        {"name": "HubSpot_Id__c", "type": "string", "length": 18, "external_id": True, "unique": True}]})
    admin.post("sobjects", {"name": milestone, "label": "Milestone", "fields": [
        {"name": "Due__c", "type": "date"},
        {"name": "Project__c", "type": "master_detail", "reference_to": project}]})


def test_a_custom_object_is_described_and_written_as_the_org_defines_it(sf, sfa):
    project, milestone = _names()
    define(sfa, project, milestone)
    desc = getattr(sf, project).describe()
    assert desc["custom"] is True and desc["keyPrefix"].startswith("a")
    fields = {f["name"]: f for f in desc["fields"]}
    assert {"Id", "Name", "OwnerId", "Budget__c", "Stage__c", "Account__c", "HubSpot_Id__c", "SystemModstamp"} <= set(
        fields)
    assert (fields["Account__c"]["referenceTo"], fields["Account__c"]["relationshipName"],
            fields["Account__c"]["custom"]) == (["Account"], "Account__r", True)
    assert fields["HubSpot_Id__c"]["externalId"] and fields["Name"]["nillable"] is False
    detail = {f["name"]: f for f in getattr(sf, milestone).describe()["fields"]}
    assert "OwnerId" not in detail  # a detail's owner is its master's
    assert (detail["Project__c"]["nillable"], detail["Project__c"]["updateable"]) == (False, False)
    children = {(c["childSObject"], c["field"]): c["cascadeDelete"] for c in getattr(sf, project).describe()[
        "childRelationships"]}
    assert children[(milestone, "Project__c")] is True
    assert {c["childSObject"] for c in sf.Account.describe()["childRelationships"]} >= {project}
    assert project in {o["name"] for o in sf.describe()["sobjects"]}

    account = sf.Account.create({"Name": "Custom Objects Inc"})["id"]
    made = getattr(sf, project).upsert("HubSpot_Id__c/777", {"Name": "Rollout", "Budget__c": 1200.5,
                                                              "Stage__c": "Planned", "Account__c": account})
    assert made == 201
    [row] = sf.query(format_soql(f"SELECT Id, Name, Budget__c, Account__r.Name FROM {project} "
                                 "WHERE HubSpot_Id__c = {}", "777"))["records"]
    assert (row["Name"], row["Budget__c"], row["Account__r"]["Name"]) == ("Rollout", 1200.5, "Custom Objects Inc")
    with pytest.raises(SalesforceMalformedRequest) as bad:
        getattr(sf, project).create({"Budget__c": 1})
    assert bad.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as bad:
        getattr(sf, project).create({"Name": "X", "Stage__c": "Someday"})
    assert bad.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    with pytest.raises(SalesforceMalformedRequest) as bad:
        getattr(sf, milestone).create({"Name": "Kick-off"})
    assert bad.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"

    first = getattr(sf, milestone).create({"Name": "Kick-off", "Due__c": "2027-01-15", "Project__c": row["Id"]})["id"]
    other = getattr(sf, project).create({"Name": "Other"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as bad:  # master-detail without reparenting: set once
        getattr(sf, milestone).update(first, {"Project__c": other})
    assert bad.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    # Deleting the master deletes its details; a lookup's child stays.
    getattr(sf, project).delete(row["Id"])
    assert sf.query_all(f"SELECT Id FROM {milestone}")["totalSize"] == 0
    assert sf.query_all(f"SELECT Id FROM {milestone} WHERE IsDeleted = true", include_deleted=True)["totalSize"] == 1
    sf.Account.delete(account)
    assert sf.query_all(f"SELECT Id FROM {project}")["totalSize"] == 1  # Other, which had no account anyway


def test_bad_definitions_are_refused_and_definitions_outlive_a_restart(tmp_path):
    with running_sandbox(tmp_path / "org") as info:
        admin = salesforce_admin(info)
        for body, says in [({"name": "NoSuffix"}, "end in __c"), ({"name": "Bad__c", "fields": [
                {"name": "X__c", "type": "rocket"}]}, "type must be"),
                ({"name": "Bad__c", "fields": [{"name": "Y__c", "type": "lookup", "reference_to": "Nope"}]},
                 "reference_to"), ({"name": "Account"}, "exists already")]:
            resp = admin.session.post(f"{admin.url}/sobjects", json=body, timeout=30)
            assert resp.status_code == 400 and says in resp.json()["error"], resp.text
        define(admin, "Project__c", "Milestone__c")
        resp = admin.session.post(f"{admin.url}/sobjects", json={"name": "Project__c"}, timeout=30)
        assert resp.status_code == 400 and "exists" in resp.json()["error"]
        sf = connect(sandbox_credentials(info))
        sf.Project__c.create({"Name": "Kept"})
    with running_sandbox(tmp_path / "org") as info:
        sf = connect(sandbox_credentials(info))
        assert [r["Name"] for r in sf.query("SELECT Name FROM Project__c")["records"]] == ["Kept"]
        assert {o["name"] for o in salesforce_admin(info).session.get(
            f"{salesforce_admin(info).url}/sobjects", timeout=30).json()} == {"Project__c", "Milestone__c"}
