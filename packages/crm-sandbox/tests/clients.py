"""The real clients logged in to a running sandbox, for the sandbox's own tests (they never import crm_sync)."""

from __future__ import annotations

from dataclasses import dataclass

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed


@dataclass(frozen=True)
class SalesforceCredentials:
    token_url: str
    client_id: str
    client_secret: str
    ca_file: str | None = None
    username: str | None = None
    password: str | None = None


def http_session(ca_file: str | None) -> requests.Session:
    """A session that trusts the sandbox CA even where REQUESTS_CA_BUNDLE points elsewhere."""
    session = requests.Session()
    if ca_file:
        session.trust_env, session.verify = False, ca_file
    return session


def sandbox_credentials(info: dict) -> SalesforceCredentials:
    sf = info["salesforce"]
    return SalesforceCredentials(sf["token_url"], sf["client_id"], sf["client_secret"], sf["ca_file"])


def fetch_token(creds: SalesforceCredentials, session: requests.Session) -> tuple[str, str]:
    """(access token, instance URL) from the token endpoint: password grant with a username, else client credentials."""
    grant = ({"grant_type": "password", "username": creds.username, "password": creds.password or "",
              "client_id": creds.client_id, "client_secret": creds.client_secret} if creds.username
             else {"grant_type": "client_credentials"})
    auth = None if creds.username else (creds.client_id, creds.client_secret)
    resp = session.post(creds.token_url, data=grant, auth=auth, timeout=30)
    body = resp.json() if resp.headers.get("Content-Type", "").startswith("application/json") else {}
    if resp.status_code != 200 or "access_token" not in body:
        raise SalesforceAuthenticationFailed(body.get("error", resp.status_code), body.get("error_description", ""))
    return body["access_token"], body["instance_url"]


def connect(creds: SalesforceCredentials) -> Salesforce:
    """simple-salesforce on a direct session (it cannot log in to a host other than *.salesforce.com itself)."""
    session = http_session(creds.ca_file)
    token, instance_url = fetch_token(creds, session)
    return Salesforce(instance_url=instance_url, session_id=token, session=session, version="59.0")
