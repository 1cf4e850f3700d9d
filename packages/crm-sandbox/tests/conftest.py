"""The sandbox's own tests: the real clients; the session sandbox and admin fixtures come from the
crm_sandbox.testing plugin (`-p crm_sandbox.testing` in pytest's addopts)."""

from __future__ import annotations

import pytest

from tests.clients import connect, sandbox_credentials


@pytest.fixture()
def sf(sandbox):
    """simple-salesforce on a direct session from the sandbox's OAuth token URL."""
    return connect(sandbox_credentials(sandbox))
