"""The SOAP partner API's merge() over real HTTP: envelopes in, MergeResults and faults out, the org changed."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import pytest
import requests
from simple_salesforce import format_soql

from crm_sandbox.ids import make_id

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS = {"soapenv": SOAPENV, "p": PARTNER}


def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture()
def soap(sf, sandbox):
    """simple-salesforce's own requests session: it trusts the sandbox CA and ignores the environment's proxies."""
    assert sf.session.trust_env is False and sf.session.verify == sandbox["salesforce"]["ca_file"]
    return sf.session


def merge_envelope(session_id: str, calls: list[tuple[str, str, list[str], dict]]) -> str:
    """A partner merge() call: one <request> per (type, master id, ids to merge, master field values)."""
    body = []
    for type_name, master, losers, fields in calls:
        values = "".join(f"<urn1:{k}>{escape(v)}</urn1:{k}>" for k, v in fields.items())
        ids = "".join(f"<urn:recordToMergeIds>{i}</urn:recordToMergeIds>" for i in losers)
        body.append(f"<urn:request><urn:masterRecord><urn1:type>{type_name}</urn1:type><urn1:Id>{master}</urn1:Id>"
                    f"{values}</urn:masterRecord>{ids}</urn:request>")
    return ('<?xml version="1.0" encoding="utf-8"?>'
            f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}" xmlns:urn="{PARTNER}" '
            'xmlns:urn1="urn:sobject.partner.soap.sforce.com">'
            f"<soapenv:Header><urn:SessionHeader><urn:sessionId>{escape(session_id)}</urn:sessionId>"
            "</urn:SessionHeader></soapenv:Header>"
            f"<soapenv:Body><urn:merge>{''.join(body)}</urn:merge></soapenv:Body></soapenv:Envelope>")


def post(soap, url: str, envelope: str, action: str = "merge"):
    return soap.post(url, data=envelope.encode(), timeout=30,
                     headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": action})


def soap_url(sf) -> str:
    return f"{sf.base_url.split('/services/')[0]}/services/Soap/u/59.0"


def merge_results(resp) -> list[dict]:
    """The MergeResults of a 200 response, as plain values."""
    assert resp.status_code == 200, resp.text
    out = []
    for result in ET.fromstring(resp.content).findall("soapenv:Body/p:mergeResponse/p:result", NS):
        errors = [{"statusCode": e.findtext("p:statusCode", namespaces=NS), "message": e.findtext("p:message",
                   namespaces=NS), "fields": [f.text for f in e.findall("p:fields", NS)]}
                  for e in result.findall("p:errors", NS)]
        rid = result.find("p:id", NS)
        out.append({"success": result.findtext("p:success", namespaces=NS),
                    "id": None if rid.get(f"{{{XSI}}}nil") == "true" else rid.text,
                    "mergedRecordIds": [e.text for e in result.findall("p:mergedRecordIds", NS)],
                    "updatedRelatedIds": [e.text for e in result.findall("p:updatedRelatedIds", NS)],
                    "errors": errors})
    return out


def fault(resp) -> tuple[str, str]:
    assert resp.status_code == 500, resp.text
    found = ET.fromstring(resp.content).find("soapenv:Body/soapenv:Fault", NS)
    return found.findtext("faultcode"), found.findtext("faultstring")


def test_merge_moves_children_deletes_loser_and_counts_as_an_api_call(sf, sfa, soap, sandbox):
    tag = uid()
    master = sf.Account.create({"Name": f"Keep {tag}"})["id"]
    loser = sf.Account.create({"Name": f"Lose {tag}"})["id"]
    contact = sf.Contact.create({"LastName": f"Child {tag}", "AccountId": loser})["id"]
    before = sfa.get("usage")["by_endpoint"].get("soap/merge", 0)
    resp = post(soap, soap_url(sf), merge_envelope(sf.session_id, [("Account", master, [loser],
                                                                    {"Phone": "555-0100"})]), action='""')
    assert resp.headers["Content-Type"].startswith("text/xml")
    assert resp.headers["Sforce-Limit-Info"].startswith("api-usage=")  # an API call, counted like REST ones
    [result] = merge_results(resp)
    assert result["success"] == "true" and result["id"] == master and not result["errors"]
    assert result["mergedRecordIds"] == [loser]
    assert result["updatedRelatedIds"] == [contact]
    gone = sf.query_all(format_soql("SELECT Id, IsDeleted, MasterRecordId FROM Account WHERE Id = {}", loser),
                        include_deleted=True)["records"][0]
    assert gone["IsDeleted"] is True and gone["MasterRecordId"] == master
    assert sf.Contact.get(contact)["AccountId"] == master
    kept = sf.Account.get(master)
    assert kept["Phone"] == "555-0100"  # masterRecord's field elements are set on the master
    me = sf.query(format_soql("SELECT Id FROM User WHERE Username = {}", sandbox["salesforce"]["username"]))
    assert kept["LastModifiedById"] == me["records"][0]["Id"]  # the token's user (client credentials: the admin)
    assert sfa.get("usage")["by_endpoint"]["soap/merge"] == before + 1


def test_login_then_merge_at_server_url_with_two_requests_in_order(sandbox, sf, soap):
    info = sandbox["salesforce"]
    login = ('<?xml version="1.0" encoding="utf-8"?>'
             f'<env:Envelope xmlns:env="{SOAPENV}" xmlns:p="{PARTNER}"><env:Body><p:login>'
             f"<p:username>{escape(info['username'])}</p:username>"
             f"<p:password>{escape(info['password'] + info['security_token'])}</p:password>"
             "</p:login></env:Body></env:Envelope>")
    logged = post(soap, soap_url(sf), login, action="login")
    assert logged.status_code == 200, logged.text
    result = ET.fromstring(logged.content).find("soapenv:Body/p:loginResponse/p:result", NS)
    server_url, session_id = result.findtext("p:serverUrl", namespaces=NS), result.findtext("p:sessionId",
                                                                                              namespaces=NS)
    assert server_url.startswith(soap_url(sf) + "/00D")
    tag = uid()
    keep_a, lose_a1, lose_a2 = (sf.Contact.create({"LastName": f"A{i} {tag}"})["id"] for i in range(3))
    keep_b, lose_b = (sf.Lead.create({"LastName": f"B{i} {tag}", "Company": tag})["id"] for i in range(2))
    results = merge_results(post(soap, server_url, merge_envelope(session_id, [
        ("Contact", keep_a, [lose_a1, lose_a2], {}), ("Lead", keep_b, [lose_b], {})])))
    assert [(r["success"], r["id"], r["mergedRecordIds"]) for r in results] == [
        ("true", keep_a, [lose_a1, lose_a2]), ("true", keep_b, [lose_b])]
    deleted = sf.query_all(format_soql("SELECT Id, MasterRecordId FROM Contact WHERE Id IN {}", [lose_a1, lose_a2]),
                           include_deleted=True)["records"]
    assert {r["MasterRecordId"] for r in deleted} == {keep_a}


def test_bad_or_missing_session_is_an_invalid_session_fault(sf, soap):
    a, b = (sf.Account.create({"Name": f"S{i} {uid()}"})["id"] for i in range(2))
    for session_id in ("00Dbogus!AQnotatoken", ""):
        code, message = fault(post(soap, soap_url(sf), merge_envelope(session_id, [("Account", a, [b], {})])))
        assert code == "sf:INVALID_SESSION_ID"
        assert message == "INVALID_SESSION_ID: Invalid Session ID found in SessionHeader: Illegal Session"
    assert sf.Account.get(b)["IsDeleted"] is False


def test_failed_requests_are_results_not_faults(sf, soap):
    tag = uid()
    master, deleted, other, spare = (sf.Account.create({"Name": f"F{i} {tag}"})["id"] for i in range(4))
    sf.Account.delete(deleted)
    contact = sf.Contact.create({"LastName": tag})["id"]
    unknown = make_id("001", 10**12)
    results = merge_results(post(soap, soap_url(sf), merge_envelope(sf.session_id, [
        ("Account", master, [deleted], {}),
        ("Account", master, [master], {}),
        ("Opportunity", master, [other], {}),
        ("Account", master, [unknown], {}),
        ("Account", master, [contact], {}),
        ("Account", master, [spare], {}),
    ])))
    codes = [r["errors"][0]["statusCode"] if r["errors"] else None for r in results]
    assert codes == ["ENTITY_IS_DELETED", "INVALID_FIELD", "INVALID_TYPE", "NOT_FOUND", "NOT_FOUND", None]
    assert all(r["success"] == "false" and r["id"] is None for r in results[:5])
    assert results[5]["success"] == "true" and results[5]["mergedRecordIds"] == [spare]
    assert sf.Account.get(other)["IsDeleted"] is False and sf.Contact.get(contact)["IsDeleted"] is False


def test_malformed_and_unknown_calls_are_client_faults(sf, soap):
    code, message = fault(post(soap, soap_url(sf), "<soapenv:Envelope><oops"))
    assert code == "soapenv:Client" and "Malformed" in message
    unknown = merge_envelope(sf.session_id, []).replace("urn:merge>", "urn:undelete>")
    code, message = fault(post(soap, soap_url(sf), unknown, action="undelete"))
    assert code == "soapenv:Client"
    assert message.startswith(f"No operation available for request {{{PARTNER}}}undelete")


def test_injected_faults_and_limits_answer_as_soap(sf, sfa, soap):
    a, b = (sf.Account.create({"Name": f"X{i} {uid()}"})["id"] for i in range(2))
    envelope = merge_envelope(sf.session_id, [("Account", a, [b], {})])
    sfa.post("faults", {"rules": {"lock_row": 1.0}, "max_faults": 1})
    [locked] = merge_results(post(soap, soap_url(sf), envelope))
    assert locked["success"] == "false" and locked["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    sfa.post("faults", {"rules": {"error_503": 1.0}, "max_faults": 1})
    resp = post(soap, soap_url(sf), envelope)
    assert resp.status_code == 503
    assert ET.fromstring(resp.content).findtext("soapenv:Body/soapenv:Fault/faultcode", namespaces=NS) == \
        "sf:SERVER_UNAVAILABLE"
    original = sfa.get("usage")["allocation"]
    sfa.post("allocation", {"daily": sfa.get("usage")["today"]})
    try:
        code, message = fault(post(soap, soap_url(sf), envelope))
        assert code == "sf:REQUEST_LIMIT_EXCEEDED"
    finally:
        sfa.post("allocation", {"daily": original})
    assert sf.Account.get(b)["IsDeleted"] is False  # nothing merged while faulted
    sfa.post("faults", {"rules": {"drop": 1.0}, "max_faults": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        post(soap, soap_url(sf), envelope)
    sfa.post("faults", {"rules": {"expire_session": 1.0}, "max_faults": 1})
    code, _ = fault(post(soap, soap_url(sf), envelope))
    assert code == "sf:INVALID_SESSION_ID"
