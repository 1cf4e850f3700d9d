"""The portal's OAuth app, as HubSpot serves it: `GET /oauth/authorize` (the install page), its redirect with a
one-time `code`, and `POST /oauth/v1/token` with the `authorization_code` and `refresh_token` grants. Access
tokens expire (`oauth_token_seconds`, 1800 by default, as HubSpot's 30 minutes); a call with an expired one gets
HubSpot's 401 `EXPIRED_AUTHENTICATION`. The refresh token stays the same across refreshes, as HubSpot's does.

Token errors are HubSpot's OAuth shape: `{"status": "BAD_AUTH_CODE", "message": ..., "correlationId": ...}`, 400.
"""

from __future__ import annotations

import html
import secrets
import time
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from crm_sandbox.hubspot.errors import HsError
from crm_sandbox.hubspot.wire import cid
from crm_sandbox.oauth_pages import callback_urls, redirect_back

DEFAULTS = {"oauth_token_seconds": 1800, "oauth_callback_urls": ["http://localhost:8765/callback"]}
CODE_SECONDS = 600


class OAuthApp:
    def __init__(self, service):
        self.service = service
        self.settings = service.settings
        for key, value in DEFAULTS.items():
            self.settings.setdefault(key, lambda v=value: v)
        self.settings.setdefault("oauth_client_id", lambda: f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-"
                                                            f"{secrets.token_hex(2)}-{secrets.token_hex(6)}")
        self.settings.setdefault("oauth_client_secret", lambda: f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-"
                                                                f"{secrets.token_hex(2)}-{secrets.token_hex(6)}")
        conn = service.store.conn
        conn.execute("""CREATE TABLE IF NOT EXISTS _oauth_codes (code TEXT PRIMARY KEY, redirect_uri TEXT NOT NULL,
            expires_at REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0)""")
        conn.execute("""CREATE TABLE IF NOT EXISTS _oauth_tokens (token TEXT PRIMARY KEY, kind TEXT NOT NULL,
            refresh_token TEXT, expires_at REAL, revoked INTEGER NOT NULL DEFAULT 0)""")

    # ---- the bearer check the middleware's gate makes ---------------------------------------------------
    def check(self, token: str) -> HsError | None:
        """None for a live OAuth access token; an error for an expired one; the invalid-auth error otherwise."""
        row = self.service.store.conn.execute(
            "SELECT expires_at, revoked FROM _oauth_tokens WHERE token = ? AND kind = 'access'", (token,)).fetchone()
        if row is None or row[1]:
            return HsError(401, "INVALID_AUTHENTICATION", "Authentication credentials not found. This API supports "
                           "OAuth 2.0 authentication and you can find more details at "
                           "https://developers.hubspot.com/docs/methods/auth/oauth-overview")
        ago = time.time() - row[0]
        if ago >= 0:
            return HsError(401, "EXPIRED_AUTHENTICATION",
                           f"The OAuth token used to make this call expired {int(ago)} second(s) ago.")
        return None

    # ---- the install page -----------------------------------------------------------------------------
    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params) if request.method == "GET" else {
            k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        redirect_uri = params.get("redirect_uri", "")
        if params.get("client_id") != self.settings["oauth_client_id"]:
            return _page("Authorization failed because this app's client ID is invalid.", 400)
        if redirect_uri not in self.settings["oauth_callback_urls"]:
            return _page("Authorization failed because the redirect URL doesn't match the app's settings.", 400)
        if request.method == "GET":
            return _install_page(params, self.settings["portal_id"])
        if params.get("grant") != "Connect app":
            return redirect_back(redirect_uri, params, error="access_denied",
                                 error_description="The user denied access")
        code = f"na1-{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}-{secrets.token_hex(6)}"
        self.service.store.conn.execute("INSERT INTO _oauth_codes VALUES (?, ?, ?, 0)",
                                        (code, redirect_uri, time.time() + CODE_SECONDS))
        return redirect_back(redirect_uri, params, code=code)

    # ---- the token endpoint ---------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        s, conn = self.settings, self.service.store.conn
        if form.get("client_id") != s["oauth_client_id"]:
            return self._error(request, "BAD_CLIENT_ID", "missing or invalid client id")
        if form.get("client_secret") != s["oauth_client_secret"]:
            return self._error(request, "BAD_CLIENT_SECRET", "missing or invalid client secret")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            row = conn.execute("SELECT redirect_uri, expires_at, used FROM _oauth_codes WHERE code = ?",
                               (form.get("code", ""),)).fetchone()
            if row is None or row[2] or row[1] < time.time():
                return self._error(request, "BAD_AUTH_CODE", "missing or unknown auth code")
            if form.get("redirect_uri") != row[0]:
                return self._error(request, "BAD_REDIRECT_URI", "redirect_uri does not match the one the code "
                                   "was issued for")
            conn.execute("UPDATE _oauth_codes SET used = 1 WHERE code = ?", (form["code"],))
            refresh = f"na1-{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}-" \
                      f"{secrets.token_hex(6)}"
            conn.execute("INSERT INTO _oauth_tokens VALUES (?, 'refresh', NULL, NULL, 0)", (refresh,))
            return self._issue(refresh)
        if grant == "refresh_token":
            row = conn.execute("SELECT revoked FROM _oauth_tokens WHERE token = ? AND kind = 'refresh'",
                               (form.get("refresh_token", ""),)).fetchone()
            if row is None or row[0]:
                return self._error(request, "BAD_REFRESH_TOKEN", "missing or unknown refresh token")
            return self._issue(form["refresh_token"])
        return self._error(request, "BAD_GRANT_TYPE", "grant_type must be authorization_code or refresh_token")

    def _issue(self, refresh: str) -> Response:
        seconds = int(self.settings["oauth_token_seconds"])
        access = "CN" + secrets.token_urlsafe(90)
        self.service.store.conn.execute("INSERT INTO _oauth_tokens VALUES (?, 'access', ?, ?, 0)",
                                        (access, refresh, time.time() + seconds))
        return JSONResponse({"token_type": "bearer", "refresh_token": refresh, "access_token": access,
                             "expires_in": seconds})

    def _error(self, request: Request, status: str, message: str) -> Response:
        return JSONResponse({"status": status, "message": message, "correlationId": cid(request)}, status_code=400)

    # ---- admin ----------------------------------------------------------------------------------------
    def configure(self, body: dict) -> dict:
        if "callback_urls" in body:
            urls = callback_urls(body["callback_urls"])
            self.settings.set("oauth_callback_urls", urls)
        if "token_seconds" in body:
            self.settings.set("oauth_token_seconds", int(body["token_seconds"]))
        if body.get("expire_access_tokens"):
            self.service.store.conn.execute("UPDATE _oauth_tokens SET expires_at = ? WHERE kind = 'access'",
                                            (time.time() - 1,))
        return {"client_id": self.settings["oauth_client_id"], "client_secret": self.settings["oauth_client_secret"],
                "callback_urls": self.settings["oauth_callback_urls"],
                "token_seconds": self.settings["oauth_token_seconds"],
                "access_tokens_issued": self.service.store.conn.execute(
                    "SELECT count(*) FROM _oauth_tokens WHERE kind = 'access'").fetchone()[0]}


def _page(message: str, status: int) -> Response:
    return HTMLResponse(f"<html><head><title>HubSpot</title></head><body><h1>{html.escape(message)}</h1></body></html>",
                        status_code=status)


def _install_page(params: dict, portal_id) -> Response:
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in params.items() if k in ("client_id", "redirect_uri", "scope", "optional_scope",
                                                         "state"))
    return HTMLResponse(f"""<!DOCTYPE html><html><head><title>Connect app | HubSpot</title></head><body>
<form method="POST" action="/oauth/authorize">{hidden}
<p>Choose an account: <label><input type="radio" name="portal" value="{portal_id}" checked> {portal_id}</label></p>
<p>This app wants to: {html.escape(params.get("scope", ""))}</p>
<button type="submit" name="grant" value="Connect app">Connect app</button>
<button type="submit" name="grant" value="Cancel">Cancel</button></form></body></html>""")
