"""HubSpot auth, rate limits, usage counts and injected faults as hubspot-api-client sees them."""

from __future__ import annotations

import json
import time

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import PublicObjectSearchRequest, SimplePublicObjectInputForCreate
from hubspot.crm.contacts.exceptions import ApiException, ServiceException, UnauthorizedException


def test_wrong_or_missing_token_is_refused(sandbox, hsa):
    bad = HubSpot(access_token="pat-na1-wrong", host=sandbox["hubspot"]["base_url"])
    with pytest.raises(UnauthorizedException) as err:
        bad.crm.contacts.basic_api.get_page()
    body = json.loads(err.value.body)
    assert err.value.status == 401 and body["category"] == "INVALID_AUTHENTICATION"
    assert body["correlationId"] == err.value.headers["X-HubSpot-Correlation-Id"]
    anonymous = HubSpot(host=sandbox["hubspot"]["base_url"])
    with pytest.raises(UnauthorizedException):
        anonymous.crm.contacts.basic_api.get_page()


def test_ten_second_budget_gives_429_the_client_parses(hs, hsa):
    hsa.post("rate-limits", {"ten_second": 20, "reset": True})
    _, status, headers = hs.crm.contacts.basic_api.get_page_with_http_info(limit=1)
    assert status == 200 and headers["X-HubSpot-RateLimit-Max"] == "20"
    assert headers["X-HubSpot-RateLimit-Remaining"] == "19"
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert int(headers["X-HubSpot-RateLimit-Daily-Remaining"]) < int(headers["X-HubSpot-RateLimit-Daily"])
    for _ in range(19):
        hs.crm.contacts.basic_api.get_page(limit=1)
    with pytest.raises(ApiException) as err:
        hs.crm.contacts.basic_api.get_page(limit=1)
    exc = err.value
    assert exc.status == 429 and exc.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    body = json.loads(exc.body)
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert hsa.get("rate-limits")["ten_second_used"] == 20  # refused calls take no budget


def test_daily_allocation_gives_daily_429(hs, hsa):
    used = hsa.get("usage")["today"]
    hsa.post("rate-limits", {"daily": used + 2})
    hs.crm.contacts.basic_api.get_page(limit=1)
    hs.crm.contacts.basic_api.get_page(limit=1)
    with pytest.raises(ApiException) as err:
        hs.crm.contacts.basic_api.get_page(limit=1)
    assert err.value.status == 429 and json.loads(err.value.body)["policyName"] == "DAILY"
    assert err.value.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"


def test_usage_counts_by_endpoint(hs, hsa):
    hsa.post("usage/reset")
    person = hs.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"firstname": "U"}))
    hs.crm.contacts.basic_api.get_by_id(person.id)
    hs.crm.contacts.basic_api.get_by_id(person.id)
    hs.crm.objects.basic_api.get_page("0-1", limit=5)
    hs.crm.contacts.search_api.do_search(PublicObjectSearchRequest(limit=1))
    hs.crm.associations.v4.batch_api.get_page("contacts", "companies", {"inputs": [{"id": person.id}]})
    hs.crm.owners.owners_api.get_page()
    hs.crm.properties.core_api.get_by_name("contacts", "email")
    usage = hsa.get("usage")
    assert usage["by_endpoint"] == {
        "POST /crm/v3/objects/contacts": 1,
        "GET /crm/v3/objects/contacts/{id}": 2,
        "GET /crm/v3/objects/contacts": 1,
        "POST /crm/v3/objects/contacts/search": 1,
        "POST /crm/v4/associations/contacts/companies/batch/read": 1,
        "GET /crm/v3/owners": 1,
        "GET /crm/v3/properties/contacts/{name}": 1,
    }
    assert usage["today"] == 8 and usage["system"] == "hubspot"


def test_injected_faults(hs, hsa):
    hsa.post("faults", {"profile": "outage"})
    with pytest.raises(ServiceException) as err:
        hs.crm.contacts.basic_api.get_page()
    assert err.value.status == 503 and json.loads(err.value.body)["status"] == "error"
    hsa.post("faults", {"rules": {"rate_limit": 1.0}, "max_faults": 1})
    with pytest.raises(ApiException) as err:
        hs.crm.contacts.basic_api.get_page()
    assert err.value.status == 429 and json.loads(err.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"
    hs.crm.contacts.basic_api.get_page()  # the burst is over
    hsa.post("faults", {"rules": {"daily_limit": 1.0}, "max_faults": 1})
    with pytest.raises(ApiException) as err:
        hs.crm.contacts.basic_api.get_page()
    assert json.loads(err.value.body)["policyName"] == "DAILY"
    hsa.post("rate-limits", {"daily": 10_000_000})
    hsa.post("faults", {"rules": {"slow": 1.0}, "slow_seconds": 0.3, "max_faults": 1})
    started = time.monotonic()
    hs.crm.contacts.basic_api.get_page(limit=1)
    assert time.monotonic() - started >= 0.3
