"""The auth flows production uses, against the sandboxes: Salesforce's web-server flow (then cycles on the refresh
token), JWT bearer (and a bad signature refused with Salesforce's body), HubSpot's OAuth app (a cycle that
outlives its access tokens); and no secret in logs, run metadata, the state file or exception text."""

from __future__ import annotations

import datetime as dt
import queue
import re
import socket
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
import requests
import yaml
from dagster import DagsterInstance
from hubspot.crm.contacts import SimplePublicObjectInput
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from crm_sandbox.oauth_pages import key_and_certificate
from crm_sync import auth
from crm_sync.config import ConfigError, load_config
from crm_sync.connectors.common import http_session
from crm_sync.connectors.hubspot import HubSpotConnector, OAuthTokens
from crm_sync.connectors.salesforce import SalesforceConnector, fetch_token
from crm_sync.defs.resources import salesforce_credentials
from crm_sync.runner import execute_cycle
from crm_sync_tests.sync_harness import converged_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_connection(config_path: Path, system: str, settings: dict) -> None:
    raw = yaml.safe_load(config_path.read_text())
    raw["connections"][system] = settings
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))


def browser() -> requests.Session:
    """What the user's browser is here: it trusts nothing from the environment (no proxy for localhost)."""
    session = requests.Session()
    session.trust_env = False
    return session


def fill_and_submit(session: requests.Session, url: str, fields: dict, verify) -> str:
    """Open a login / install page, submit its form with `fields` as the user would; the redirect's URL."""
    page = session.get(url, verify=verify, timeout=30)
    assert page.status_code == 200 and "<form" in page.text, page.text[:300]
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text).group(1)
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    hidden = {k: v.replace("&amp;", "&") for k, v in hidden.items()}
    origin = re.match(r"https?://[^/]+", url).group(0)
    sent = session.post(origin + action, data={**hidden, **fields}, verify=verify, allow_redirects=False, timeout=30)
    assert sent.status_code == 302, sent.text[:300]
    return sent.headers["Location"]


def authorize(flow, on_login) -> int:
    """Run `flow(on_url)` (the crm-sync auth command) while the test plays the user: it logs in at the URL the
    command hands out and follows the redirect to the command's local callback."""
    urls: queue.Queue[str] = queue.Queue()
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("rc", flow(urls.put)), daemon=True)
    thread.start()
    callback = on_login(urls.get(timeout=30))
    assert callback.startswith("http://localhost:"), callback
    landed = browser().get(callback, timeout=30)
    assert landed.status_code == 200 and "you can close this window" in landed.text
    thread.join(60)
    return result["rc"]


