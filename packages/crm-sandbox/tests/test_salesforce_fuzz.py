"""Property-based robustness of the Salesforce sandbox: generated ids, bodies and query values sent to every REST
resource, every Bulk API 1.0 route, the OAuth token endpoint and the SOAP endpoint must never answer a 5xx (SOAP
faults excepted: Salesforce sends them as HTTP 500 by protocol), and every error must carry Salesforce's own shape:
the REST JSON array of ``{errorCode, message}``, 405 with an Allow header, OAuth's ``{error, error_description}``,
Bulk 1.0's ``exceptionCode``/``exceptionMessage``, and a SOAP ``Fault``.

The REST resources are listed here (the app routes them under one catch-all); the Bulk 1.0, OAuth and SOAP routes
are the app's own Starlette routes, enumerated. The module runs its own sandbox, so generated writes land nowhere
else; faults are off and the allocation out of reach, so 403 REQUEST_LIMIT_EXCEEDED does not hide answers.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_sandbox.salesforce.app import SalesforceService
from crm_sandbox.server import running_sandbox
from crm_sandbox.testing import salesforce_admin
from tests.clients import fetch_token, http_session, sandbox_credentials
from tests.fuzzing import EXAMPLES, json_values

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# The REST resources of one API version, as paths under /services/data/vXX.X/ ({name} is generated).
REST_RESOURCES = (
    "", "sobjects", "sobjects/{type}", "sobjects/{type}/describe", "sobjects/{type}/updated",
    "sobjects/{type}/deleted", "sobjects/{type}/{id}", "sobjects/{type}/{field}/{value}", "sobjects/{type}/Id",
    "sobjects/{type}/{id}/{a}/{b}", "query", "queryAll", "query/{locator}", "queryAll/{locator}", "limits",
    "composite/sobjects", "composite/sobjects/{type}", "composite/sobjects/{type}/{field}", "composite/{a}",
    "jobs", "jobs/ingest", "jobs/ingest/{job}", "jobs/ingest/{job}/batches", "jobs/ingest/{job}/successfulResults",
    "jobs/ingest/{job}/failedResults", "jobs/ingest/{job}/unprocessedrecords", "jobs/query", "jobs/query/{job}",
    "jobs/query/{job}/results", "{a}", "{a}/{b}",
)


def app_routes() -> list[tuple[str, str]]:
    """(method, path template) of the app's own routes other than the REST catch-all and the admin interface."""
    with tempfile.TemporaryDirectory() as folder:
        service = SalesforceService(Path(folder))
        starlette = service.app.app.app
        out = []
        for route in starlette.routes:
            path = getattr(route, "path", "")
            if path.startswith(("/__sandbox", "/services/data")) or path == "/services/oauth2/authorize":
                continue
            out += [(m, path) for m in sorted(route.methods or ()) if m != "HEAD"]
        return out


APP_ROUTES = app_routes()
REST_CASES = [(m, r) for r in REST_RESOURCES for m in METHODS]

ids = st.one_of(
    st.sampled_from(["00Q000000000001", "00Q000000000001AAA", "003000000000001AAA", "001xx000003DGb2AAG",
                     "0015g00000AbCdEFGH", "750000000000001AAA", "7500000000000001", "000000000000000",
                     "00Q", "", " ", "Id", "null", "..", "%", "describe", "99999999999999999999999"]),
    st.text(alphabet="0123456789abcdefABCDEFxyz", min_size=14, max_size=19),
    st.text(min_size=1, max_size=10),
)
types = st.sampled_from(["Lead", "Contact", "Account", "Opportunity", "Case", "Task", "User", "lead", "CONTACT",
                         "Nope", "Lead__c", "", " ", "AggregateResult"]) | st.text(max_size=8)
fields = st.sampled_from(["Id", "Email", "HubSpot_Id__c", "hubspot_id__c", "LastName", "Name", "Nope__c",
                          "", "Id.Name"]) | st.text(max_size=8)
