"""HubSpot search through hubspot-api-client: operators by type, sorts, the 10,000 cap and the per-second limit."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from hubspot.crm.companies import PublicObjectSearchRequest
from hubspot.crm.companies.exceptions import ApiException
from hubspot.crm.contacts import PublicObjectSearchRequest as ContactSearch
from hubspot.crm.contacts.exceptions import ApiException as ContactApiException

from crm_sandbox.hubspot.loader import load_objects


def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture()
def fast_search(hsa):
    """Lift search's 5-per-second limit for tests that search many times in a row (restored by hsa)."""
    hsa.post("rate-limits", {"search_per_second": 1000})


@pytest.fixture()
def companies(hs_dir):
    marker = f"srch-{uid()}"
    rows = [
        {"name": "alpha", "domain": f"alpha.{marker}.io", "numberofemployees": "9", "industry": "ACCOUNTING"},
        {"name": "Beta", "domain": f"beta.{marker}.io", "numberofemployees": "10", "industry": "BANKING"},
        {"name": "gamma", "domain": f"gamma.{marker}.com", "numberofemployees": "100", "industry": None},
        {"name": "Delta Engines", "domain": None, "numberofemployees": None, "industry": "RETAIL"},
    ]
    ids = load_objects(hs_dir, "companies", [{**r, "description": marker} for r in rows])
    return marker, dict(zip([r["name"] for r in rows], ids, strict=True))


def search(hs, marker: str, *filters, sorts=None, properties=("name",), groups=None, **kw):
    mine = {"propertyName": "description", "operator": "EQ", "value": marker}
    filter_groups = groups or [{"filters": [mine, *filters]}]
    request = PublicObjectSearchRequest(filter_groups=filter_groups, sorts=sorts or ["name"],
                                        properties=list(properties), limit=kw.get("limit", 200), after=kw.get("after"))
    return hs.crm.companies.search_api.do_search(request)


def names(page) -> list[str]:
    return [r.properties["name"] for r in page.results]


def test_operators_compare_by_property_type(hs, companies, fast_search):
    marker, ids = companies
    f = lambda prop, op, value=None, **kw: {"propertyName": prop, "operator": op, "value": value, **kw}  # noqa: E731
    assert names(search(hs, marker)) == ["alpha", "Beta", "Delta Engines", "gamma"]  # case-insensitive sort
    assert names(search(hs, marker, f("numberofemployees", "GT", "9"))) == ["Beta", "gamma"]  # numeric, not text
    assert names(search(hs, marker, f("numberofemployees", "LTE", "10"))) == ["alpha", "Beta"]
    assert names(search(hs, marker, f("numberofemployees", "BETWEEN", "10", highValue="100"))) == ["Beta", "gamma"]
    assert names(search(hs, marker, f("name", "EQ", "BETA"))) == ["Beta"]
    assert names(search(hs, marker, f("name", "NEQ", "beta"))) == ["alpha", "Delta Engines", "gamma"]
    assert names(search(hs, marker, f("industry", "IN", values=["ACCOUNTING", "RETAIL"]))) == ["alpha",
                                                                                               "Delta Engines"]
    assert names(search(hs, marker, f("industry", "NOT_IN", values=["ACCOUNTING"]))) == ["Beta", "Delta Engines",
                                                                                         "gamma"]
    assert names(search(hs, marker, f("domain", "HAS_PROPERTY"))) == ["alpha", "Beta", "gamma"]
    assert names(search(hs, marker, f("domain", "NOT_HAS_PROPERTY"))) == ["Delta Engines"]
    assert names(search(hs, marker, f("domain", "CONTAINS_TOKEN", "*.io"))) == ["alpha", "Beta"]
    assert names(search(hs, marker, f("name", "CONTAINS_TOKEN", "engines"))) == ["Delta Engines"]
    assert names(search(hs, marker, f("hs_object_id", "EQ", ids["gamma"]))) == ["gamma"]
    groups = [{"filters": [f("description", "EQ", marker), f("name", "EQ", "alpha")]},
              {"filters": [f("description", "EQ", marker), f("numberofemployees", "GTE", "100")]}]
    assert names(search(hs, marker, groups=groups)) == ["alpha", "gamma"]  # groups are OR-ed
    by_size = search(hs, marker, f("numberofemployees", "HAS_PROPERTY"),
                     sorts=[{"propertyName": "numberofemployees", "direction": "DESCENDING"}])
    assert names(by_size) == ["gamma", "Beta", "alpha"] and by_size.total == 3
    assert names(search(hs, marker, sorts=["-hs_object_id"])) == ["Delta Engines", "gamma", "Beta", "alpha"]
    assert set(search(hs, marker, properties=["domain"]).results[0].properties) == {
        "domain", "hs_object_id", "createdate", "hs_lastmodifieddate"}