def test_oauth_connections_to_both_crms_sync_and_no_secret_leaks(tmp_path, monkeypatch, capsys, caplog):
    with converged_env(tmp_path) as env:
        sf, hs = env.info["salesforce"], env.info["hubspot"]
        port = free_port()
        callback = f"http://localhost:{port}/callback"
        env.sf_admin("connected-app", {"callback_urls": [callback]})
        app = env.hs_admin("oauth-app", {"callback_urls": [callback], "token_seconds": 1800})
        for name, value in {"SALESFORCE_TOKEN_URL": sf["token_url"], "SALESFORCE_CLIENT_ID": sf["client_id"],
                            "SALESFORCE_CLIENT_SECRET": sf["client_secret"], "SALESFORCE_CA_FILE": sf["ca_file"],
                            "HUBSPOT_CLIENT_ID": app["client_id"],
                            "HUBSPOT_CLIENT_SECRET": app["client_secret"]}.items():
            monkeypatch.setenv(name, value)
        set_connection(env.config_path, "salesforce", {"kind": "refresh_token"})
        set_connection(env.config_path, "hubspot", {"kind": "oauth", "base_url": hs["base_url"],
                                                    "authorize_url": f"{hs['base_url']}/oauth/authorize"})
        secrets_dir = tmp_path / "secrets"

        # Salesforce: the web-server flow, the login page filled in as a user would
        sf_file = secrets_dir / "salesforce-refresh-token"
        rc = authorize(lambda on_url: auth.salesforce(str(env.config_path), port=port, save=str(sf_file),
                                                      open_browser=False, on_url=on_url, timeout=60),
                       lambda url: fill_and_submit(browser(), url, {"username": sf["username"],
                                                                    "password": sf["password"], "approve": "Allow"},
                                                   sf["ca_file"]))
        assert rc == 0
        # HubSpot: the app's install page
        hs_file = secrets_dir / "hubspot-refresh-token"
        rc = authorize(lambda on_url: auth.hubspot(str(env.config_path), port=port, save=str(hs_file),
                                                   open_browser=False, on_url=on_url, timeout=60),
                       lambda url: fill_and_submit(browser(), url, {"grant": "Connect app"}, None))
        assert rc == 0
        for saved in (sf_file, hs_file):
            assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        printed = capsys.readouterr()
        sf_refresh, hs_refresh = sf_file.read_text().strip(), hs_file.read_text().strip()
        assert sf_refresh.startswith("5Aep") and hs_refresh.startswith("na1-")
        assert "export SALESFORCE_REFRESH_TOKEN_FILE=" in printed.out
        assert "export HUBSPOT_REFRESH_TOKEN_FILE=" in printed.out
        monkeypatch.setenv("SALESFORCE_REFRESH_TOKEN_FILE", str(sf_file))
        monkeypatch.setenv("HUBSPOT_REFRESH_TOKEN_FILE", str(hs_file))

        # A cycle on both OAuth connections, HubSpot's access tokens living 1 s: it outlives several of them
        lifetime = 1
        env.hs_admin("oauth-app", {"token_seconds": lifetime})
        with env.state() as con:
            hs_id, sf_id = con.execute("""SELECT hubspot_id, salesforce_id FROM sync.links WHERE pair = 'people'
                AND salesforce_object = 'Contact' ORDER BY hubspot_id LIMIT 1""").fetchone()
        env.hs().crm.contacts.basic_api.update(hs_id, SimplePublicObjectInput(properties={"jobtitle": "OAuth Lead"}))
        env.sf().Contact.update(sf_id, {"Phone": "+1 555 0190"})
        before = env.hs_admin("oauth-app", method="GET")["access_tokens_issued"]
        instance = DagsterInstance.ephemeral()
        started = dt.datetime.now(dt.UTC)
        outcome = execute_cycle(env.config_path, instance=instance)
        took = (dt.datetime.now(dt.UTC) - started).total_seconds()
        assert outcome.success
        assert env.sf().Contact.get(sf_id)["Title"] == "OAuth Lead"
        phone = env.hs().crm.contacts.basic_api.get_by_id(hs_id, properties=["phone"]).properties["phone"]
        assert phone == "+1 555 0190"
        issued = env.hs_admin("oauth-app", method="GET")["access_tokens_issued"] - before
        assert took > lifetime and issued >= 2, (took, issued)  # outlived a token: renewed, never failed

        # A token that expires between the check and the call: the connector renews it and resends
        env.hs_admin("oauth-app", {"token_seconds": 1800})
        tokens = OAuthTokens(f"{hs['base_url']}/oauth/v1/token", app["client_id"], app["client_secret"], hs_refresh)
        connector = HubSpotConnector(hs["base_url"], None, tokens=tokens)
        assert connector.owners()
        env.hs_admin("oauth-app", {"expire_access_tokens": True})
        assert connector.owners()
        assert tokens.refreshes == 2  # the first, and the one after the refused call

        # A Salesforce session that expires mid-run is renewed by the refresh-token grant, and the call resent
        sf_creds = salesforce_credentials(load_config(env.config_path).connections.salesforce)
        sf_connector = SalesforceConnector(sf_creds)
        assert sf_connector.query("SELECT Id FROM User")
        env.sf_admin("sessions/expire")
        assert sf_connector.query("SELECT Id FROM User")
        assert sf_connector.usage.snapshot()["POST oauth2/token"] == 2

        # No secret anywhere the sync writes or says
        with sqlite3.connect(env.sandbox_dir / "salesforce.sqlite3") as db:
            sf_sessions = [r[0] for r in db.execute("SELECT token FROM _sessions")]
        with sqlite3.connect(env.sandbox_dir / "hubspot.sqlite3") as db:
            hs_access = [r[0] for r in db.execute("SELECT token FROM _oauth_tokens WHERE kind = 'access'")]
        secrets = {"salesforce client secret": sf["client_secret"], "salesforce refresh token": sf_refresh,
                   "hubspot client secret": app["client_secret"], "hubspot refresh token": hs_refresh,
                   **{f"salesforce access token {i}": t for i, t in enumerate(sf_sessions)},
                   **{f"hubspot access token {i}": t for i, t in enumerate(hs_access)}}
        assert len(sf_sessions) >= 2 and len(hs_access) >= 4
        later = capsys.readouterr()
        said = [printed.out, printed.err, later.out, later.err, caplog.text, repr(connector), repr(tokens),
                repr(sf_connector), repr(sf_creds)]
        said += [str(record) for record in instance.all_logs(outcome.run_id)]
        state_bytes = (tmp_path / "state" / "crm_sync.duckdb").read_bytes()
        files = [p for p in tmp_path.rglob("*") if p.is_file() and secrets_dir not in p.parents
                 and env.sandbox_dir not in p.parents]
        for what, secret in secrets.items():
            assert all(secret not in text for text in said), f"{what} in logs, output or run metadata"
            assert secret.encode() not in state_bytes, f"{what} in the DuckDB state"
            assert not [p for p in files if secret.encode() in p.read_bytes()], f"{what} in a file"


def _key_and_certificate(tmp_path: Path, name: str) -> tuple[Path, str]:
    """A private key in an owner-only file, and the certificate to upload to the connected app."""
    key, certificate = key_and_certificate()
    path = tmp_path / "secrets" / name
    path.parent.mkdir(exist_ok=True, mode=0o700)
    path.write_text(key)
    path.chmod(0o600)
    return path, certificate


