"""A pytest plugin for suites that test against the sandbox: `pytest_plugins = ["crm_sandbox.testing"]`.

Fixtures: `sandbox` (both CRMs started once per test session in a temporary folder; its sandbox.json settings),
`sfa` / `hsa` (the admin interfaces, restoring faults, latency, limits and options after each test), `hs_dir`,
and `hs` (hubspot-api-client on the sandbox, imported when used). Salesforce clients are the suites' own (the
sandbox's tests log in with simple-salesforce directly, crm-sync's through its connector).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from crm_sandbox.server import running_sandbox

HS_LIMITS = {"ten_second": 190, "daily": 625_000, "search_per_second": 5}
HS_OPTIONS = {"merge_creates_new_id": True, "lifecycle_forward_only": False, "batch_errors": "per_record",
              "search_max_groups": 5, "search_max_filters_per_group": 6, "search_max_filters": 18}


def admin_session(ca_file: str | None = None) -> requests.Session:
    """A session for an admin interface; trusts the sandbox CA whatever REQUESTS_CA_BUNDLE says."""
    session = requests.Session()
    session.trust_env = False
    if ca_file:
        session.verify = ca_file
    return session


class Admin:
    """One CRM's admin interface (`/__sandbox/...`): not counted as API calls."""

    def __init__(self, url: str, session: requests.Session):
        self.url, self.session = url, session

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        resp = self.session.request(method, f"{self.url}/{path}", json=body, timeout=60)
        assert resp.status_code < 300, resp.text
        return resp.json() if resp.content else {}

    def post(self, path: str, body: dict | None = None) -> dict:
        return self.call("POST", path, body or {})

    def get(self, path: str) -> dict:
        return self.call("GET", path)


def salesforce_admin(info: dict) -> Admin:
    return Admin(info["salesforce"]["admin_url"], admin_session(info["salesforce"]["ca_file"]))


def hubspot_admin(info: dict) -> Admin:
    return Admin(info["hubspot"]["admin_url"], admin_session(info["hubspot"].get("ca_file")))


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """A running sandbox (both CRMs) shared by the session; yields its sandbox.json settings."""
    with running_sandbox(tmp_path_factory.mktemp("sandbox")) as info:
        yield info


@pytest.fixture(scope="session")
def sf_admin(sandbox) -> requests.Session:
    """A session for the Salesforce admin interface (trusts the sandbox CA)."""
    return admin_session(sandbox["salesforce"]["ca_file"])


@pytest.fixture()
def sfa(sandbox, sf_admin) -> Admin:
    """Salesforce sandbox admin; resets faults, latency and duplicate rules after each test."""
    admin = Admin(sandbox["salesforce"]["admin_url"], sf_admin)
    yield admin
    admin.post("faults", {"profile": "none"})
    admin.post("latency", {"ms": 0})
    admin.post("duplicate-rules", {"Lead": "off", "Contact": "off"})


@pytest.fixture(scope="session")
def hs_dir(sandbox) -> Path:
    """The session sandbox's folder (where the direct loaders write; the CA file lives in it)."""
    return Path(sandbox["salesforce"]["ca_file"]).parent


@pytest.fixture()
def hsa(sandbox) -> Admin:
    """HubSpot sandbox admin; starts each test with fresh rate windows and restores limits, faults and options."""
    admin = hubspot_admin(sandbox)
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
