"""Shared fixtures: the session sandbox and its admin interfaces come from the crm_sandbox.testing plugin
(`-p crm_sandbox.testing` in pyproject's pytest addopts); the clients here are crm-sync's own."""

from __future__ import annotations

import pytest

from crm_sync.connectors.salesforce import connect, sandbox_credentials


@pytest.fixture()
def sf(sandbox):
    """simple-salesforce on a direct session from the sandbox's OAuth token URL."""
    return connect(sandbox_credentials(sandbox))


@pytest.fixture()
def hs(sandbox, hsa):
    """hubspot-api-client pointed at the sandbox (its retry middleware off, as by default)."""
    from hubspot import HubSpot

    return HubSpot(access_token=sandbox["hubspot"]["access_token"], host=sandbox["hubspot"]["base_url"])
