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
