"""Shared fixtures: the sandbox CRMs started once per test session in a temporary folder."""

from __future__ import annotations

import pytest
import requests

from crm_sync.connectors.salesforce import connect, http_session, sandbox_credentials
from crm_sync.sandbox.server import running_sandbox


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """A running sandbox (both CRMs) shared by the session; yields its sandbox.json settings."""
    with running_sandbox(tmp_path_factory.mktemp("sandbox")) as info:
        yield info


@pytest.fixture(scope="session")
def sf_admin(sandbox) -> requests.Session:
    """A session for the sandbox admin interface (trusts the sandbox CA)."""
    return http_session(sandbox["salesforce"]["ca_file"])


class SfAdmin:
    def __init__(self, info: dict, session: requests.Session):
        self.url = info["salesforce"]["admin_url"]
        self.session = session

    def post(self, path: str, body: dict | None = None) -> dict:
        resp = self.session.post(f"{self.url}/{path}", json=body or {}, timeout=30)
        assert resp.status_code < 300, resp.text
        return resp.json()

    def get(self, path: str) -> dict:
        resp = self.session.get(f"{self.url}/{path}", timeout=30)
        assert resp.status_code < 300, resp.text
        return resp.json()


@pytest.fixture()
def sfa(sandbox, sf_admin) -> SfAdmin:
    """Salesforce sandbox admin; resets faults, latency and duplicate rules after each test."""
    admin = SfAdmin(sandbox, sf_admin)
    yield admin
    admin.post("faults", {"profile": "none"})
    admin.post("latency", {"ms": 0})
    admin.post("duplicate-rules", {"Lead": "off", "Contact": "off"})


@pytest.fixture()
def sf(sandbox):
    """simple-salesforce on a direct session from the sandbox's OAuth token URL."""
    return connect(sandbox_credentials(sandbox))


# ---- HubSpot ------------------------------------------------------------------------------------------------------
HS_LIMITS = {"ten_second": 190, "daily": 625_000, "search_per_second": 5}
HS_OPTIONS = {"merge_creates_new_id": True, "lifecycle_forward_only": False, "batch_errors": "per_record",
              "search_max_groups": 5, "search_max_filters_per_group": 6, "search_max_filters": 18}


class HsAdmin:
    """The HubSpot sandbox admin interface (plain HTTP, not counted as API calls)."""

    def __init__(self, info: dict):
        self.url = info["hubspot"]["admin_url"]
        self.session = requests.Session()

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        resp = self.session.request(method, f"{self.url}/{path}", json=body, timeout=30)
        assert resp.status_code < 300, resp.text
        return resp.json() if resp.content else {}

    def post(self, path: str, body: dict | None = None) -> dict:
        return self.call("POST", path, body or {})

    def get(self, path: str) -> dict:
        return self.call("GET", path)


@pytest.fixture(scope="session")
def hs_dir(sandbox):
    """The session sandbox's folder (where the direct loader writes): the CA file lives in it."""
    from pathlib import Path

    return Path(sandbox["salesforce"]["ca_file"]).parent


@pytest.fixture()
def hsa(sandbox) -> HsAdmin:
    """HubSpot sandbox admin; starts each test with fresh rate windows and restores limits, faults and options."""
    admin = HsAdmin(sandbox)
    admin.post("rate-limits", {**HS_LIMITS, "reset": True})
    yield admin
    admin.post("faults", {"profile": "none"})
    admin.post("latency", {"ms": 0})
    admin.post("rate-limits", {**HS_LIMITS, "reset": True})
    admin.post("options", HS_OPTIONS)
    if admin.get("usage")["today"] >= HS_LIMITS["daily"]:  # a daily_limit fault spent the allocation
        admin.post("usage/reset")


@pytest.fixture()
def hs(sandbox, hsa):
    """hubspot-api-client pointed at the sandbox (its retry middleware off, as by default)."""
    from hubspot import HubSpot

    return HubSpot(access_token=sandbox["hubspot"]["access_token"], host=sandbox["hubspot"]["base_url"])
