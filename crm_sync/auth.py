"""`crm-sync auth salesforce|hubspot`: the OAuth authorization-code flow, once, to obtain a refresh token.

The command prints (and opens, unless told not to) the CRM's authorize URL, receives the redirect on a local
callback (`http://localhost:PORT/callback`, which must be a callback URL of the connected app / OAuth app),
exchanges the code at the token URL and keeps the refresh token in a file outside the repository that only its
owner can read. It never prints or logs a token; it says which environment variable to set to the file.
"""

from __future__ import annotations

import http.server
import secrets as token_source
import sys
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from crm_sync.config import ConfigError, load_config
from crm_sync.connectors import hubspot as hubspot_api
from crm_sync.connectors import salesforce as salesforce_api
from crm_sync.credentials import DEFAULT_DIR, env_value, sandbox_settings, save_secret

CALLBACK_PATH = "/callback"


@dataclass
class Callback:
    code: str | None = None
    state: str | None = None
    error: str | None = None


def receive_code(port: int, url: str, on_url: Callable[[str], None], timeout: float) -> Callback:
    """Serve the local callback, hand the authorize URL to the user (on_url), wait for the redirect."""
    got = Callback()
    done = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            parts = urlsplit(self.path)
            if parts.path != CALLBACK_PATH:
                self.send_error(404)
                return
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            got.code, got.state = query.get("code"), query.get("state")
            got.error = query.get("error") and f"{query['error']}: {query.get('error_description', '')}"
            body = (b"<html><body><p>crm-sync received the authorization; you can close this window.</p>"
                    b"</body></html>") if got.code else b"<html><body><p>Authorization failed.</p></body></html>"
            self.send_response(200 if got.code else 400)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            done.set()

        def log_message(self, *args):  # the query holds the code: no request log
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        on_url(url)
        if not done.wait(timeout):
            got.error = f"no redirect to http://localhost:{port}{CALLBACK_PATH} within {timeout:.0f} s"
    finally:
        server.shutdown()
        server.server_close()
    return got


def _show(open_browser: bool) -> Callable[[str], None]:
    def show(url: str) -> None:
        print(f"Open this URL, log in and allow access:\n  {url}", flush=True)
        if open_browser:
            webbrowser.open(url)

    return show


def salesforce(config_path: str, port: int = 8765, save: str | None = None, open_browser: bool = True,
               on_url: Callable[[str], None] | None = None, timeout: float = 300.0) -> int:
    """The Salesforce web-server flow against the configured org (its token URL, consumer key and secret from
    the environment as sync.yaml names them; a sandbox connection uses sandbox.json)."""
    config = load_config(config_path)
    conn = config.connections.salesforce
    if conn.kind == "sandbox":
        info = sandbox_settings(conn.sandbox_dir)["salesforce"]
        token_url, client_id, client_secret, ca_file = (info["token_url"], info["client_id"],
                                                        info["client_secret"], info["ca_file"])
    else:
        token_url, client_id = env_value(conn.token_url_env), env_value(conn.client_id_env)
        client_secret, ca_file = env_value(conn.client_secret_env), env_value(conn.ca_file_env, required=False)
    parts = urlsplit(token_url)
    authorize = urlunsplit(parts._replace(path=parts.path.rsplit("/", 1)[0] + "/authorize", query=""))
    redirect_uri = f"http://localhost:{port}{CALLBACK_PATH}"
    state = token_source.token_urlsafe(16)
    query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                       "state": state, "scope": "api refresh_token"})
    code = _authorized("salesforce", port, f"{authorize}?{query}", state, on_url or _show(open_browser), timeout)
    if code is None:
        return 1
    try:
        token = salesforce_api.exchange_code(token_url, client_id, client_secret, code, redirect_uri, ca_file)
    except SalesforceAuthenticationFailed as exc:
        print(f"crm-sync auth salesforce: the token URL refused the code: {exc}", file=sys.stderr)
        return 1
    return _keep(token, save, "salesforce-refresh-token", "SALESFORCE_REFRESH_TOKEN_FILE",
                 conn.refresh_token_file_env, "connections.salesforce.kind: refresh_token")


def _authorized(crm: str, port: int, url: str, state: str, on_url, timeout: float) -> str | None:
    """The code of the redirect, or None (said on stderr) when it failed or is not the answer to this request."""
    got = receive_code(port, url, on_url, timeout)
    if got.error or not got.code or got.state != state:
        problem = got.error or ("the redirect's state does not match this request (not our login?)" if got.code
                                else "no code in the redirect")
        print(f"crm-sync auth {crm}: {problem}", file=sys.stderr)
        return None
    return got.code


def _keep(token: str, save: str | None, default_name: str, default_env: str, file_env: str, kind: str) -> int:
    try:
        path = save_secret(Path(save) if save else DEFAULT_DIR / default_name, token)
    except ConfigError as exc:
        print(f"crm-sync auth: {exc}", file=sys.stderr)
        return 1
    print(f"Refresh token saved to {path} (readable by you only). To use it:\n"
          f"  export {file_env or default_env}={path}\n"
          f"  and in sync.yaml: {kind}\n"
          "Keep the file out of the repository and backups you share; revoke the token in the CRM if it leaks.")
    return 0


def hubspot(config_path: str, port: int = 8765, save: str | None = None, open_browser: bool = True,
            on_url: Callable[[str], None] | None = None, timeout: float = 300.0) -> int:
    """HubSpot's OAuth install: the app's client id and secret from the environment as sync.yaml names them,
    the install page at connections.hubspot.authorize_url, the code exchanged at <base_url>/oauth/v1/token."""
    conn = load_config(config_path).connections.hubspot
    client_id, client_secret = env_value(conn.client_id_env), env_value(conn.client_secret_env)
    ca_file = env_value(conn.ca_file_env, required=False)
    redirect_uri = f"http://localhost:{port}{CALLBACK_PATH}"
    state = token_source.token_urlsafe(16)
    query = urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "scope": conn.scopes, "state": state})
    code = _authorized("hubspot", port, f"{conn.authorize_url}?{query}", state, on_url or _show(open_browser),
                       timeout)
    if code is None:
        return 1
    try:
        token = hubspot_api.exchange_code(conn.base_url, client_id, client_secret, code, redirect_uri, ca_file)
    except hubspot_api.HubSpotApiError as exc:
        print(f"crm-sync auth hubspot: the token URL refused the code: {exc.message}", file=sys.stderr)
        return 1
    return _keep(token, save, "hubspot-refresh-token", "HUBSPOT_REFRESH_TOKEN_FILE",
                 conn.refresh_token_file_env, "connections.hubspot.kind: oauth")
