"""Dagster resources: the sync configuration, the DuckDB state file, and the two CRM connectors."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from crm_sync.config.models import ConfigError, SyncConfig, load_config
from crm_sync.connectors.common import ApiUsage
from crm_sync.connectors.hubspot import HubSpotConnector
from crm_sync.connectors.salesforce import SalesforceConnector, SalesforceCredentials, sandbox_credentials
from crm_sync.engine import db

# One connector per connection and process: its session (token), pools and HubSpot rate windows carry over
# from step to step and run to run, instead of logging in again for every asset.
_CONNECTORS: dict[tuple, object] = {}
_LOCK = threading.Lock()


def _cached(key: tuple, build):
    with _LOCK:
        if key not in _CONNECTORS:
            _CONNECTORS[key] = build()
        return _CONNECTORS[key]


class SyncConfigResource(ConfigurableResource):
    """Where sync.yaml is; read on use, never at import time."""

    path: str = "sync.yaml"

    def load(self) -> SyncConfig:
        return load_config(Path(self.path))


class SyncStateResource(ConfigurableResource):
    """The DuckDB state file. One writer at a time: the job runs its steps in one process."""

    config_path: str = "sync.yaml"

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = db.connect(load_config(Path(self.config_path)).state_path)
        try:
            yield con
        finally:
            con.close()


def _sandbox(directory: Path) -> dict:
    path = directory / "sandbox.json"
    if not path.exists():
        raise ConfigError(f"{path} not found: start the sandbox (crm-sync sandbox up --dir {directory}) or point "
                          "connections.*.sandbox_dir at a running one")
    return json.loads(path.read_text())


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"environment variable {name} is not set (sync.yaml names it for a real connection)")
    return value


class SalesforceResource(ConfigurableResource):
    """Builds a SalesforceConnector from sync.yaml: sandbox.json, or secrets from environment variables."""

    config_path: str = "sync.yaml"

    def connector(self) -> SalesforceConnector:
        """The process-wide connector for this connection; its ApiUsage counts every call it makes."""
        conn = load_config(Path(self.config_path)).connections.salesforce
        if conn.kind == "sandbox":
            creds = sandbox_credentials(_sandbox(conn.sandbox_dir))
        else:
            creds = SalesforceCredentials(
                token_url=_env(conn.token_url_env), client_id=_env(conn.client_id_env),
                client_secret=_env(conn.client_secret_env), api_version=conn.api_version,
                username=_env(conn.username_env) if conn.kind == "password" else None,
                password=_env(conn.password_env) if conn.kind == "password" else None)
        return _cached(("salesforce", repr(creds), creds.token_url, creds.client_id),
                       lambda: SalesforceConnector(creds, usage=ApiUsage()))


class HubSpotResource(ConfigurableResource):
    """Builds a HubSpotConnector from sync.yaml: sandbox.json, or the private-app token from the environment."""

    config_path: str = "sync.yaml"

    def connector(self) -> HubSpotConnector:
        """The process-wide connector for this connection; its ApiUsage counts every call it makes."""
        conn = load_config(Path(self.config_path)).connections.hubspot
        if conn.kind == "sandbox":
            info = _sandbox(conn.sandbox_dir)["hubspot"]
            base_url, token = info["base_url"], info["access_token"]
        else:
            base_url, token = conn.base_url, _env(conn.access_token_env)
        return _cached(("hubspot", base_url, token),
                       lambda: HubSpotConnector(base_url, token, usage=ApiUsage(),
                                                ten_second_limit=conn.ten_second_limit,
                                                search_per_second=conn.search_per_second))