def test_jwt_bearer_signed_by_the_connected_apps_key_syncs_and_another_key_is_refused(tmp_path, monkeypatch):
    with converged_env(tmp_path) as env:
        sf = env.info["salesforce"]
        key_file, certificate = _key_and_certificate(tmp_path, "salesforce.key")
        other_key, _ = _key_and_certificate(tmp_path, "other.key")
        env.sf_admin("connected-app", {"certificate": certificate})
        for name, value in {"SALESFORCE_TOKEN_URL": sf["token_url"], "SALESFORCE_CLIENT_ID": sf["client_id"],
                            "SALESFORCE_USERNAME": sf["username"], "SALESFORCE_CA_FILE": sf["ca_file"],
                            "SALESFORCE_PRIVATE_KEY_FILE": str(key_file)}.items():
            monkeypatch.setenv(name, value)
        set_connection(env.config_path, "salesforce", {"kind": "jwt"})
        with env.state() as con:
            sf_id = con.execute("""SELECT salesforce_id FROM sync.links WHERE pair = 'people'
                AND salesforce_object = 'Contact' ORDER BY hubspot_id LIMIT 1""").fetchone()[0]
        env.sf().Contact.update(sf_id, {"Title": "Signed In"})
        assert env.cycle().success
        with env.state() as con:
            assert con.execute("SELECT count(*) FROM sync.audit a JOIN sync.outbox o USING (op_id) "
                               "WHERE a.target = 'hubspot' AND o.payload LIKE '%Signed In%'").fetchone()[0] == 1

        key_lines = [line for line in key_file.read_text().splitlines() if "PRIVATE KEY" not in line]
        state_bytes = (tmp_path / "state" / "crm_sync.duckdb").read_bytes()
        shown = repr(salesforce_credentials(load_config(env.config_path).connections.salesforce))
        assert not [line for line in key_lines if line.encode() in state_bytes or line in shown]

        # Signed by a key whose certificate is not the app's: Salesforce's body, and the client's error
        conn = load_config(env.config_path).connections.salesforce
        monkeypatch.setenv("SALESFORCE_PRIVATE_KEY_FILE", str(other_key))
        creds = salesforce_credentials(conn)
        with pytest.raises(SalesforceAuthenticationFailed) as refused:
            fetch_token(creds, http_session(sf["ca_file"]))
        assert "invalid_grant" in str(refused.value) and "invalid assertion" in str(refused.value)
        assert "PRIVATE KEY" not in str(refused.value) and "eyJ" not in str(refused.value)
        raw = http_session(sf["ca_file"]).post(sf["token_url"], data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": __import__("jwt").encode({"iss": sf["client_id"], "sub": sf["username"],
                                                   "aud": sf["instance_url"], "exp": 4102444800},
                                                  other_key.read_text(), algorithm="RS256")}, timeout=30)
        assert (raw.status_code, raw.json()) == (400, {"error": "invalid_grant",
                                                       "error_description": "invalid assertion"})
        # A key file others can read is refused, naming the file (not its contents)
        key_file.chmod(0o644)
        monkeypatch.setenv("SALESFORCE_PRIVATE_KEY_FILE", str(key_file))
        with pytest.raises(ConfigError, match=r"can be read by others than its owner .*chmod 600"):
            salesforce_credentials(conn)


def test_the_auth_command_prints_the_install_url_and_gives_up_without_a_redirect(tmp_path, monkeypatch, capsys):
    from crm_sync.cli import main
    from crm_sync_tests.sync_harness import write_config

    config = write_config(tmp_path)
    set_connection(config, "hubspot", {"kind": "oauth", "authorize_url": "https://app.hubspot.com/oauth/authorize"})
    monkeypatch.setenv("HUBSPOT_CLIENT_ID", "client-123")
    monkeypatch.setenv("HUBSPOT_CLIENT_SECRET", "secret-456")
    port = free_port()
    assert main(["auth", "hubspot", "--config", str(config), "--no-browser", "--timeout", "0.5",
                 "--port", str(port)]) == 1
    out = capsys.readouterr()
    assert "https://app.hubspot.com/oauth/authorize?client_id=client-123&redirect_uri=http%3A%2F%2Flocalhost%3A" \
           f"{port}%2Fcallback" in out.out
    assert f"no redirect to http://localhost:{port}/callback" in out.err and "secret-456" not in out.out + out.err
    # a secret missing from the environment: named, exit 2
    monkeypatch.delenv("HUBSPOT_CLIENT_SECRET")
    assert main(["auth", "hubspot", "--config", str(config), "--no-browser", "--timeout", "0.1",
                 "--port", str(port)]) == 2
    assert "HUBSPOT_CLIENT_SECRET is not set" in capsys.readouterr().err


def test_a_secret_is_never_saved_inside_a_git_working_tree(tmp_path):
    from crm_sync.credentials import save_secret
    from crm_sync_tests.sync_harness import ROOT

    with pytest.raises(ConfigError, match="inside the git working tree"):
        save_secret(ROOT / "data" / "refresh-token", "x")
    assert not (ROOT / "data" / "refresh-token").exists()
    saved = save_secret(tmp_path / "new" / "token", "t0ken")
    assert saved.read_text() == "t0ken\n" and stat.S_IMODE(saved.stat().st_mode) == 0o600
