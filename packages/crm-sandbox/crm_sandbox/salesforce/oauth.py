"""The org's connected app, as the OAuth flows production integrations use meet it.

- Web-server flow: `GET /services/oauth2/authorize` shows the login and approval page; submitting it redirects to
  the app's callback URL with a one-time `code` (and the client's `state`), which the `authorization_code` grant
  at `/services/oauth2/token` exchanges for an access token and a refresh token.
- `refresh_token` grant: a new access token for a refresh token the org issued (the refresh token stays).
- JWT bearer: an RS256 assertion whose signature is checked against the certificate uploaded to the connected app
  (`POST /__sandbox/connected-app`), `iss` the consumer key, `sub` a username, `aud` the login host, `exp` ahead.

Error bodies are Salesforce's: `{"error": ..., "error_description": ...}` with 400 at the token endpoint; the
authorize page redirects errors to the callback (`error=access_denied`) when the callback is known, else shows them.
"""

from __future__ import annotations

import html
import secrets
import time
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from crm_sandbox.oauth_pages import callback_urls, redirect_back

CODE_SECONDS = 900  # an authorization code is good for 15 minutes, once
DEFAULT_CALLBACKS = ["http://localhost:8765/callback"]
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


def grant_error(error: str, description: str, status: int = 400) -> tuple[dict, int]:
    return {"error": error, "error_description": description}, status


