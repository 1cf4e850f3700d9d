"""HubSpot's OAuth app on the sandbox: the install page, codes, the token grants, and access tokens that expire."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests
from hubspot import HubSpot
from hubspot.crm.owners import ApiException


def test_install_code_tokens_refresh_and_expiry(sandbox, hsa):
    base = sandbox["hubspot"]["base_url"]
    callback = "http://localhost:5998/callback"
    app = hsa.post("oauth-app", {"callback_urls": [callback], "token_seconds": 1800})
    session = requests.Session()
    session.trust_env = False
    query = {"client_id": app["client_id"], "redirect_uri": callback, "scope": "crm.objects.contacts.read",
             "state": "s2"}
    page = session.get(f"{base}/oauth/authorize", params=query)
    assert page.status_code == 200 and "Connect app" in page.text
    assert session.get(f"{base}/oauth/authorize", params={**query, "client_id": "nope"}).status_code == 400
    installed = session.post(f"{base}/oauth/authorize", data={**query, "grant": "Connect app"},
                             allow_redirects=False)
    back = parse_qs(urlsplit(installed.headers["Location"]).query)
    assert installed.status_code == 302 and back["state"] == ["s2"]
    exchange = {"grant_type": "authorization_code", "client_id": app["client_id"],
                "client_secret": app["client_secret"], "redirect_uri": callback, "code": back["code"][0]}
    body = session.post(f"{base}/oauth/v1/token", data=exchange).json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 1800 and body["refresh_token"]
    reused = session.post(f"{base}/oauth/v1/token", data=exchange)
    assert reused.status_code == 400 and reused.json()["status"] == "BAD_AUTH_CODE"
    bad_secret = session.post(f"{base}/oauth/v1/token", data={**exchange, "client_secret": "x"}).json()
    assert bad_secret["status"] == "BAD_CLIENT_SECRET" and bad_secret["correlationId"]

    client = HubSpot(access_token=body["access_token"], host=base)
    assert client.crm.owners.owners_api.get_page().results
    raw = session.get(f"{base}/crm/v3/owners", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert not [h for h in raw.headers if h.lower().startswith("x-hubspot-ratelimit-daily")]  # not for OAuth apps
    hsa.post("oauth-app", {"expire_access_tokens": True})
    try:
        client.crm.owners.owners_api.get_page()
        raise AssertionError("an expired token was accepted")
    except ApiException as exc:
        assert exc.status == 401 and '"category":"EXPIRED_AUTHENTICATION"' in exc.body.replace(" ", "")
    refresh = {"grant_type": "refresh_token", "client_id": app["client_id"], "client_secret": app["client_secret"],
               "refresh_token": body["refresh_token"]}
    renewed = session.post(f"{base}/oauth/v1/token", data=refresh).json()
    assert renewed["refresh_token"] == body["refresh_token"] and renewed["access_token"] != body["access_token"]
    assert HubSpot(access_token=renewed["access_token"], host=base).crm.owners.owners_api.get_page().results
    unknown = session.post(f"{base}/oauth/v1/token", data={**refresh, "refresh_token": "na1-nope"}).json()
    assert unknown["status"] == "BAD_REFRESH_TOKEN"
