"""Dagster resources: the parsed configuration, the DuckDB state file, and the two CRM connectors.

Each is set up once per run (`setup_for_execution`): sync.yaml is parsed there, secrets are read from the
environment there, the state file is opened once and every step of the run shares it (the job runs in one
process: DuckDB takes one writer), and the connectors (sessions, rate windows, API usage) live for the run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from crm_sync.config import SyncConfig, load_config
from crm_sync.config.models import SalesforceConnection
from crm_sync.connectors.common import ApiUsage
from crm_sync.connectors.hubspot import HubSpotConnector, OAuthTokens
from crm_sync.connectors.salesforce import SalesforceConnector, SalesforceCredentials, sandbox_credentials
from crm_sync.credentials import env_value, read_secret, sandbox_settings
from crm_sync.engine import db


class SyncConfigResource(ConfigurableResource):
    """sync.yaml, parsed once per run (never at import time)."""

    path: str = "sync.yaml"
    _config: SyncConfig | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._config = load_config(Path(self.path))

    @property
    def config(self) -> SyncConfig:
        if self._config is None:
            self._config = load_config(Path(self.path))
        return self._config


class SyncStateResource(ConfigurableResource):
    """The DuckDB state file, opened once per run and shared by its steps."""

    config_path: str = "sync.yaml"
    _con: duckdb.DuckDBPyConnection | None = PrivateAttr(default=None)
    _limit: str = PrivateAttr(default=db.STATE_MEMORY_LIMIT)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        config = load_config(Path(self.config_path))
        self._con, self._limit = db.connect(config.state_path, config.state_memory_limit), config.state_memory_limit

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The run's connection (outside a run, one of its own); a step that runs out of the state's memory fails
        naming the setting that bounds it."""
        con, limit = self._con, self._limit
        if con is None:  # outside a run: a direct call
            config = load_config(Path(self.config_path))
            con, limit = db.connect(config.state_path, config.state_memory_limit), config.state_memory_limit
        try:
            yield con
        except duckdb.OutOfMemoryException as exc:
            raise db.StateOutOfMemory(limit, exc) from exc
        finally:
            if con is not self._con:
                con.close()


def salesforce_credentials(conn: SalesforceConnection) -> SalesforceCredentials:
    """A real org's credentials for the connection's flow, every secret read now from the environment (or an
    owner-only file it names)."""
    kind = conn.kind
    common = {"token_url": env_value(conn.token_url_env), "client_id": env_value(conn.client_id_env),
              "api_version": conn.api_version, "ca_file": env_value(conn.ca_file_env, required=False), "grant": kind}
    if kind == "refresh_token":
        # A connected app may require its secret for refresh (the default) or not (PKCE-only apps).
        return SalesforceCredentials(**common, client_secret=env_value(conn.client_secret_env, required=False),
                                     refresh_token=read_secret(conn.refresh_token_env, conn.refresh_token_file_env,
                                                               "Salesforce refresh token"))
    if kind == "jwt":
        return SalesforceCredentials(**common, client_secret=None, username=env_value(conn.username_env),
                                     private_key=read_secret(None, conn.private_key_file_env,
                                                             "Salesforce JWT private key"),
                                     audience=env_value(conn.jwt_audience_env, required=False))
    return SalesforceCredentials(**common, client_secret=env_value(conn.client_secret_env),
                                 username=env_value(conn.username_env) if kind == "password" else None,
                                 password=env_value(conn.password_env) if kind == "password" else None)


def salesforce_connector(config: SyncConfig) -> SalesforceConnector:
    """A connector for the configured org: sandbox.json, or secrets from environment variables, read now."""
    conn = config.connections.salesforce
    creds = (sandbox_credentials(sandbox_settings(conn.sandbox_dir)) if conn.kind == "sandbox"
             else salesforce_credentials(conn))
    budget = config.budget.salesforce
    return SalesforceConnector(creds, usage=ApiUsage(), budget=budget.per_run, per_day=budget.per_day,
                               reserve=budget.reserve, timeout=config.sync.request_timeout_seconds)


def hubspot_connector(config: SyncConfig) -> HubSpotConnector:
    """A connector for the configured portal: sandbox.json, a private app's token, or an OAuth app's refresh
    token, from the environment."""
    conn = config.connections.hubspot
    if conn.kind == "sandbox":
        info = sandbox_settings(conn.sandbox_dir)["hubspot"]
        base_url, token, ca_file = info["base_url"], info["access_token"], info.get("ca_file")
    else:
        base_url, ca_file = conn.base_url, env_value(conn.ca_file_env, False)
        token = env_value(conn.access_token_env) if conn.kind == "private_app" else None
    tokens = None
    if conn.kind == "oauth":
        tokens = OAuthTokens(f"{base_url.rstrip('/')}/oauth/v1/token", env_value(conn.client_id_env),
                             env_value(conn.client_secret_env),
                             read_secret(conn.refresh_token_env, conn.refresh_token_file_env, "HubSpot refresh token"),
                             ca_file=ca_file, timeout=config.sync.request_timeout_seconds)
    budget = config.budget.hubspot
    return HubSpotConnector(base_url, token, tokens=tokens, usage=ApiUsage(), ten_second_limit=conn.ten_second_limit,
                            search_per_second=conn.search_per_second, ca_file=ca_file, budget=budget.per_run,
                            per_day=budget.per_day, reserve=budget.reserve,
                            timeout=config.sync.request_timeout_seconds)


class _ConnectorResource(ConfigurableResource):
    config_path: str = "sync.yaml"
    _connector: object = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._connector = self._build(load_config(Path(self.config_path)))

    def _build(self, config: SyncConfig):
        raise NotImplementedError

    @property
    def connector(self):
        """The run's connector; its ApiUsage counts every call it makes."""
        if self._connector is None:
            self._connector = self._build(load_config(Path(self.config_path)))
        return self._connector


class SalesforceResource(_ConnectorResource):
    """The Salesforce connector of the configured org, for one run."""

    def _build(self, config: SyncConfig) -> SalesforceConnector:
        return salesforce_connector(config)


class HubSpotResource(_ConnectorResource):
    """The HubSpot connector of the configured portal, for one run."""

    def _build(self, config: SyncConfig) -> HubSpotConnector:
        return hubspot_connector(config)