field_values = json_values | st.sampled_from(["x@y.io", "not an email", "2026-01-01", "2026-13-45", "true",
                                              "12.5", "a" * 300, "00Q000000000001AAA"])
record_like = st.dictionaries(
    fields, field_values, max_size=4).flatmap(
    lambda d: st.one_of(st.just(d), types.map(lambda t: {**d, "attributes": {"type": t}}),
                        json_values.map(lambda a: {**d, "attributes": a})))
job_like = st.fixed_dictionaries({}, optional={
    "object": types | json_values, "operation": st.sampled_from(["insert", "update", "upsert", "delete",
                                                                 "hardDelete", "query", "queryAll", "nope"])
    | json_values, "externalIdFieldName": fields | json_values, "contentType": st.sampled_from(["CSV", "JSON"])
    | json_values, "lineEnding": st.sampled_from(["LF", "CRLF", "X"]) | json_values,
    "columnDelimiter": st.sampled_from(["COMMA", "PIPE", "X"]) | json_values, "query": st.sampled_from(
        ["SELECT Id FROM Lead", "SELECT FROM", "SELECT Id FROM Nope"]) | json_values,
    "state": st.sampled_from(["UploadComplete", "Aborted", "Open", "x"]) | json_values})
csv_bodies = st.sampled_from([b"LastName,Company\nDoe,Acme\n", b"Id\n00Q000000000001AAA\n", b"\"unclosed\n",
                              b"LastName\n" + b"x" * 300 + b"\n", b"", b"a,b\n1\n", b"\xff\xfe\x00"])
xml_bodies = st.sampled_from([
    b"<?xml version='1.0'?><jobInfo xmlns='http://www.force.com/2009/06/asyncapi/dataload'><operation>insert"
    b"</operation><object>Lead</object></jobInfo>", b"<jobInfo>", b"<x/>",
    b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'><soapenv:Body><login>"
    b"<username>u</username><password>p</password></login></soapenv:Body></soapenv:Envelope>",
    b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'><soapenv:Header/>"
    b"<soapenv:Body><merge><request><masterRecord><type>Lead</type><Id>x</Id></masterRecord></request></merge>"
    b"</soapenv:Body></soapenv:Envelope>"])
bodies = st.one_of(
    st.none(),
    st.sampled_from([b"", b"{", b"not json", b"\xff\xfe", b"[1,2", b"null", b"[]", b"{}", b'"x"', b"12"]),
    json_values.map(lambda v: json.dumps(v).encode()),
    record_like.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"records": st.lists(record_like | json_values, max_size=3) | json_values},
                          optional={"allOrNone": json_values}).map(lambda v: json.dumps(v).encode()),
    job_like.map(lambda v: json.dumps(v).encode()),
    csv_bodies, xml_bodies,
)
query_values = st.one_of(ids, st.sampled_from(["SELECT Id FROM Lead", "SELECT Id, Email FROM Contact LIMIT 3",
                                               "SELECT COUNT() FROM Lead", "SELECT", "SELECT Id FROM Nope",
                                               "2026-01-01T00:00:00Z", "2020-01-01T00:00:00+0000", "true", "-1",
                                               "a,b", "Id,Nope"]))
queries = st.dictionaries(st.sampled_from(["q", "ids", "fields", "start", "end", "allOrNone", "locator",
                                           "maxRecords", "isPkChunkingSupported", "jobType"]),
                          query_values, max_size=3)
content_types = st.sampled_from(["application/json", "text/csv", "application/xml", "text/xml; charset=UTF-8",
                                 "application/x-www-form-urlencoded", "text/plain", ""])


def fill(template: str, data) -> str:
    def one(match: re.Match) -> str:
        name = match.group(1).split(":")[0]
        strategy = {"type": types, "field": fields, "version": st.sampled_from(["59.0", "20.0", "x", "99.0"])
                    }.get(name, ids)
        return quote(data.draw(strategy, label=name), safe="")

    return re.sub(r"\{([^}]+)\}", one, template)


