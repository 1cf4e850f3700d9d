"""Logging in to the Salesforce sandbox with simple-salesforce: OAuth, SOAP, sessions that expire."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession

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


def test_jwt_bearer_grant(sandbox):
    sf_info = sandbox["salesforce"]

    def b64(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims = {"iss": sf_info["client_id"], "sub": sf_info["username"], "aud": "https://login.salesforce.com",
              "exp": str(int(time.time()) + 180)}
    assertion = f"{b64({'alg': 'RS256'})}.{b64(claims)}.c2ln"
    resp = http_session(sf_info["ca_file"]).post(sf_info["token_url"], data={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})
    assert resp.status_code == 200, resp.text
    assert resp.json()["instance_url"] == sf_info["instance_url"]


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
