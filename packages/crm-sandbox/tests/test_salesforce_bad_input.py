"""Bad input to the Salesforce sandbox answers Salesforce's status and error body, and writes nothing: bodies of
the wrong JSON kind or missing, field values that are objects, path segments that are no id, unknown resources
and wrong methods (405 with Allow). Driven through simple-salesforce where it has the call, raw otherwise (to see
headers)."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from tests.clients import http_session


def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture()
def raw(sf, sandbox):
    """(send, version base): requests on the REST API with the session's token, answers returned as they come."""
    session = http_session(sandbox["salesforce"]["ca_file"])
    base = f"{sf.base_url.rstrip('/')}"

    def send(method: str, path: str, body: bytes | None = None, **headers) -> requests.Response:
        return session.request(method, f"{base}/{path}", data=body, timeout=30,
                               headers={"Authorization": f"Bearer {sf.session_id}",
                                        "Content-Type": "application/json", **headers})

    return send


def leads_named(sf, name: str) -> int:
    return sf.query(f"SELECT COUNT() FROM Lead WHERE LastName = '{name}'")["totalSize"]


@pytest.mark.parametrize(("body", "token"), [([1, 2], "START_ARRAY value ["), ("x", "VALUE_STRING value x"),
                                             (None, "VALUE_NULL value null"), (7, "VALUE_NUMBER_INT value 7")])
def test_a_record_body_that_is_no_object_is_a_json_parser_error(raw, body, token):
    resp = raw("POST", "sobjects/Lead/", json.dumps(body).encode())
    assert resp.status_code == 400
    assert resp.json() == [{"errorCode": "JSON_PARSER_ERROR", "fields": [], "message":
                            f"Cannot deserialize instance of Lead from {token} or request may be missing a required "
                            "field at [line:1, column:1]"}]
    upsert = raw("PATCH", "sobjects/Lead/HubSpot_Id__c/ext-1", json.dumps(body).encode())
    assert (upsert.status_code, upsert.json()[0]["errorCode"]) == (400, "JSON_PARSER_ERROR")


def test_a_missing_body_is_refused_not_taken_as_an_empty_record(raw, sf):
    created = sf.Lead.create({"LastName": f"Body{uid()}", "Company": "Acme"})
    for method, path in (("POST", "sobjects/Lead/"), ("PATCH", f"sobjects/Lead/{created['id']}"),
                         ("PATCH", "sobjects/Lead/HubSpot_Id__c/ext-2"), ("POST", "composite/sobjects"),
                         ("POST", "jobs/ingest")):
        resp = raw(method, path, b"")
        assert resp.status_code == 400, (method, path)
        assert resp.json()[0] == {"errorCode": "JSON_PARSER_ERROR", "fields": [], "message":
                                  "The HTTP entity body is required, but this request has no entity body."}


def test_an_object_as_a_field_value_names_the_field_and_writes_nothing(sf):
    name = f"Obj{uid()}"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.create({"LastName": name, "Company": {"Name": "Acme"}})
    assert err.value.content[0]["errorCode"] == "JSON_PARSER_ERROR"
    assert err.value.content[0]["fields"] == ["Company"]
    assert "START_OBJECT" in err.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.create({"LastName": name, "Company": "Acme", "NumberOfEmployees": [5]})
    assert err.value.content[0]["fields"] == ["NumberOfEmployees"]
    assert leads_named(sf, name) == 0


def test_a_record_segment_that_is_no_id_reads_as_a_missing_external_id(sf):
    for call in (lambda: sf.Lead.get("not-an-id"), lambda: sf.Lead.update("not-an-id", {"Title": "x"}),
                 lambda: sf.Lead.delete("not-an-id")):
        with pytest.raises(SalesforceResourceNotFound) as err:
            call()
        assert err.value.content == [{"errorCode": "NOT_FOUND", "fields": [], "message":
                                      "Provided external ID field does not exist or is not accessible: not-an-id"}]
    with pytest.raises(SalesforceResourceNotFound) as err:  # a well-formed id of no record: the plain NOT_FOUND
        sf.Lead.get("00Q000000000001AAA")
    assert err.value.content[0]["message"] == "The requested resource does not exist"


