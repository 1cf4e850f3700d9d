"""Shared fixtures: the session sandbox and its admin interfaces come from the crm_sandbox.testing plugin
(`-p crm_sandbox.testing` in pyproject's pytest addopts); the clients here are crm-sync's own."""

from __future__ import annotations

import pytest

from crm_sync.connectors.salesforce import connect, sandbox_credentials


@pytest.fixture()
def sf(sandbox):
    """simple-salesforce on a direct session from the sandbox's OAuth token URL."""
    return connect(sandbox_credentials(sandbox))


@pytest.fixture(scope="session", autouse=True)
def shared_templates(tmp_path_factory):
    """One folder per test run for sync_harness's converged templates, shared by pytest-xdist's workers (their
    temporary folders sit side by side under the run's)."""
    import os

    root = tmp_path_factory.getbasetemp()
    shared = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root
    os.environ["CRM_SYNC_TEMPLATE_DIR"] = str(shared / "crm-sync-templates")
    yield
