"""What the sandboxes put on the wire, read as raw bytes where the point is the bytes: header names in the
services' own case, Salesforce's versions and its JSON errors for unknown paths and methods, HubSpot's legacy
properties endpoints, paging links on the client's host, and owners as the seed reports them."""

from __future__ import annotations

import socket
import sqlite3
import ssl
import time
import uuid
from urllib.parse import urlsplit

import pytest
import requests
from hubspot.crm.owners.exceptions import ApiException as OwnersApiException
from hubspot.crm.properties import PropertyCreate

from crm_sandbox.seed import seed_sandbox
from crm_sandbox.server import running_sandbox
from tests.clients import fetch_token, http_session, sandbox_credentials

NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
RATE_HEADERS = ["X-HubSpot-RateLimit-Daily", "X-HubSpot-RateLimit-Daily-Remaining",
                "X-HubSpot-RateLimit-Interval-Milliseconds", "X-HubSpot-RateLimit-Max",
                "X-HubSpot-RateLimit-Remaining"]


class Raw:
    """One HTTP/1.1 exchange on a fresh socket (TLS with the sandbox CA for https): the status line, the header
    lines exactly as sent, and the body."""

    def __init__(self, base_url: str, method: str, target: str, headers: dict | None = None,
                 ca_file: str | None = None, host: str | None = None):
        url = urlsplit(base_url)
        sock = socket.create_connection((url.hostname, url.port), timeout=30)
        if url.scheme == "https":
            sock = ssl.create_default_context(cafile=ca_file).wrap_socket(sock, server_hostname=url.hostname)
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host or url.netloc}", "Connection: close",
                 *(f"{k}: {v}" for k, v in (headers or {}).items())]
        with sock:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, self.body = data.partition(b"\r\n\r\n")
        status, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status.split(" ")[1])
        self.headers = [tuple(line.split(": ", 1)) for line in header_lines]

    @property
    def names(self) -> list[str]:
        """The header names as sent, sorted (their order is not the point)."""
        return sorted(name for name, _ in self.headers)

    def header(self, name: str) -> str:
        return next(value for key, value in self.headers if key == name)

    def json(self):
        import json

        return json.loads(self.body)


@pytest.fixture(scope="module")
def sf_wire(sandbox):
    """(instance URL, CA file, bearer headers) for raw Salesforce exchanges."""
    sf = sandbox["salesforce"]
    token, _ = fetch_token(sandbox_credentials(sandbox), http_session(sf["ca_file"]))
    return sf["instance_url"], sf["ca_file"], {"Authorization": f"Bearer {token}"}


@pytest.fixture()
def hs_wire(sandbox, hsa):
    """(base URL, bearer headers) for raw and requests-level HubSpot exchanges."""
    hs = sandbox["hubspot"]
    return hs["base_url"], {"Authorization": f"Bearer {hs['access_token']}"}


def sf_raw(sf_wire, method: str, target: str, auth: bool = True) -> Raw:
    base, ca_file, headers = sf_wire
    return Raw(base, method, target, headers if auth else None, ca_file)


# ---- header names in the services' case ---------------------------------------------------------------------
def test_salesforce_headers_are_sent_in_salesforce_case(sf_wire):
    limits = sf_raw(sf_wire, "GET", "/services/data/v59.0/limits")
    assert limits.status == 200
    assert limits.names == sorted(["Date", "Content-Length", "Content-Type", "Sforce-Limit-Info", "Connection"])
    assert limits.header("Sforce-Limit-Info").startswith("api-usage=")
    assert limits.header("Content-Type") == "application/json"
    # The versions resource carries no usage header (A4.4); errors of no resource are cased all the same.
    plain = sorted(["Date", "Content-Length", "Content-Type", "Connection"])
    assert sf_raw(sf_wire, "GET", "/services/data/", auth=False).names == plain
    assert sf_raw(sf_wire, "GET", "/services/nothing/here").names == plain


