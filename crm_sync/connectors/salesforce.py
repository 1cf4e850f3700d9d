"""Salesforce connection over simple-salesforce: OAuth token from the configured token URL, then a direct session."""

from __future__ import annotations

from dataclasses import dataclass

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed


@dataclass(frozen=True)
class SalesforceCredentials:
    """Where and how to log in. Secrets are held in memory only, never logged (see __repr__)."""

    token_url: str
    client_id: str
    client_secret: str
    ca_file: str | None = None
    username: str | None = None
    password: str | None = None
    api_version: str = "59.0"

    def __repr__(self) -> str:
        return f"SalesforceCredentials(token_url={self.token_url!r}, client_id=***, username={self.username!r})"


def http_session(ca_file: str | None) -> requests.Session:
    """A requests session that trusts ca_file (when given) whatever REQUESTS_CA_BUNDLE says."""
    session = requests.Session()
    if ca_file:
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override session.verify unless trust_env is off.
        session.trust_env = False
        session.verify = ca_file
    return session


def fetch_token(creds: SalesforceCredentials, session: requests.Session) -> tuple[str, str]:
    """OAuth 2.0 token request (client credentials, or password when a username is set): (token, instance_url)."""
    if creds.username:
        data = {"grant_type": "password", "client_id": creds.client_id, "client_secret": creds.client_secret,
                "username": creds.username, "password": creds.password or ""}
        auth = None
    else:
        data = {"grant_type": "client_credentials"}
        auth = (creds.client_id, creds.client_secret)
    resp = session.post(creds.token_url, data=data, auth=auth, timeout=30)
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code != 200 or "access_token" not in body:
        raise SalesforceAuthenticationFailed(body.get("error", resp.status_code),
                                             body.get("error_description", "token request failed"))
    return body["access_token"], body["instance_url"]


def connect(creds: SalesforceCredentials) -> Salesforce:
    """A simple-salesforce client on a direct session obtained from the token URL."""
    session = http_session(creds.ca_file)
    token, instance_url = fetch_token(creds, session)
    return Salesforce(instance_url=instance_url, session_id=token, session=session, version=creds.api_version)


def sandbox_credentials(sandbox: dict) -> SalesforceCredentials:
    """Credentials for the sandbox described by a sandbox.json document."""
    sf = sandbox["salesforce"]
    return SalesforceCredentials(token_url=sf["token_url"], client_id=sf["client_id"],
                                 client_secret=sf["client_secret"], ca_file=sf["ca_file"],
                                 api_version=sf["api_version"])