def test_unknown_resources_are_404_and_wrong_methods_405_with_allow(raw):
    for path in ("sobjects/Lead/00Q000000000001AAA/a/b", "sobjects/Nope", "nothing/here", "jobs/ingest/x/y/z",
                 "composite/tree/Lead"):
        resp = raw("GET", path)  # no such resource: the body without the fields list of a missing record's
        assert (resp.status_code, resp.json()) == (404, [{"errorCode": "NOT_FOUND", "message":
                                                          "The requested resource does not exist"}]), path
    for method, path, allowed in (("GET", "composite/sobjects", "POST,PATCH,DELETE"),
                                  ("PUT", "sobjects/Lead", "GET,HEAD,POST"),
                                  ("POST", "sobjects/Lead/describe", "GET,HEAD"),
                                  ("POST", "sobjects/Lead/00Q000000000001AAA", "GET,HEAD,PATCH,DELETE"),
                                  ("PUT", "sobjects/Lead/HubSpot_Id__c/x", "GET,HEAD,PATCH,DELETE"),
                                  ("DELETE", "jobs/ingest", "GET,HEAD,POST"),
                                  ("GET", "jobs/ingest/750000000000001AAA/batches", "PUT"),
                                  ("POST", "limits", "GET,HEAD"),
                                  ("PATCH", "query", "GET,HEAD")):
        resp = raw(method, path, b"{}")
        assert resp.status_code == 405, (method, path, resp.text)
        assert resp.headers["Allow"] == allowed, (method, path)
        assert resp.json() == [{"errorCode": "METHOD_NOT_ALLOWED", "message":
                                f"HTTP Method '{method}' not allowed. Allowed are {allowed}"}]


def test_collections_refuse_records_that_are_no_objects_as_a_whole_and_write_nothing(raw, sf):
    name = f"Col{uid()}"
    good = {"attributes": {"type": "Lead"}, "LastName": name, "Company": "Acme"}
    for records in ([good, "x"], [good, [1]], [good, {**good, "attributes": ["Lead"]}], [good, {**good,
                                                                                              "attributes": "Lead"}]):
        resp = raw("POST", "composite/sobjects", json.dumps({"records": records}).encode())
        assert (resp.status_code, resp.json()[0]["errorCode"]) == (400, "JSON_PARSER_ERROR"), records
    resp = raw("POST", "composite/sobjects", json.dumps({"records": [good], "allOrNone": "yes"}).encode())
    assert (resp.status_code, resp.json()[0]["fields"]) == (400, ["allOrNone"])
    resp = raw("DELETE", "composite/sobjects?ids=00Q000000000001AAA&allOrNone=maybe")
    assert (resp.status_code, resp.json()[0]["errorCode"]) == (400, "INVALID_QUERY_PARAMETER")
    assert leads_named(sf, name) == 0
    resp = raw("POST", "composite/sobjects", json.dumps({"records": [good]}).encode())
    assert resp.status_code == 200 and resp.json()[0]["success"] is True
    assert leads_named(sf, name) == 1


def test_collection_retrieve_by_post_and_delete_by_external_id(raw, sf):
    ext = f"hs-{uid()}"
    lead = sf.Lead.create({"LastName": f"Ext{uid()}", "Company": "Acme", "HubSpot_Id__c": ext})["id"]
    got = raw("POST", "composite/sobjects/Lead", json.dumps({"ids": [lead], "fields": ["Id", "Company"]}).encode())
    assert got.status_code == 200 and got.json()[0]["Company"] == "Acme" and got.json()[0]["Id"] == lead
    bad = raw("POST", "composite/sobjects/Lead", json.dumps({"ids": lead, "fields": ["Id"]}).encode())
    assert (bad.status_code, bad.json()[0]["fields"]) == (400, ["ids"])
    assert raw("DELETE", f"sobjects/Lead/HubSpot_Id__c/{ext}").status_code == 204
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Lead.get(lead)
    assert err.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    assert raw("DELETE", f"sobjects/Lead/HubSpot_Id__c/{ext}").status_code == 404


def test_bulk_jobs_refuse_fields_of_the_wrong_type(raw):
    resp = raw("POST", "jobs/ingest", json.dumps({"operation": ["insert"], "object": "Lead"}).encode())
    assert (resp.status_code, resp.json()[0]["errorCode"], resp.json()[0]["fields"]) == (
        400, "JSON_PARSER_ERROR", ["operation"])
    job = raw("POST", "jobs/ingest", json.dumps({"operation": "insert", "object": "Lead"}).encode()).json()
    resp = raw("PATCH", f"jobs/ingest/{job['id']}", json.dumps({"state": 5}).encode())
    assert (resp.status_code, resp.json()[0]["fields"]) == (400, ["state"])
    resp = raw("PUT", f"jobs/ingest/{job['id']}/batches", b"LastName\n\xff\xfe\n", **{"Content-Type": "text/csv"})
    assert (resp.status_code, resp.json()[0]["errorCode"]) == (400, "INVALIDBATCH")


def test_oauth_and_bulk1_answer_their_own_error_shapes(sandbox, sf):
    session = http_session(sandbox["salesforce"]["ca_file"])
    token = session.post(sandbox["salesforce"]["token_url"], data=b"grant_type=\xff\xfe", timeout=30,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert token.status_code == 400 and token.json()["error"] == "unsupported_grant_type"
    bulk = session.get(f"{sf.base_url.split('/services/')[0]}/services/async/59.0/job", timeout=30,
                       headers={"X-SFDC-Session": sf.session_id})
    assert bulk.status_code == 405
    assert "<exceptionCode>InvalidUrl</exceptionCode>" in bulk.text