def assert_salesforce_answer(resp: requests.Response, what: str) -> None:
    path = urlsplit(resp.request.url).path  # as sent: the client resolves "." and ".." segments
    text = resp.text[:300]
    kind = resp.headers.get("Content-Type", "")
    if re.match(r"^/services/Soap/u/[^/]+(/[^/]+)?$", path):
        if resp.status_code >= 400:  # SOAP faults are HTTP 500 by the protocol, always a Fault element
            assert resp.status_code == 500 and "xml" in kind and ":Fault>" in resp.text, f"{what} -> {text}"
        return
    assert resp.status_code < 500, f"{what} -> {resp.status_code} {text}"
    if resp.status_code < 400:
        return
    if path.startswith("/services/oauth2/"):
        body = resp.json()
        assert isinstance(body.get("error"), str) and "error_description" in body, f"{what} -> {text}"
        return
    if path.startswith("/services/async/"):
        if "json" in kind:
            body = resp.json()
            assert body.get("exceptionCode") and "exceptionMessage" in body, f"{what} -> {text}"
        else:
            assert "<exceptionCode>" in resp.text and "<exceptionMessage>" in resp.text, f"{what} -> {text}"
        return
    body = resp.json()
    assert isinstance(body, list) and body, f"{what} -> {text}"
    for entry in body:
        assert isinstance(entry.get("errorCode"), str) and isinstance(entry.get("message"), str), \
            f"{what} -> {text}"
    if resp.status_code == 405:
        assert resp.headers.get("Allow"), f"{what}: 405 without Allow"
        assert body[0]["errorCode"] == "METHOD_NOT_ALLOWED", f"{what} -> {text}"


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    """A sandbox of the module's own, faults off and the daily allocation out of reach."""
    with running_sandbox(tmp_path_factory.mktemp("sf-fuzz")) as info:
        admin = salesforce_admin(info)
        admin.post("faults", {"profile": "none"})
        admin.post("allocation", {"daily": 100_000_000})
        session = http_session(info["salesforce"]["ca_file"])
        token, instance_url = fetch_token(sandbox_credentials(info), session)
        session.headers["Authorization"] = f"Bearer {token}"
        yield session, instance_url, info["salesforce"]["api_version"]


def test_every_route_is_covered():
    assert ("POST", "/services/oauth2/token") in APP_ROUTES
    assert any(p.startswith("/services/async/") for _, p in APP_ROUTES)
    assert any(p.startswith("/services/Soap/u/") for _, p in APP_ROUTES)
    assert len(REST_CASES) > 100


CASES = [("rest", m, t) for m, t in REST_CASES] + [("app", m, p) for m, p in APP_ROUTES]


@pytest.mark.parametrize(("kind", "method", "template"), CASES,
                         ids=[f"{m} /{t}" if k == "rest" else f"{m} {t}" for k, m, t in CASES])
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), body=bodies, query=queries, content_type=content_types)
def test_route_never_fails_on_generated_input(org, kind, method, template, data, body, query, content_type):
    """Every REST resource of the version (kind rest), and the app's own routes (app: Bulk 1.0, OAuth, SOAP)."""
    session, base, version = org
    path = (f"/services/data/v{version}/" if kind == "rest" else "") + fill(template, data)
    headers = {"Content-Type": content_type} if content_type else {}
    if path.startswith("/services/async/"):
        headers["X-SFDC-Session"] = session.headers["Authorization"][7:]
    resp = session.request(method, base + path, params=query, data=body, timeout=30, headers=headers)
    assert_salesforce_answer(resp, f"{method} {path}?{query} body={body!r:.200}")


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(METHODS), prefix=st.sampled_from(["/services/data/v59.0/", "/services/data/",
                                                                 "/services/", "/services/async/59.0/", "/"]),
       path=st.lists(st.text(alphabet="abcz0-9/%._", max_size=8), min_size=1, max_size=5))
def test_unknown_paths_answer_salesforce_errors(org, method, prefix, path):
    session, base, _ = org
    url_path = prefix + "/".join(quote(p, safe="") for p in path)
    assert_salesforce_answer(session.request(method, base + url_path, timeout=30), f"{method} {url_path}")