def test_bulk_result_headers_keep_their_inner_capitals(sf_wire):
    base, ca_file, headers = sf_wire
    session = http_session(ca_file)
    session.headers.update(headers)
    job = session.post(f"{base}/services/data/v59.0/jobs/query",
                       json={"operation": "query", "query": "SELECT Id FROM User"}, timeout=30).json()
    deadline = time.monotonic() + 30
    while session.get(f"{base}/services/data/v59.0/jobs/query/{job['id']}", timeout=30).json()["state"] != \
            "JobComplete":
        assert time.monotonic() < deadline, "the query job did not complete"
        time.sleep(0.1)
    results = sf_raw(sf_wire, "GET", f"/services/data/v59.0/jobs/query/{job['id']}/results")
    assert results.status == 200
    assert results.names == sorted(["Date", "Content-Length", "Content-Type", "Sforce-NumberOfRecords",
                                    "Sforce-Locator", "Sforce-Limit-Info", "Connection"])
    assert results.header("Sforce-Locator") == "null"
    assert int(results.header("Sforce-NumberOfRecords")) == len(results.body.decode().strip().splitlines()) - 1


def test_hubspot_headers_are_sent_in_hubspot_case(hs_wire):
    base, headers = hs_wire
    listed = Raw(base, "GET", "/crm/v3/objects/contacts?limit=1", headers)
    assert listed.status == 200
    expected = sorted(["Date", "Content-Length", "Content-Type", "X-HubSpot-Correlation-Id", *RATE_HEADERS,
                       "Connection"])
    assert listed.names == expected
    assert listed.header("X-HubSpot-RateLimit-Interval-Milliseconds") == "10000"
    refused = Raw(base, "GET", "/crm/v3/objects/contacts")  # no token: 401, still HubSpot's spelling
    assert refused.status == 401
    assert refused.names == expected
    assert not any(name.lower() == "server" for name in listed.names)  # no "server: uvicorn"


