"""What users do in the Salesforce UI (convert, merge, edit as a user), API counting, limits, faults, restarts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import requests
from simple_salesforce import format_soql
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from crm_sandbox.server import running_sandbox
from tests.clients import connect, sandbox_credentials


def uid() -> str:
    return uuid.uuid4().hex[:10]


def test_converted_lead_seen_through_queries(sf, sfa):
    tag = uid()
    lead = sf.Lead.create({"FirstName": "Grace", "LastName": "Hopper", "Company": f"Navy {tag}",
                           "Email": f"grace@{tag}.mil", "HubSpot_Id__c": tag})["id"]
    before = sf.Lead.get(lead)["SystemModstamp"]
    result = sfa.post("convert-lead", {"lead_id": lead, "opportunity_name": f"Navy deal {tag}"})
    row = sf.query(format_soql(
        "SELECT IsConverted, ConvertedDate, Status, ConvertedContactId, ConvertedAccountId, ConvertedOpportunityId,"
        " ConvertedContact.Email, ConvertedAccount.Name, SystemModstamp FROM Lead WHERE Id = {}", lead))["records"][0]
    assert row["IsConverted"] is True and row["Status"] == "Closed - Converted"
    assert len(row["ConvertedDate"]) == 10  # a date, not a datetime
    assert row["ConvertedContactId"] == result["contactId"] and row["ConvertedAccountId"] == result["accountId"]
    assert row["ConvertedOpportunityId"] == result["opportunityId"]
    assert row["ConvertedContact"]["Email"] == f"grace@{tag}.mil"
    assert row["ConvertedAccount"]["Name"] == f"Navy {tag}"
    assert row["SystemModstamp"] >= before
    contact = sf.Contact.get(result["contactId"])
    assert contact["AccountId"] == result["accountId"] and contact["LastName"] == "Hopper"
    assert sf.Opportunity.get(result["opportunityId"])["AccountId"] == result["accountId"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(lead, {"Title": "Admiral"})
    assert err.value.content[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"


def test_convert_into_existing_account(sf, sfa):
    account = sf.Account.create({"Name": f"Existing {uid()}"})["id"]
    lead = sf.Lead.create({"LastName": "Joiner", "Company": "ignored"})["id"]
    result = sfa.post("convert-lead", {"lead_id": lead, "account_id": account, "create_opportunity": False})
    assert result["accountId"] == account and result["opportunityId"] is None
    assert sf.Contact.get(result["contactId"])["AccountId"] == account


def test_merge_moves_children_and_marks_losers(sf, sfa):
    tag = uid()
    account = sf.Account.create({"Name": f"M {tag}"})["id"]
    master = sf.Contact.create({"LastName": "Keep", "Email": f"keep@{tag}.io", "AccountId": account})["id"]
    loser = sf.Contact.create({"LastName": "Lose", "Email": f"lose@{tag}.io"})["id"]
    case = sf.Case.create({"Subject": "help", "ContactId": loser})["id"]
    opp = sf.Opportunity.create({"Name": "D", "CloseDate": "2030-01-01", "StageName": "Prospecting"})["id"]
    role = sf.OpportunityContactRole.create({"OpportunityId": opp, "ContactId": loser, "Role": "Decision Maker"})["id"]
    result = sfa.post("merge", {"type": "Contact", "master_id": master, "merge_ids": [loser],
                                "fields": {"Title": "Merged"}})
    assert result["mergedRecordIds"] == [loser]
    gone = sf.query_all(format_soql("SELECT Id, IsDeleted, MasterRecordId FROM Contact WHERE Id = {}", loser),
                        include_deleted=True)["records"][0]
    assert gone["IsDeleted"] is True and gone["MasterRecordId"] == master
    assert sf.Case.get(case)["ContactId"] == master
    assert sf.OpportunityContactRole.get(role)["ContactId"] == master
    assert sf.Contact.get(master)["Title"] == "Merged"
    assert sf.query(format_soql("SELECT COUNT() FROM Contact WHERE Email LIKE {}", f"%@{tag}.io"))["totalSize"] == 1


def test_edit_as_a_given_user(sf, sfa):
    username = f"rep.{uid()}@example.com"
    user = sf.User.create({"Username": username, "LastName": "Rep", "Email": username, "Alias": "rep"})["id"]
    lead = sf.Lead.create({"LastName": "Edited", "Company": "C"})["id"]
    resp = sfa.session.patch(f"{sfa.url}/records/Lead/{lead}", params={"as_user": username}, json={"Title": "VP"})
    assert resp.status_code == 204, resp.text
    row = sf.Lead.get(lead)
    assert row["Title"] == "VP" and row["LastModifiedById"] == user
    bad = sfa.session.patch(f"{sfa.url}/records/Lead/{lead}", json={"Status": "Bogus"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_exact_api_counts(sf, sfa):
    sfa.post("usage/reset")
    rid = sf.Account.create({"Name": "Counted"})["id"]
    sf.Account.update(rid, {"Phone": "555"})
    sf.Account.get(rid)
    sf.Account.describe()
    sf.query("SELECT Id FROM Account LIMIT 1")
    sf.restful("composite/sobjects", method="POST", json={"records": [{"attributes": {"type": "Account"},
                                                                       "Name": "C2"}]})
    sfa.get("usage")  # admin calls are not counted
    assert sfa.get("usage")["by_endpoint"] == {
        "POST sobjects/Account": 1, "PATCH sobjects/Account/{id}": 1, "GET sobjects/Account/{id}": 1,
        "GET sobjects/Account/describe": 1, "GET query": 1, "POST composite/sobjects": 1}
    assert sfa.get("usage")["today"] == 6


def test_request_limit_exceeded_once_allocation_is_spent(sf, sfa):
    used = sfa.get("usage")["today"]
    original = sfa.get("usage")["allocation"]
    sfa.post("allocation", {"daily": used + 3})
    try:
        for _ in range(3):
            sf.query("SELECT COUNT() FROM Lead")
        assert sf.api_usage["api-usage"].used == used + 3
        with pytest.raises(SalesforceRefusedRequest) as err:
            sf.query("SELECT COUNT() FROM Lead")
        assert err.value.status == 403
        assert err.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    finally:
        sfa.post("allocation", {"daily": original})
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] >= 0


def test_injected_5xx_then_recovery(sf, sfa):
    sfa.post("faults", {"rules": {"error_503": 1.0}, "max_faults": 2})
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as err:
            sf.query("SELECT COUNT() FROM Lead")
        assert err.value.status == 503
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] >= 0
    sfa.post("faults", {"rules": {"error_500": 1.0}, "max_faults": 1})
    with pytest.raises(SalesforceGeneralError) as err:
        sf.query("SELECT COUNT() FROM Lead")
    assert err.value.status == 500 and err.value.content[0]["errorCode"] == "UNKNOWN_EXCEPTION"


def test_slow_response_and_dropped_connection(sf, sfa):
    sfa.post("faults", {"rules": {"slow": 1.0}, "max_faults": 1, "slow_seconds": 2})
    with pytest.raises(requests.exceptions.ReadTimeout):
        sf.query("SELECT COUNT() FROM Lead", timeout=0.5)
    sfa.post("faults", {"rules": {"drop": 1.0}, "max_faults": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        sf.query("SELECT COUNT() FROM Lead")
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] >= 0


def test_lock_row_expired_session_and_daily_limit_faults(sf, sfa, sandbox):
    sfa.post("faults", {"profile": "lock_rows", "seed": 3})
    outcomes = []
    for i in range(20):
        try:
            sf.Account.create({"Name": f"L{i}"})
            outcomes.append("ok")
        except SalesforceMalformedRequest as err:
            assert err.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
            outcomes.append("locked")
    assert "locked" in outcomes and "ok" in outcomes
    sfa.post("faults", {"profile": "lock_rows", "seed": 3})
    again = []
    for i in range(20):
        try:
            sf.Account.create({"Name": f"L{i}"})
            again.append("ok")
        except SalesforceMalformedRequest:
            again.append("locked")
    assert again == outcomes  # the same seed gives the same run
    sfa.post("faults", {"rules": {"expire_session": 1.0}, "max_faults": 1})
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT COUNT() FROM Lead")
    fresh = connect(sandbox_credentials(sandbox))
    original = sfa.get("usage")["allocation"]
    sfa.post("faults", {"rules": {"daily_limit": 1.0}, "max_faults": 1})
    try:
        with pytest.raises(SalesforceRefusedRequest) as err:
            fresh.query("SELECT COUNT() FROM Lead")
        assert err.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    finally:
        sfa.post("usage/reset")
        sfa.post("allocation", {"daily": original})


def test_state_survives_a_restart(tmp_path):
    with running_sandbox(tmp_path / "org") as first:
        sf = connect(sandbox_credentials(first))
        rid = sf.Contact.create({"LastName": "Persistent", "HubSpot_Id__c": "hs-1"})["id"]
        sf.Contact.delete(sf.Contact.create({"LastName": "Deleted"})["id"])
        ca = Path(first["salesforce"]["ca_file"]).read_text()
    with running_sandbox(tmp_path / "org") as second:
        assert second["salesforce"]["client_secret"] == first["salesforce"]["client_secret"]
        assert Path(second["salesforce"]["ca_file"]).read_text() == ca
        sf = connect(sandbox_credentials(second))
        assert sf.Contact.get_by_custom_id("HubSpot_Id__c", "hs-1")["Id"] == rid
        assert sf.query("SELECT COUNT() FROM Contact", include_deleted=True)["totalSize"] == 2
        newer = sf.Contact.create({"LastName": "After"})["id"]
        assert newer > rid  # id counters continue, never reuse
        usage = requests.get(f"{second['salesforce']['admin_url']}/usage", verify=second["salesforce"]["ca_file"])
        assert json.loads(usage.text)["by_endpoint"]["POST sobjects/Contact"] == 3