class ConnectedApp:
    """Codes, refresh tokens and the app's settings (callback URLs, certificate), kept in the org's store."""

    def __init__(self, service):
        self.service = service
        self.store = service.store
        self.settings = service.settings
        self.settings.setdefault("callback_urls", lambda: list(DEFAULT_CALLBACKS))
        conn = self.store.conn
        conn.execute("""CREATE TABLE IF NOT EXISTS _oauth_codes (code TEXT PRIMARY KEY, user_id TEXT NOT NULL,
            redirect_uri TEXT NOT NULL, expires_at REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0)""")
        conn.execute("""CREATE TABLE IF NOT EXISTS _refresh_tokens (token TEXT PRIMARY KEY, user_id TEXT NOT NULL,
            issued_at REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)""")

    # ---- the authorize page ---------------------------------------------------------------------------
    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params) if request.method == "GET" else {
            k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        redirect_uri = params.get("redirect_uri", "")
        if params.get("client_id") != self.settings["client_id"]:
            return _page("error=invalid_client_id&error_description=client identifier invalid", status=400)
        if redirect_uri not in self.settings["callback_urls"]:
            return _page("error=redirect_uri_mismatch&error_description=redirect_uri must match configuration",
                         status=400)
        if params.get("response_type") != "code":
            return redirect_back(redirect_uri, params, error="unsupported_response_type",
                         error_description="response type not supported")
        if request.method == "GET":
            return _login_form(params)
        if params.get("approve") != "Allow":
            return redirect_back(redirect_uri, params, error="access_denied", error_description="end-user denied "
                         "authorization")
        user = self.service._user_by_username(params.get("username", ""))
        secret = params.get("password")
        if user is None or secret not in (self.settings["password"],
                                          self.settings["password"] + self.settings["security_token"]):
            return _login_form(params, problem="Please check your username and password. If you still can't log "
                               "in, contact your Salesforce administrator.")
        code = "aPrx" + secrets.token_urlsafe(40)
        self.store.conn.execute("INSERT INTO _oauth_codes VALUES (?, ?, ?, ?, 0)",
                                (code, user, redirect_uri, time.time() + CODE_SECONDS))
        return redirect_back(redirect_uri, params, code=code)

    # ---- token grants ---------------------------------------------------------------------------------
    def authorization_code(self, form: dict, client: tuple[str, str]) -> tuple[dict, int]:
        if client != (self.settings["client_id"], self.settings["client_secret"]):
            return grant_error("invalid_client", "invalid client credentials")
        conn = self.store.conn
        row = conn.execute("SELECT user_id, redirect_uri, expires_at, used FROM _oauth_codes WHERE code = ?",
                           (form.get("code", ""),)).fetchone()
        if row is None or row[3] or row[2] < time.time():
            return grant_error("invalid_grant", "invalid authorization code")
        if form.get("redirect_uri") != row[1]:
            return grant_error("redirect_uri_mismatch", "redirect_uri must match configuration")
        conn.execute("UPDATE _oauth_codes SET used = 1 WHERE code = ?", (form["code"],))
        refresh = f"5Aep{secrets.token_urlsafe(64)}"
        conn.execute("INSERT INTO _refresh_tokens VALUES (?, ?, ?, 0)", (refresh, row[0], time.time()))
        return {**self.service._token_body(row[0]), "refresh_token": refresh,
                "scope": "api refresh_token"}, 200

    def refresh_token(self, form: dict, client: tuple[str, str]) -> tuple[dict, int]:
        client_id, client_secret = client
        if client_id != self.settings["client_id"] or (client_secret and client_secret !=
                                                        self.settings["client_secret"]):
            return grant_error("invalid_client", "invalid client credentials")
        row = self.store.conn.execute("SELECT user_id, revoked FROM _refresh_tokens WHERE token = ?",
                                      (form.get("refresh_token", ""),)).fetchone()
        if row is None or row[1]:
            return grant_error("invalid_grant", "expired access/refresh token")
        return {**self.service._token_body(row[0]), "scope": "api refresh_token"}, 200

    def jwt_bearer(self, form: dict) -> tuple[dict, int]:
        assertion = form.get("assertion", "")
        pem = self.settings.get("jwt_certificate")
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return grant_error("invalid_grant", "invalid assertion")
        if claims.get("iss") != self.settings["client_id"]:
            return grant_error("invalid_client_id", "client identifier invalid")
        if not pem:
            return grant_error("invalid_client", "invalid client credentials: the connected app has no "
                               "certificate (Use digital signatures)")
        key = x509.load_pem_x509_certificate(pem.encode()).public_key()
        audiences = [*LOGIN_AUDIENCES, self.service.base_url]
        try:
            claims = jwt.decode(assertion, key, algorithms=["RS256"], audience=audiences,
                                options={"require": ["exp", "sub", "aud"]})
        except jwt.ExpiredSignatureError:
            return grant_error("invalid_grant", "expired authorization code")
        except jwt.InvalidAudienceError:
            return grant_error("invalid_grant", "audience is invalid")
        except jwt.PyJWTError:
            return grant_error("invalid_grant", "invalid assertion")
        user = self.service._user_by_username(str(claims.get("sub", "")))
        if user is None:
            return grant_error("invalid_grant", "user hasn't approved this consumer")
        return self.service._token_body(user), 200

    # ---- the admin side: what an admin sets on the connected app ---------------------------------------
    def configure(self, body: dict) -> dict:
        if "callback_urls" in body:
            urls = callback_urls(body["callback_urls"])
            self.settings.set("callback_urls", urls)
        if "certificate" in body:
            pem = body["certificate"]
            if pem is not None:
                x509.load_pem_x509_certificate(str(pem).encode())  # ValueError names a bad PEM
            self.settings.set("jwt_certificate", pem)
        if body.get("revoke_refresh_tokens"):
            self.store.conn.execute("UPDATE _refresh_tokens SET revoked = 1")
        return {"client_id": self.settings["client_id"], "callback_urls": self.settings["callback_urls"],
                "certificate": bool(self.settings.get("jwt_certificate"))}


def _page(message: str, status: int = 200) -> Response:
    return HTMLResponse(f"<html><head><title>Error | Salesforce</title></head><body><p>{html.escape(message)}</p>"
                        "</body></html>", status_code=status)


def _login_form(params: dict, problem: str | None = None) -> Response:
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in params.items() if k in ("client_id", "redirect_uri", "response_type", "state",
                                                         "scope", "prompt"))
    error = f'<div id="error" class="loginError">{html.escape(problem)}</div>' if problem else ""
    return HTMLResponse(f"""<!DOCTYPE html><html><head><title>Login | Salesforce</title></head><body>
<form id="login_form" name="login" method="POST" action="/services/oauth2/authorize">{hidden}{error}
<label for="username">Username</label><input id="username" name="username" type="email">
<label for="password">Password</label><input id="password" name="password" type="password">
<p>Allow access? The app will be able to: access and manage your data (api); perform requests at any time
(refresh_token, offline_access).</p>
<button type="submit" name="approve" value="Allow">Allow</button>
<button type="submit" name="approve" value="Deny">Deny</button></form></body></html>""",
                        status_code=401 if problem else 200)
