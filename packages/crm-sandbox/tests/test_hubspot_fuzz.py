"""Property-based robustness of the HubSpot sandbox: generated ids, bodies and query values sent to every API route
the app serves (its Starlette routes are enumerated, so a new route is fuzzed without editing this file) must never
answer a 5xx, and every 4xx must carry HubSpot's error body (405 answers with Allow and an empty body, as HubSpot).

Faults are off (a fault profile's 5xx are legitimate) and rate limits raised so 429s do not hide answers.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_sandbox.hubspot.app import HubSpotService
from tests.fuzzing import EXAMPLES, json_values

KNOWN_NAMES = {"default", "0", "1", "2", "3", "4"}  # real pipeline and stage ids a DELETE must not hit


def api_routes() -> list[tuple[str, str]]:
    """(method, path template) of every route of the HubSpot app that is an API call (admin and OAuth excluded)."""
    with tempfile.TemporaryDirectory() as folder:
        service = HubSpotService(Path(folder))
        try:
            out = []
            for route in service.app.app.routes:
                path = getattr(route, "path", "")
                if path == "/{path:path}" or service.classify("GET", path) is None:
                    continue
                out += [(m, path) for m in sorted(route.methods or ()) if m != "HEAD"]
            return out
        finally:
            service.close()


ROUTES = api_routes()

ids = st.one_of(
    st.integers(min_value=2**63 - 2, max_value=2**80).map(str),
    st.integers(max_value=-1).map(str),
    st.integers(min_value=10**12, max_value=2**62).map(str),
    st.sampled_from(["", " ", "abc", "1e3", "0x10", "١٢٣", "%", "..", "contacts", "0-1", "2-999999999999999999999"]),
    st.text(min_size=1, max_size=10).filter(lambda s: s.strip() not in KNOWN_NAMES),
)
object_types = st.sampled_from(["contacts", "companies", "deals", "tickets", "0-1", "notes", "", " ", "nope",
                                "2-1", "99999999999999999999"]) | ids
record_like = st.fixed_dictionaries({}, optional={
    "id": json_values | ids, "properties": json_values, "associations": json_values, "idProperty": json_values,
    "from": json_values, "to": json_values, "types": json_values, "type": json_values, "after": json_values,
    "name": json_values, "label": json_values, "objectTypeId": json_values})
filters = st.fixed_dictionaries({
    "propertyName": st.sampled_from(["hs_object_id", "email", "createdate", "lastmodifieddate", "amount", "nope"])
    | json_values,
    "operator": st.sampled_from(["EQ", "NEQ", "LT", "GTE", "BETWEEN", "IN", "HAS_PROPERTY", "CONTAINS_TOKEN", "X"])
    | json_values}, optional={"value": ids | json_values, "highValue": ids | json_values, "values": json_values})
searches = st.fixed_dictionaries({"filterGroups": st.lists(st.fixed_dictionaries({"filters": st.lists(
    filters, max_size=2)}), max_size=2)}, optional={"sorts": json_values, "after": ids | json_values,
                                                    "limit": json_values, "properties": json_values,
                                                    "query": json_values})
bodies = st.one_of(
    searches.map(lambda v: json.dumps(v).encode()),
    st.none(),
    st.sampled_from([b"", b"{", b"not json", b"\xff\xfe", b"[1,2", b"null"]),
    json_values.map(lambda v: json.dumps(v).encode()),
    record_like.map(lambda v: json.dumps(v).encode()),
    st.lists(json_values | record_like, max_size=3).map(lambda v: json.dumps({"inputs": v}).encode()),
    st.lists(json_values, max_size=3).map(lambda v: json.dumps(v).encode()),
)
query_values = st.one_of(ids, st.sampled_from(["null", "True", "false", "-1", "0", "100000", "a,b"]))
queries = st.dictionaries(st.sampled_from(["limit", "after", "archived", "properties", "associations",
                                           "idProperty", "email", "listIds", "includeFilters", "folderId",
                                           "legacyListId", "newFolderName", "listName", "propertiesWithHistory"]),
                          query_values, max_size=3)


def fill(template: str, data) -> str:
    """The template with each {param} replaced by a generated value (object types for type-like names)."""
    def one(match: re.Match) -> str:
        name = match.group(1).split(":")[0]
        strategy = object_types if "type" in name.lower() else ids
        return quote(data.draw(strategy, label=name), safe="")

    return re.sub(r"\{([^}]+)\}", one, template)


def assert_hubspot_answer(resp: requests.Response, what: str) -> None:
    assert resp.status_code < 500, f"{what} -> {resp.status_code} {resp.text[:300]}"
    if resp.status_code == 405:
        assert resp.headers.get("Allow") and not resp.content, what
        return
    if resp.status_code >= 400:
        body = resp.json()
        assert isinstance(body, dict), what
        assert body.get("status") == "error", f"{what} -> {resp.text[:300]}"
        for key in ("message", "correlationId", "category"):
            assert isinstance(body.get(key), str) and body[key], f"{what} -> {resp.text[:300]}"
        assert resp.headers.get("X-HubSpot-Correlation-Id") == body["correlationId"], what


@pytest.fixture(scope="module")
def client(sandbox):
    session = requests.Session()
    session.trust_env = False
    session.headers.update({"Authorization": f"Bearer {sandbox['hubspot']['access_token']}",
                            "Content-Type": "application/json"})
    return session, sandbox["hubspot"]["base_url"]


@pytest.fixture(scope="module")
def quiet(sandbox):
    """Faults off and rate windows out of reach for the whole module (restored by hsa's limits afterwards)."""
    from crm_sandbox.testing import hubspot_admin

    admin = hubspot_admin(sandbox)
    admin.post("faults", {"profile": "none"})
    admin.post("rate-limits", {"ten_second": 1_000_000, "daily": 100_000_000, "search_per_second": 1_000_000,
                               "reset": True})
    yield
    admin.post("rate-limits", {"ten_second": 190, "daily": 625_000, "search_per_second": 5, "reset": True})


def test_every_api_route_is_enumerated():
    paths = {p for _, p in ROUTES}
    assert "/crm/v3/objects/{type}/{id}" in paths and "/crm/v3/lists/{id}" in paths
    assert len(ROUTES) > 50


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), body=bodies, query=queries)
def test_route_never_fails_on_generated_input(client, quiet, method, template, data, body, query):
    session, base = client
    path = fill(template, data)
    resp = session.request(method, base + path, params=query, data=body, timeout=30)
    assert_hubspot_answer(resp, f"{method} {path}?{query} body={body!r:.200}")


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
       path=st.lists(st.text(alphabet="abcz0-9/%._", max_size=8), min_size=1, max_size=5))
def test_unknown_routes_and_methods_answer_4xx(client, quiet, method, path):
    session, base = client
    url = base + "/crm/v3/" + "/".join(quote(p, safe="") for p in path)
    assert_hubspot_answer(session.request(method, url, timeout=30), f"{method} {url}")