def test_dates_compare_by_time_in_epoch_millis_or_iso(hs, companies, fast_search):
    marker, ids = companies
    first = search(hs, marker, properties=["hs_lastmodifieddate"]).results[0]
    stamp = first.properties["hs_lastmodifieddate"]
    millis = str(int(first.updated_at.timestamp() * 1000))
    for value in (millis, stamp, stamp.replace("Z", "+00:00")):
        flt = {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": value}
        assert search(hs, marker, flt).total == 4
    later = {"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": str(int(millis) + 1)}
    assert search(hs, marker, later).total == 0
    with pytest.raises(ApiException) as err:
        search(hs, marker, {"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": "yesterday"})
    assert err.value.status == 400


def test_search_limits_on_filters_and_page_size(hs, companies, fast_search):
    marker, _ = companies
    one = {"propertyName": "name", "operator": "HAS_PROPERTY"}
    for groups in ([{"filters": [one]}] * 6, [{"filters": [one] * 7}], [{"filters": [one] * 5}] * 4):
        with pytest.raises(ApiException) as err:
            search(hs, marker, groups=groups)
        assert err.value.status == 400, groups
    assert search(hs, marker, groups=[{"filters": [one] * 6}] * 3).total >= 4  # 18 filters are allowed
    with pytest.raises(ApiException) as err:
        search(hs, marker, limit=201)
    assert err.value.status == 400
    with pytest.raises(ApiException) as err:
        search(hs, marker, {"propertyName": "no_such_thing", "operator": "EQ", "value": "x"})
    assert err.value.status == 400


def test_paging_stops_at_ten_thousand_results(hs, hs_dir):
    marker = f"cap-{uid()}"
    ids = load_objects(hs_dir, "contacts", ({"company": marker} for _ in range(10_001)))
    request = lambda after: ContactSearch(  # noqa: E731
        filter_groups=[{"filters": [{"propertyName": "company", "operator": "EQ", "value": marker}]}],
        sorts=["hs_object_id"], limit=200, after=after)
    first = hs.crm.contacts.search_api.do_search(request("0"))
    assert first.total == 10_001 and [r.id for r in first.results] == ids[:200] and first.paging.next.after == "200"
    near = hs.crm.contacts.search_api.do_search(request("9800"))
    assert [r.id for r in near.results] == ids[9800:10_000] and near.paging.next.after == "10000"
    with pytest.raises(ContactApiException) as err:
        hs.crm.contacts.search_api.do_search(request("10000"))
    assert err.value.status == 400 and json.loads(err.value.body)["category"] == "VALIDATION_ERROR"


def test_search_is_limited_to_five_per_second(hs, companies):
    marker, _ = companies
    time.sleep(1.0)  # a fresh second: the fixture's own setup does not search
    for _ in range(5):
        search(hs, marker)
    with pytest.raises(ApiException) as err:
        search(hs, marker)
    assert err.value.status == 429
    body = json.loads(err.value.body)
    assert body["policyName"] == "SECONDLY" and body["errorType"] == "RATE_LIMIT"
    assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in err.value.headers)
    time.sleep(1.05)
    page = hs.crm.companies.search_api.do_search_with_http_info(PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "description", "operator": "EQ", "value": marker}]}]))
    assert page[1] == 200 and not any(h.lower().startswith("x-hubspot-ratelimit") for h in page[2])


@pytest.mark.parametrize("direction", ["ASCENDING", "DESCENDING"])
def test_a_search_in_id_order_that_matches_many_pages_by_id(hs, hs_dir, fast_search, direction):
    """Past 10,000 matches a search ordered by id walks the table in id order instead of sorting every match
    (the page of a keyset walk over a large window): the same records, in the same order, with the same total."""
    marker = f"dense-{uid()}"
    ids = [int(i) for i in load_objects(hs_dir, "companies", [{"name": f"Dense {i}", "description": marker}
                                                              for i in range(10_050)])]
    keyset = {"propertyName": "hs_object_id", "operator": "GT" if direction == "ASCENDING" else "LT",
              "value": str(ids[25] if direction == "ASCENDING" else ids[-25])}
    page = search(hs, marker, keyset, sorts=[{"propertyName": "hs_object_id", "direction": direction}], limit=200)
    got = [int(r.id) for r in page.results]
    after = [i for i in ids if i > ids[25]] if direction == "ASCENDING" else [i for i in ids if i < ids[-25]][::-1]
    assert page.total == len(after) > 10_000 and got == after[:200]