# ---- Salesforce versions and errors -----------------------------------------------------------------------------
def test_versions_resource_lists_the_real_versions(sf_wire):
    listed = sf_raw(sf_wire, "GET", "/services/data/", auth=False)
    body = listed.json()
    assert listed.status == 200 and len(body) == 29
    assert body[0] == {"label": "Summer '14", "url": "/services/data/v31.0", "version": "31.0"}
    assert body[-1] == {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"}
    assert {"label": "Summer '23", "url": "/services/data/v58.0", "version": "58.0"} in body
    assert {"label": "Spring '17", "url": "/services/data/v39.0", "version": "39.0"} in body
    assert [list(v) for v in body] == [["label", "url", "version"]] * 29
    assert [v["version"] for v in body] == [f"{n}.0" for n in range(31, 60)]
    assert sf_raw(sf_wire, "GET", "/services/data", auth=False).json() == body


def test_every_listed_version_serves_every_resource(sf_wire, sf):
    account = sf.Account.create({"Name": f"Versioned {uuid.uuid4().hex[:6]}"})["id"]
    for entry in sf_raw(sf_wire, "GET", "/services/data/", auth=False).json():
        root = entry["url"]
        assert sf_raw(sf_wire, "GET", f"{root}/limits").json()["DailyApiRequests"]["Max"] > 0, root
        query = sf_raw(sf_wire, "GET", f"{root}/query/?q=SELECT+Id+FROM+Account+WHERE+Id+=+'{account}'")
        assert query.status == 200 and query.json()["totalSize"] == 1, root
        assert sf_raw(sf_wire, "GET", f"{root}/sobjects/Account/{account}").json()["Id"] == account, root
        assert sf_raw(sf_wire, "GET", f"{root}/sobjects/Account/describe").json()["name"] == "Account", root
        listing = sf_raw(sf_wire, "GET", f"{root}/")
        assert listing.status == 200 and listing.json()["sobjects"] == f"{root}/sobjects", root
    for unlisted in ("v30.0", "v60.0", "v59.1"):
        answer = sf_raw(sf_wire, "GET", f"/services/data/{unlisted}/limits")
        assert (answer.status, answer.json()) == (404, NOT_FOUND), unlisted


def test_unknown_paths_and_methods_answer_salesforce_json(sf_wire):
    for target in ("/services/nothing/here", "/nope", "/services/data/v59.0/nothing"):
        answer = sf_raw(sf_wire, "GET", target)
        assert (answer.status, answer.header("Content-Type"), answer.json()) == (404, "application/json",
                                                                                 NOT_FOUND), target
    for method, target in (("POST", "/services/data/"), ("DELETE", "/services/data"),
                           ("POST", "/services/data/v59.0/limits"), ("PATCH", "/services/data/v58.0/query"),
                           ("PUT", "/services/data/v59.0/")):
        answer = sf_raw(sf_wire, method, target)
        assert answer.status == 405, (method, target)
        assert answer.json() == [{"errorCode": "METHOD_NOT_ALLOWED",
                                  "message": f"HTTP Method '{method}' not allowed. Allowed are GET,HEAD"}]
        assert answer.header("Allow") == "GET,HEAD"


# ---- HubSpot legacy properties ----------------------------------------------------------------------------------
def _legacy(hs_wire, path: str, **params) -> requests.Response:
    base, headers = hs_wire
    return requests.get(f"{base}{path}", headers=headers, params=params, timeout=30)


def test_legacy_property_lists_are_the_v3_store_in_the_v1_shape(hs, hs_wire):
    name = f"legacy_{uuid.uuid4().hex[:8]}"
    hs.crm.properties.core_api.create("contacts", PropertyCreate(
        name=name, label="Legacy pick", type="enumeration", field_type="select", group_name="syncgroup",
        description="one of two", options=[{"label": "One", "value": "1", "displayOrder": 0},
                                           {"label": "Two", "value": "2", "displayOrder": 1}]))
    v3 = {t: [p.name for p in hs.crm.properties.core_api.get_all(t).results]
          for t in ("contacts", "companies", "deals", "tickets")}
    for path, object_type in (("/properties/v1/contacts/properties", "contacts"),
                              ("/properties/v1/deals/properties", "deals"),
                              ("/companies/v2/properties", "companies"),
                              ("/properties/v2/contacts/properties", "contacts"),
                              ("/properties/v2/companies/properties", "companies"),
                              ("/properties/v2/deals/properties", "deals"),
                              ("/properties/v2/tickets/properties", "tickets")):
        answer = _legacy(hs_wire, path)
        assert answer.status_code == 200 and isinstance(answer.json(), list), path
        assert [p["name"] for p in answer.json()] == v3[object_type], path
    v1 = {p["name"]: p for p in _legacy(hs_wire, "/properties/v1/contacts/properties").json()}
    created = v1[name]
    assert created["createdAt"] == created["updatedAt"] and created["createdAt"] > 1_700_000_000_000
    assert {k: v for k, v in created.items() if k not in ("createdAt", "updatedAt")} == {
        "name": name, "label": "Legacy pick", "description": "one of two", "groupName": "syncgroup",
        "type": "enumeration", "fieldType": "select",
        "options": [{"description": None, "label": "One", "value": "1", "displayOrder": 0, "hidden": False,
                     "readOnly": False, "doubleData": 0.0},
                    {"description": None, "label": "Two", "value": "2", "displayOrder": 1, "hidden": False,
                     "readOnly": False, "doubleData": 0.0}],
        "displayOrder": -1, "formField": True, "readOnlyValue": False, "readOnlyDefinition": False, "hidden": False,
        "mutableDefinitionNotDeletable": False, "favorited": False, "favoritedOrder": -1, "calculated": False,
        "externalOptions": False, "displayMode": "current_value", "deleted": False, "hubspotDefined": False,
        "createdUserId": None, "updatedUserId": None}
    assert v1["email"]["readOnlyValue"] is False and v1["email"]["hubspotDefined"] is True
    assert (v1["hs_object_id"]["readOnlyValue"], v1["hs_object_id"]["formField"]) == (True, False)
    assert v1["email"]["createdAt"] == 1546300800000  # the standard definitions' 2019-01-01
    assert [o["value"] for o in v1["lifecyclestage"]["options"]][:2] == ["subscriber", "lead"]
    assert "hasUniqueValue" not in v1["email"]
    v2 = {p["name"]: p for p in _legacy(hs_wire, "/properties/v2/contacts/properties").json()}
    assert v2[name] == {**created, "showCurrencySymbol": False, "currencyPropertyName": None,
                        "textDisplayHint": None, "numberDisplayHint": None, "optionsAreMutable": True,
                        "referencedObjectType": None, "isCustomizedDefault": False,
                        "searchableInGlobalSearch": False, "hasUniqueValue": False}
    assert v2["hubspot_owner_id"]["referencedObjectType"] == "OWNER"
    deals = {p["name"]: p for p in _legacy(hs_wire, "/properties/v1/deals/properties").json()}
    assert [o["value"] for o in deals["dealstage"]["options"]][-2:] == ["closedwon", "closedlost"]


def test_legacy_property_groups(hs, hs_wire):
    name = f"grouped_{uuid.uuid4().hex[:8]}"
    hs.crm.properties.core_api.create("companies", PropertyCreate(
        name=name, label="Grouped", type="string", field_type="text", group_name="wire_fidelity"))
    v3 = [(g.name, g.label, g.display_order) for g in hs.crm.properties.groups_api.get_all("companies").results]
    for path in ("/companies/v2/groups", "/properties/v2/companies/groups"):
        plain = _legacy(hs_wire, path).json()
        assert [(g["name"], g["displayName"], g["displayOrder"]) for g in plain] == v3, path
        assert all(sorted(g) == ["displayName", "displayOrder", "hubspotDefined", "name"] for g in plain), path
        full = {g["name"]: g for g in _legacy(hs_wire, path, includeProperties="true").json()}
        assert full["wire_fidelity"]["hubspotDefined"] is False
        assert [p["name"] for p in full["wire_fidelity"]["properties"]] == [name]
        assert "domain" in [p["name"] for p in full["information"]["properties"]]
        assert full["information"]["hubspotDefined"] is True
    contacts = _legacy(hs_wire, "/properties/v1/contacts/groups", includeProperties="true").json()
    listed = [p["name"] for g in contacts for p in g["properties"]]
    assert sorted(listed) == sorted(p["name"] for p in _legacy(hs_wire, "/properties/v1/contacts/properties").json())


def test_legacy_endpoints_need_the_token_and_count_as_api_calls(hs_wire, hsa):
    base, _ = hs_wire
    refused = requests.get(f"{base}/properties/v1/contacts/properties", timeout=30)
    assert refused.status_code == 401 and refused.json()["category"] == "INVALID_AUTHENTICATION"
    before = hsa.get("usage")["by_endpoint"]
    for path in ("/properties/v1/contacts/properties", "/properties/v2/deals/groups", "/companies/v2/properties"):
        assert _legacy(hs_wire, path).status_code == 200
    after = hsa.get("usage")["by_endpoint"]
    for label in ("GET /properties/v1/contacts/properties", "GET /properties/v2/deals/groups",
                  "GET /companies/v2/properties"):
        assert after.get(label, 0) == before.get(label, 0) + 1, label
    assert _legacy(hs_wire, "/properties/v2/nothing/properties").status_code == 400  # unknown object type


def test_hubspot_unknown_paths_and_wrong_methods(hs_wire):
    base, headers = hs_wire
    missing = requests.get(f"{base}/crm/v3/nothing/here", headers=headers, timeout=30)
    body = missing.json()
    assert missing.status_code == 404
    assert body == {"status": "error", "message": "resource not found", "correlationId": body["correlationId"],
                    "category": "OBJECT_NOT_FOUND"}
    assert body["correlationId"] == missing.headers["X-HubSpot-Correlation-Id"]
    # What tells an unserved path from a missing record: HubSpot's X-HubSpot-NotFound marker, on the wire as spelt
    assert Raw(base, "GET", "/crm/v3/nothing/here", headers).header("X-HubSpot-NotFound") == "true"
    record = requests.get(f"{base}/crm/v3/objects/contacts/999999999", headers=headers, timeout=30)
    assert record.status_code == 404 and "X-HubSpot-NotFound" not in record.headers
    for method, path, allowed in (("DELETE", "/crm/v3/owners/", "GET"),
                                  ("POST", "/properties/v1/contacts/properties", "GET"),
                                  ("PUT", "/crm/v3/objects/contacts", "GET,POST")):
        answer = Raw(base, method, path, {**headers, "Content-Length": "0"})
        assert (answer.status, answer.header("Allow"), answer.body) == (405, allowed, b""), (method, path)
        assert answer.header("Content-Length") == "0"


# ---- paging links on the client's host ----------------------------------------------------------------------
def test_paging_links_use_the_host_the_client_used(hs, hs_wire, hsa):
    base, headers = hs_wire
    port = urlsplit(base).port
    for i in range(2):
        hs.crm.contacts.basic_api.create({"properties": {"email": f"paging.{uuid.uuid4().hex[:8]}.{i}@x.io"}})
    hsa.post("owners", {"email": f"pager.{uuid.uuid4().hex[:6]}@x.io", "firstName": "Pager", "lastName": "One"})
    links = {}
    for host in (f"localhost:{port}", f"crm.example.test:{port}", "api.example.test"):
        contacts = Raw(base, "GET", "/crm/v3/objects/contacts?limit=1", headers, host=host).json()
        after = contacts["paging"]["next"]["after"]
        assert contacts["paging"]["next"]["link"] == f"http://{host}/crm/v3/objects/contacts?after={after}"
        owners = Raw(base, "GET", "/crm/v3/owners/?limit=1", headers, host=host).json()
        owner_after = owners["paging"]["next"]["after"]
        assert owners["paging"]["next"]["link"] == f"http://{host}/crm/v3/owners/?after={owner_after}"
        links[host] = contacts["paging"]["next"]["link"], after
    link, after = links[f"localhost:{port}"]
    followed = requests.get(link, headers=headers, timeout=30)  # a link the client can follow as given
    assert followed.status_code == 200 and followed.json()["results"][0]["id"] == after


# ---- owners as the seed reports them ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seeded_portal(tmp_path_factory):
    directory = tmp_path_factory.mktemp("seeded-owners")
    summary = seed_sandbox(directory, 100, 7)
    with running_sandbox(directory) as info:
        yield directory, summary, info


def test_owners_api_lists_what_the_seed_summary_counts(seeded_portal):
    from hubspot import HubSpot

    directory, summary, info = seeded_portal
    hs = HubSpot(access_token=info["hubspot"]["access_token"], host=info["hubspot"]["base_url"])
    owners = hs.crm.owners.get_all()
    assert summary.hubspot["owners"] == len(owners) == 8  # 7 seeded sales/marketing owners + the portal's admin
    assert "admin@sandbox.crm-sync.local" in {o.email for o in owners}
    assert all(o.archived is False for o in owners)
    # A deactivated user's owner is archived: listed and found only with archived=true, as in HubSpot.
    gone = owners[-1]
    with sqlite3.connect(directory / "hubspot.sqlite3") as conn:
        conn.execute("UPDATE _owners SET archived = 1 WHERE id = ?", (int(gone.id),))
    live = hs.crm.owners.get_all()
    assert len(live) == len(owners) - 1 and gone.id not in {o.id for o in live}
    archived = hs.crm.owners.owners_api.get_page(archived=True).results
    assert [(o.id, o.archived) for o in archived] == [(gone.id, True)]
    with pytest.raises(OwnersApiException) as missing:
        hs.crm.owners.owners_api.get_by_id(gone.id)
    assert missing.value.status == 404
    assert hs.crm.owners.owners_api.get_by_id(gone.id, archived=True).archived is True
