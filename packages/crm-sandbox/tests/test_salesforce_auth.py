"""Logging in to the Salesforce sandbox with simple-salesforce: OAuth, SOAP, sessions that expire."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession

from crm_sandbox.oauth_pages import key_and_certificate
from tests.clients import SalesforceCredentials, connect, fetch_token, http_session


def test_oauth_client_credentials_then_direct_session(sandbox):
    sf_info = sandbox["salesforce"]
    session = http_session(sf_info["ca_file"])
    token, instance_url = fetch_token(SalesforceCredentials(
        token_url=sf_info["token_url"], client_id=sf_info["client_id"], client_secret=sf_info["client_secret"]),
        session)
    assert instance_url == sf_info["instance_url"]
    sf = Salesforce(instance_url=instance_url, session_id=token, session=session)
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] >= 1
    assert sf.api_usage["api-usage"].total > 0


def test_password_grant_and_wrong_secret(sandbox):
    sf_info = sandbox["salesforce"]
    creds = SalesforceCredentials(token_url=sf_info["token_url"], client_id=sf_info["client_id"],
                                  client_secret=sf_info["client_secret"], ca_file=sf_info["ca_file"],
                                  username=sf_info["username"],
                                  password=sf_info["password"] + sf_info["security_token"])
    sf = connect(creds)
    me = sf.query(f"SELECT Id, Username FROM User WHERE Username = '{sf_info['username']}'")
    assert me["records"][0]["Username"] == sf_info["username"]
    bad = SalesforceCredentials(token_url=sf_info["token_url"], client_id=sf_info["client_id"],
                                client_secret="wrong", ca_file=sf_info["ca_file"])
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        connect(bad)
    assert err.value.code == "invalid_client"


def test_jwt_bearer_checks_the_signature_against_the_connected_apps_certificate(sandbox, sfa):
    import jwt

    sf_info = sandbox["salesforce"]
    session = http_session(sf_info["ca_file"])
    key, certificate = key_and_certificate()
    other, _ = key_and_certificate()
    claims = {"iss": sf_info["client_id"], "sub": sf_info["username"], "aud": "https://login.salesforce.com",
              "exp": str(int(time.time()) + 180)}

    def grant(assertion: str) -> requests.Response:
        return session.post(sf_info["token_url"], data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})

    no_cert = grant(jwt.encode(claims, key, algorithm="RS256"))
    assert no_cert.status_code == 400 and no_cert.json()["error"] == "invalid_client"
    sfa.post("connected-app", {"certificate": certificate})
    try:
        resp = grant(jwt.encode(claims, key, algorithm="RS256"))
        assert resp.status_code == 200, resp.text
        assert resp.json()["instance_url"] == sf_info["instance_url"]
        assert (grant(jwt.encode(claims, other, algorithm="RS256")).json()
                == {"error": "invalid_grant", "error_description": "invalid assertion"})
        unsigned = f"{b64({'alg': 'RS256'})}.{b64(claims)}.c2ln"
        assert grant(unsigned).json()["error_description"] == "invalid assertion"
        late = grant(jwt.encode({**claims, "exp": str(int(time.time()) - 60)}, key, algorithm="RS256"))
        assert late.json() == {"error": "invalid_grant", "error_description": "expired authorization code"}
        stranger = grant(jwt.encode({**claims, "sub": "nobody@example.org"}, key, algorithm="RS256"))
        assert stranger.json()["error_description"] == "user hasn't approved this consumer"
    finally:
        sfa.post("connected-app", {"certificate": None})


def b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def test_web_server_flow_codes_and_refresh_tokens(sandbox, sfa):
    """The authorize page, its redirect with a one-time code, the authorization_code and refresh_token grants."""
    import re
    from urllib.parse import parse_qs, urlsplit

    sf_info = sandbox["salesforce"]
    session = http_session(sf_info["ca_file"])
    callback = "http://localhost:5999/callback"
    sfa.post("connected-app", {"callback_urls": [callback]})
    base = sf_info["instance_url"] + "/services/oauth2/authorize"
    query = {"response_type": "code", "client_id": sf_info["client_id"], "redirect_uri": callback, "state": "s1"}
    page = session.get(base, params=query)
    assert page.status_code == 200 and 'name="username"' in page.text and "Allow" in page.text
    wrong = session.get(base, params={**query, "redirect_uri": "http://localhost:1/elsewhere"})
    assert wrong.status_code == 400 and "redirect_uri_mismatch" in wrong.text
    form = {**query, "username": sf_info["username"], "password": sf_info["password"]}
    denied = session.post(base, data={**form, "approve": "Deny"}, allow_redirects=False)
    assert parse_qs(urlsplit(denied.headers["Location"]).query)["error"] == ["access_denied"]
    bad_login = session.post(base, data={**form, "password": "nope", "approve": "Allow"}, allow_redirects=False)
    assert bad_login.status_code == 401 and re.search("check your username and password", bad_login.text)
    allowed = session.post(base, data={**form, "approve": "Allow"}, allow_redirects=False)
    assert allowed.status_code == 302 and allowed.headers["Location"].startswith(callback + "?")
    back = parse_qs(urlsplit(allowed.headers["Location"]).query)
    assert back["state"] == ["s1"]
    exchange = {"grant_type": "authorization_code", "code": back["code"][0], "client_id": sf_info["client_id"],
                "client_secret": sf_info["client_secret"], "redirect_uri": callback}
    assert session.post(sf_info["token_url"], data={**exchange, "redirect_uri": "http://x/"}).json()["error"] == \
        "redirect_uri_mismatch"
    tokens = session.post(sf_info["token_url"], data=exchange)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert {"access_token", "refresh_token", "instance_url", "id", "issued_at", "signature"} <= set(body)
    again = session.post(sf_info["token_url"], data=exchange)  # a code is good once
    assert (again.status_code, again.json()) == (400, {"error": "invalid_grant",
                                                       "error_description": "invalid authorization code"})
    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
               "client_id": sf_info["client_id"], "client_secret": sf_info["client_secret"]}
    renewed = session.post(sf_info["token_url"], data=refresh).json()
    assert renewed["access_token"] != body["access_token"] and "refresh_token" not in renewed
    sf = Salesforce(instance_url=renewed["instance_url"], session_id=renewed["access_token"], session=session)
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] >= 1
    unknown = session.post(sf_info["token_url"], data={**refresh, "refresh_token": "5Aepnope"})
    assert unknown.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}


def test_soap_partner_login(sandbox):
    sf_info = sandbox["salesforce"]
    session = http_session(sf_info["ca_file"])
    session_id, instance = SalesforceLogin(username=sf_info["username"], password=sf_info["password"],
                                           security_token=sf_info["security_token"],
                                           scratch_url=sf_info["instance_url"], session=session)
    assert sf_info["instance_url"].endswith(instance)
    sf = Salesforce(instance=instance, session_id=session_id, session=session)
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] >= 0
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        SalesforceLogin(username=sf_info["username"], password="nope", security_token="",
                        scratch_url=sf_info["instance_url"], session=session)
    assert err.value.code == "INVALID_LOGIN"


def test_revoked_session_is_invalid_session_id(sf, sfa):
    sf.query("SELECT COUNT() FROM Lead")
    sfa.post("sessions/expire", {"token": sf.session_id})
    with pytest.raises(SalesforceExpiredSession) as err:
        sf.query("SELECT COUNT() FROM Lead")
    assert err.value.status == 401
    assert err.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_requests_ca_bundle_does_not_override_the_sandbox_ca(sandbox, monkeypatch):
    # The machine's REQUESTS_CA_BUNDLE lacks the sandbox CA: a plain session fails, ours trusts it.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(sandbox["salesforce"]["instance_url"] + "/services/data/", timeout=10)
    ok = http_session(sandbox["salesforce"]["ca_file"]).get(sandbox["salesforce"]["instance_url"] + "/services/data/")
    assert ok.status_code == 200
