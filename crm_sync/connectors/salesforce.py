"""Salesforce over simple-salesforce: OAuth login, metered and retried HTTP, incremental extract, collection writes."""

from __future__ import annotations

import csv
import io
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import jwt
import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceResourceNotFound,
)

from crm_sync.connectors.common import (
    ApiUsage,
    Failure,
    Meter,
    RetryPolicy,
    UnknownObject,
    Window,
    WriteResult,
    apply_ops,
    as_utc,
    chunks,
    http_session,
    read_windows,
    run_batches,
)

COLLECTION_SIZE = 200  # records per sObject collection call
SOAP_MERGE_SIZE = 200  # merge requests per SOAP merge() call
SESSION_MARK = "{{session_id}}"  # where a SOAP body takes the current session id (filled in on every send)
_SOAP = {"env": "http://schemas.xmlsoap.org/soap/envelope/", "p": "urn:partner.soap.sforce.com"}
QUERY_PAGE_MAX = 2000  # the most rows one REST query response holds
BULK_PAGE = 50_000  # rows per Bulk API 2.0 result page
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_API_PREFIX = re.compile(r"^/services/(data/v[\d.]+/?)?")
_ID_LIKE = re.compile(r"^(?=.*\d)[A-Za-z0-9-]{15,}$")  # record and job ids, query locators ("01g...-2000")
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")  # Sforce-Limit-Info: the org's calls today / allocation
_SYSTEM_FIELDS = ("SystemModstamp", "LastModifiedDate", "IsDeleted")
_STAGING = {"Id": "id", "SystemModstamp": "cursor_at", "LastModifiedDate": "modified_at", "IsDeleted": "deleted"}


@dataclass(frozen=True)
class SalesforceCredentials:
    """Where and how to log in. Secrets are held in memory only, never logged (see __repr__)."""

    token_url: str
    client_id: str
    client_secret: str | None
    ca_file: str | None = None
    username: str | None = None
    password: str | None = None
    api_version: str = "59.0"
    grant: str | None = None  # refresh_token | jwt | password | client_credentials (None: password with a
    # username, else client credentials)
    refresh_token: str | None = None
    private_key: str | None = None  # PEM, for jwt
    audience: str | None = None  # jwt's aud (None: from the token URL)

    def __repr__(self) -> str:
        return (f"SalesforceCredentials(token_url={self.token_url!r}, grant={self.flow!r}, client_id=***, "
                f"username={self.username!r})")

    @property
    def flow(self) -> str:
        return self.grant or ("password" if self.username else "client_credentials")

    def jwt_audience(self) -> str:
        if self.audience:
            return self.audience
        host = urlsplit(self.token_url)
        if host.hostname in ("login.salesforce.com", "test.salesforce.com"):
            return f"https://{host.hostname}"
        if host.hostname and host.hostname.endswith(".salesforce.com"):
            return "https://test.salesforce.com" if ".sandbox." in host.hostname else "https://login.salesforce.com"
        return f"{host.scheme}://{host.netloc}"  # a login host that is not Salesforce's own (a proxy, the sandbox)


def fetch_token(creds: SalesforceCredentials, session: requests.Session) -> tuple[str, str, str | None]:
    """OAuth 2.0 token request by the credentials' flow (refresh token, JWT bearer, password, client credentials):
    (token, instance_url, the API user's id: the last part of the identity URL `id`, when the answer has one).
    A session that expires is renewed by the same request (_MeteredSession.login)."""
    auth = None
    if creds.flow == "refresh_token":
        data = {"grant_type": "refresh_token", "refresh_token": creds.refresh_token or "",
                "client_id": creds.client_id, **({"client_secret": creds.client_secret} if creds.client_secret
                                                 else {})}
    elif creds.flow == "jwt":
        claims = {"iss": creds.client_id, "sub": creds.username, "aud": creds.jwt_audience(),
                  "exp": int(time.time()) + 180}
        data = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": jwt.encode(claims, creds.private_key, algorithm="RS256")}
    elif creds.flow == "password":
        data = {"grant_type": "password", "client_id": creds.client_id, "client_secret": creds.client_secret,
                "username": creds.username, "password": creds.password or ""}
    else:
        data = {"grant_type": "client_credentials"}
        auth = (creds.client_id, creds.client_secret or "")
    body = _token_request(session, creds.token_url, data, auth)
    identity = str(body.get("id") or "")
    return body["access_token"], body["instance_url"], identity.rstrip("/").rsplit("/", 1)[-1] or None


def _token_request(session: requests.Session, token_url: str, data: dict, auth=None) -> dict:
    """One POST to the org's token URL; its JSON answer, or SalesforceAuthenticationFailed with Salesforce's
    error and description (never the request's secrets)."""
    resp = session.post(token_url, data=data, auth=auth, timeout=30)
    try:
        body = resp.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    if resp.status_code != 200 or "access_token" not in body:
        raise SalesforceAuthenticationFailed(body.get("error", resp.status_code),
                                             body.get("error_description", "token request failed"))
    return body


def exchange_code(token_url: str, client_id: str, client_secret: str, code: str, redirect_uri: str,
                  ca_file: str | None = None) -> str:
    """The web-server flow's last step: the authorization code for a refresh token."""
    body = _token_request(http_session(ca_file), token_url, {
        "grant_type": "authorization_code", "code": code, "client_id": client_id, "client_secret": client_secret,
        "redirect_uri": redirect_uri})
    if not body.get("refresh_token"):
        raise SalesforceAuthenticationFailed("no_refresh_token", "the answer has no refresh token: give the "
                                             "connected app the refresh_token scope")
    return body["refresh_token"]


def connect(creds: SalesforceCredentials) -> Salesforce:
    """A simple-salesforce client on a direct session obtained from the token URL."""
    session = http_session(creds.ca_file)
    token, instance_url, _ = fetch_token(creds, session)
    return Salesforce(instance_url=instance_url, session_id=token, session=session, version=creds.api_version)


def sandbox_credentials(sandbox: dict) -> SalesforceCredentials:
    """Credentials for the sandbox described by a sandbox.json document."""
    sf = sandbox["salesforce"]
    return SalesforceCredentials(token_url=sf["token_url"], client_id=sf["client_id"],
                                 client_secret=sf["client_secret"], ca_file=sf["ca_file"],
                                 api_version=sf["api_version"])


def endpoint_label(method: str, url: str) -> str:
    """Usage label of a call: the resource path with ids and locators collapsed, e.g. "GET sobjects/Lead/{id}"."""
    path = _API_PREFIX.sub("", urlsplit(url).path)
    return f"{method} {'/'.join('{id}' if _ID_LIKE.match(p) else p for p in path.split('/') if p) or 'versions'}"


def _soap_fault(resp: requests.Response) -> tuple[str, str] | None:
    """(code, message) of a SOAP fault response, None for any other body."""
    if "xml" not in resp.headers.get("Content-Type", ""):
        return None
    try:
        fault = ElementTree.fromstring(resp.content).find(".//env:Fault", _SOAP)
    except ElementTree.ParseError:
        return None
    if fault is None:
        return None
    code = (fault.findtext("faultcode") or "").rpartition(":")[2]
    return code or "SOAP_FAULT", fault.findtext("faultstring") or ""


def _failure(resp: requests.Response) -> Failure:
    """A failed response in the retry rules' terms (Salesforce error bodies are JSON lists)."""
    fault = _soap_fault(resp)
    if fault:  # a SOAP session fault is what a REST 401 is: log in again and resend
        status = 401 if fault[0] == "INVALID_SESSION_ID" else resp.status_code
        return Failure("salesforce", status, fault[0], fault[1])
    try:
        body = resp.json()
    except ValueError:
        body = None
    first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else body
    first = first if isinstance(first, dict) else {}
    retry_after = resp.headers.get("Retry-After")
    return Failure("salesforce", resp.status_code, first.get("errorCode") or first.get("error"),
                   str(first.get("message") or first.get("error_description") or resp.text[:300]),
                   float(retry_after) if retry_after and retry_after.isdigit() else None)


class _MeteredSession(requests.Session):
    """The session under simple-salesforce: every call (logins and Bulk 2.0 polls too) is counted, budgeted,
    retried by the shared rules and re-authenticated, because a direct session never refreshes itself."""

    def __init__(self, creds: SalesforceCredentials, meter: Meter, policy: RetryPolicy, timeout: float,
                 pool_size: int):
        super().__init__()
        if creds.ca_file:
            self.trust_env = False  # see http_session
            self.verify = creds.ca_file
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size)
        for scheme in ("https://", "http://"):
            self.mount(scheme, adapter)
        self.creds, self.meter, self.policy, self.timeout = creds, meter, policy, timeout
        self.token: str | None = None
        self.instance_url: str | None = None
        self.user_id: str | None = None  # the API user: the owner Salesforce gives a record created without one
        self.client: Salesforce | None = None
        self._auth_lock = threading.Lock()

    def login(self) -> None:
        self.token, self.instance_url, self.user_id = fetch_token(self.creds, self)
        if self.client is not None:
            self.client.session_id = self.token
            self.client.headers["Authorization"] = f"Bearer {self.token}"

    def _relogin(self, stale: str | None) -> None:
        with self._auth_lock:
            if self.token == stale:  # another worker thread may have logged in again already
                self.login()

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        label = endpoint_label(method.upper(), url)
        # Only a plain create could be applied twice by a resend; this connector writes by id or external id.
        # A merge (SOAP) resent after a lost answer would fail on records already merged: not resent either.
        idempotent = not (method.upper() == "POST" and ("/sobjects" in url or "/services/Soap/" in url))
        soap = kwargs.pop("data") if isinstance(kwargs.get("data"), str) and SESSION_MARK in kwargs["data"] else None
        attempt, relogged = 0, False
        while True:
            token = self.token
            if soap is not None:
                kwargs["data"] = soap.replace(SESSION_MARK, escape(token or "")).encode()
            headers = kwargs.get("headers")
            if token and headers and str(headers.get("Authorization", "")).startswith("Bearer "):
                # Handlers built before a re-login (SFType, bulk2) still carry the old token: send the current one.
                kwargs["headers"] = {**headers, "Authorization": f"Bearer {token}"}
            self.meter.call(label)
            error: Exception | None = None
            try:
                resp = super().request(method, url, *args, **kwargs)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                error = exc
                failure = Failure("salesforce", None, type(exc).__name__, str(exc),
                                  sent=not isinstance(exc, requests.exceptions.ConnectTimeout))
            else:
                usage = _LIMIT_INFO.search(resp.headers.get("Sforce-Limit-Info", ""))
                if usage:
                    self.meter.observe(int(usage.group(1)), int(usage.group(2)))
                if resp.status_code < 400:
                    return resp
                failure = _failure(resp)
            decision = self.policy.decide(failure, attempt, idempotent, relogged)
            if decision.action == "relogin":
                self._relogin(token)
                relogged = True
                continue
            if decision.action == "fail":
                if error is not None:
                    raise error
                return resp  # simple-salesforce raises its own exception for the status
            self.policy.sleep(decision.delay)
            attempt += 1


class SalesforceConnector:
    """Salesforce for the sync: describe, incremental extract (REST keyset pages or Bulk API 2.0), collection writes."""

    system = "salesforce"

    def __init__(self, creds: SalesforceCredentials, usage: ApiUsage | None = None, max_workers: int = 4,
                 budget: int | None = None, retries: int = 5, timeout: float = 60.0, *, backoff_base: float = 0.5,
                 per_day: int | None = None, reserve: float = 0.0,
                 bulk_threshold: int = 10_000, bulk_wait: float = 1.0, bulk_write_threshold: int = 2_000,
                 bulk_rate: float = 5_000.0):
        self.creds = creds
        self.usage = usage or ApiUsage()
        self.max_workers = max_workers
        self.bulk_threshold, self.bulk_wait = bulk_threshold, bulk_wait
        # A Bulk API 2.0 ingest job costs about eight calls (create, upload, close, polls, three result files)
        # for any number of records: cheaper than collections of 200 from a few thousand records on.
        self.bulk_write_threshold = bulk_write_threshold
        self.bulk_rate = bulk_rate  # records a second an ingest job is expected to process: its first poll waits
        self.meter = Meter("salesforce", self.usage, budget, per_day, reserve)
        self.policy = RetryPolicy(retries, backoff_base)
        self._session = _MeteredSession(creds, self.meter, self.policy, timeout, pool_size=max(10, max_workers))
        self._sf: Salesforce | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SalesforceConnector(token_url={self.creds.token_url!r}, client_id=***, calls={self.meter.calls})"

    @property
    def sf(self) -> Salesforce:
        """The simple-salesforce client on the metered session, logged in on first use."""
        with self._lock:
            if self._sf is None:
                self._session.login()
                self._sf = Salesforce(instance_url=self._session.instance_url, session_id=self._session.token,
                                      session=self._session, version=self.creds.api_version)
                self._session.client = self._sf
            return self._sf

    # ---- reads ------------------------------------------------------------------------------------------------
    def describe(self, sobject: str) -> dict:
        """The sObject describe JSON (fields with types, picklists, writability)."""
        try:
            return self.sf.restful(f"sobjects/{_ident(sobject)}/describe")
        except SalesforceResourceNotFound as exc:
            raise UnknownObject("Salesforce", sobject, "its describe is 404 NOT_FOUND") from exc

    def field_metadata(self, obj: str) -> list[dict]:
        """What a write check and a create need from the sObject describe (active picklist values only)."""
        described = self.describe(obj)
        fields, prefix = described["fields"], described.get("keyPrefix")
        return [{"field": f["name"], "key_prefix": prefix, "label": f.get("label"), "type": f["type"],
                 "length": int(f.get("length") or 0),
                 "createable": bool(f.get("createable")), "updateable": bool(f.get("updateable")),
                 "restricted": bool(f.get("restrictedPicklist")), "reference_to": list(f.get("referenceTo") or []),
                 "required": bool(f.get("createable")) and not f.get("nillable", True)
                 and not f.get("defaultedOnCreate") and f["type"] != "boolean",
                 "options": [p["value"] for p in f.get("picklistValues") or [] if p.get("active", True)],
                 # The value the org gives a new record that leaves the field empty: a picklist's default, and
                 # for OwnerId the API user (Salesforce makes the creating user the owner).
                 "default_value": self._session.user_id if f["name"] == "OwnerId" else next(
                     (p["value"] for p in f.get("picklistValues") or []
                      if p.get("defaultValue") and p.get("active", True)), None)}
                for f in fields]

    def ensure_cross_id(self, obj: str, field_name: str) -> None:
        """Salesforce fields are made by the org's admin, not by the sync: a missing external id field shows up as
        INVALID_FIELD in validation, which names it."""

    def read_changes(self, obj: str, fields: list[str], since: datetime | None, overlap: timedelta,
                     settled_until: datetime | None = None, expected: int = 0) -> Iterator[pd.DataFrame]:
        """Staging frames of `extract` (deletes included: queryAll)."""
        for page in self.extract(obj, fields, since=since, overlap=overlap, settled_until=settled_until,
                                 expected=expected):
            yield _staging_frame(page, fields)

    def read_created(self, obj: str, fields: list[str], start: datetime | None,
                     end: datetime | None) -> Iterator[pd.DataFrame]:
        """Staging frames of the live records created in [start, end) (a backfill partition; None: unbounded):
        REST keyset pages of 2,000, or one Bulk API 2.0 query when the window holds more than bulk_threshold."""
        for page in self.extract(obj, fields, since=None, overlap=timedelta(0), include_deleted=False,
                                 created=(start, end)):
            yield _staging_frame(page, fields)

    def read_deleted(self, obj: str, fields: list[str]) -> Iterator[pd.DataFrame]:
        """Nothing apart: the change read returns deleted records (IsDeleted) already."""
        return iter(())

    def read_associations(self, obj: str, columns: list[str], ids: list[str] | None) -> Iterator[pd.DataFrame]:
        """Nothing apart: Salesforce associations are lookup fields and child records, read as records."""
        return iter(())

    def apply(self, ops: pd.DataFrame) -> list[WriteResult]:
        """Creates (upserts on key_field, or plain creates), updates and deletes, by sObject collections of 200."""
        return apply_ops(ops, "Salesforce", self.upsert, self.create, {
            "update": lambda g: self.update(g.obj, g.with_ids_and_payloads),
            "delete": lambda g: self.delete(g.with_ids),
            "merge": lambda g: self.merge(g.obj, g.with_ids_and_payloads)})

    def merge(self, sobject: str, records: list[tuple[str, str, dict]]) -> list[WriteResult]:
        """Merge: [(key, master id, {"merge_id": id merged into it})], by SOAP merge() calls of 200 requests
        (the REST API has no merge). The losers are deleted with MasterRecordId; their children move."""
        return [r for batch in chunks(records, SOAP_MERGE_SIZE) for r in self._merge(_ident(sobject), batch)]

    def _merge(self, sobject: str, batch: list[tuple[str, str, dict]]) -> list[WriteResult]:
        self.sf  # noqa: B018 - logs in on first use
        requests_xml = "".join(
            f"<request><masterRecord><s:type>{escape(sobject)}</s:type><s:Id>{escape(str(master))}</s:Id>"
            f"</masterRecord><recordToMergeIds>{escape(str(p['merge_id']))}</recordToMergeIds></request>"
            for _, master, p in batch)
        envelope = (f'<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:env="{_SOAP["env"]}" '
                    f'xmlns="{_SOAP["p"]}" xmlns:s="urn:sobject.partner.soap.sforce.com"><env:Header><SessionHeader>'
                    f'<sessionId>{SESSION_MARK}</sessionId></SessionHeader></env:Header><env:Body><merge>'
                    f'{requests_xml}</merge></env:Body></env:Envelope>')
        resp = self._session.post(f"{self._session.instance_url}/services/Soap/u/{self.creds.api_version}",
                                  data=envelope, headers={"Content-Type": "text/xml; charset=UTF-8",
                                                          "SOAPAction": "merge"})
        fault = _soap_fault(resp) if resp.status_code >= 400 else None
        if resp.status_code >= 400:
            code, message = fault or (f"HTTP_{resp.status_code}", resp.text[:300])
            if code == "INVALID_SESSION_ID":
                raise SalesforceExpiredSession(resp.url, resp.status_code, "merge", message)
            return [WriteResult.failed(key, code, message, response={"status": resp.status_code, "fault": message})
                    for key, _, _ in batch]
        found = ElementTree.fromstring(resp.content).findall(".//p:mergeResponse/p:result", _SOAP)
        results = []
        for (key, master, _), result in zip(batch, found + [None] * (len(batch) - len(found)), strict=False):
            if result is None:
                results.append(WriteResult.failed(key, "NO_RESULT", "Salesforce returned no result for this merge"))
                continue
            answer = {"id": result.findtext("p:id", None, _SOAP),
                      "success": result.findtext("p:success", "", _SOAP) == "true",
                      "mergedRecordIds": [e.text for e in result.findall("p:mergedRecordIds", _SOAP)],
                      "updatedRelatedIds": [e.text for e in result.findall("p:updatedRelatedIds", _SOAP)],
                      "errors": [{"statusCode": e.findtext("p:statusCode", "", _SOAP),
                                  "message": e.findtext("p:message", "", _SOAP),
                                  "fields": [f.text for f in e.findall("p:fields", _SOAP)]}
                                 for e in result.findall("p:errors", _SOAP)]}
            if answer["success"]:
                results.append(WriteResult.ok(key, answer["id"] or str(master), response=answer))
            else:
                code, message, fields = _error_parts(answer["errors"])
                results.append(WriteResult.failed(key, code, message, fields, response=answer))
        return results

    def query(self, soql: str) -> list[dict]:
        """All rows of a small SOQL query as flat dicts (relationship fields as "Owner.Name")."""
        return [_flatten(r) for r in self.sf.query_all(soql)["records"]]

    def extract(self, sobject: str, fields: list[str], since: datetime | None, overlap: timedelta,
                include_deleted: bool = True, page_size: int = 2000,
                settled_until: datetime | None = None,
                created: tuple[datetime | None, datetime | None] | None = None,
                expected: int = 0) -> Iterator[list[dict]]:
        """Pages of flat records (Id, fields, SystemModstamp, LastModifiedDate, IsDeleted) changed since `since`
        (less the overlap; with settled_until, the windows of `read_windows`).

        REST pages come in (SystemModstamp, Id) order. An initial sync (since None) of more than
        bulk_threshold rows runs as a Bulk API 2.0 query instead, whose pages are in no particular order; so does
        the rest of an incremental read whose first page came full and which a count finds past bulk_threshold,
        at no extra call for the usual small read. An incremental read `expected` to return more than
        bulk_threshold (reading back a backfill's writes) is one Bulk query from the start: no page, no count.
        """
        sobject = _ident(sobject)
        select = _select_list(fields)
        where = _created_filter(created)
        if since is None and self._count(sobject, include_deleted, where) > self.bulk_threshold:
            yield from self._bulk_pages(sobject, select, include_deleted, where)
            return
        # Keyset paging, not nextRecordsUrl: every page is a fresh query continuing after (SystemModstamp, Id),
        # so no server cursor can expire (locators die after ~15 idle minutes and an org keeps only a few per
        # user), a crash resumes from the last row written, and records sharing a stamp are never skipped.
        limit = max(1, min(page_size, QUERY_PAGE_MAX))
        windows = read_windows(since, overlap, settled_until) if since is not None else []
        if windows and expected > self.bulk_threshold:
            yield from self._bulk_pages(sobject, select, include_deleted, _where(windows, None, where))
            return
        last: tuple[str, str] | None = None
        while True:
            records = self._page(sobject, select, windows, last, limit, include_deleted, where)
            if records:
                yield records
            if len(records) < limit:
                return
            first_page = last is None
            last = (records[-1]["SystemModstamp"], records[-1]["Id"])
            if first_page and windows:
                rest = _where(windows, last, where)
                if self._count(sobject, include_deleted, rest) > self.bulk_threshold:
                    yield from self._bulk_pages(sobject, select, include_deleted, rest)
                    return

    def _page(self, sobject: str, select: list[str], windows: list[Window], last: tuple[str, str] | None,
              limit: int, include_deleted: bool, created: str = "") -> list[dict]:
        soql = format_soql("SELECT {:literal} FROM {:literal}", ", ".join(select), sobject)
        where = _where(windows, last, created)
        if where:
            soql += " WHERE " + where
        soql += format_soql(" ORDER BY SystemModstamp, Id LIMIT {}", limit)
        result = self.sf.query(soql, include_deleted=include_deleted)
        rows = result["records"]
        while not result.get("done", True):  # the org may serve a LIMIT in smaller batches
            result = self.sf.query_more(result["nextRecordsUrl"], identifier_is_url=True)
            rows += result["records"]
        return [_pick(_flatten(r), select) for r in rows]

    def _count(self, sobject: str, include_deleted: bool, where: str = "") -> int:
        soql = format_soql("SELECT COUNT() FROM {:literal}", sobject) + (f" WHERE {where}" if where else "")
        result = self.sf.query(soql, include_deleted=include_deleted)
        return int(result["totalSize"])

    def _bulk_pages(self, sobject: str, select: list[str], include_deleted: bool,
                    where: str = "") -> Iterator[list[dict]]:
        types = {f["name"].lower(): f["type"] for f in self.describe(sobject)["fields"]}
        handler = getattr(self.sf.bulk2, sobject)
        run = handler.query_all if include_deleted else handler.query
        soql = format_soql("SELECT {:literal} FROM {:literal}", ", ".join(select), sobject)
        soql += f" WHERE {where}" if where else ""
        for text in run(soql, max_records=BULK_PAGE, wait=self.bulk_wait):
            rows = list(csv.DictReader(io.StringIO(text)))
            if rows:
                yield [_typed_row(row, select, types) for row in rows]

    # ---- writes -----------------------------------------------------------------------------------------------
    def upsert(self, sobject: str, external_id_field: str, records: list[tuple[str, dict]]) -> list[WriteResult]:
        """Create or update by external id: [(key, fields incl. the external id value)], 200 per collection call,
        or one Bulk API 2.0 upsert job from bulk_write_threshold records on."""
        sobject, ext = _ident(sobject), _ident(external_id_field)
        if len(records) >= self.bulk_write_threshold:
            return self._bulk_write("upsert", sobject, ext, [(key, fields) for key, fields in records])
        items = [(key, {"attributes": {"type": sobject}, **fields}) for key, fields in records]
        return self._write("upsert", f"composite/sobjects/{sobject}/{ext}", items)

    def create(self, sobject: str, records: list[tuple[str, dict]]) -> list[WriteResult]:
        """Plain create (objects with no external id, e.g. OpportunityContactRole), 200 per collection call, or
        one Bulk API 2.0 insert job from bulk_write_threshold records on. A job's results carry no key of ours,
        only the values sent: records that send the same values cannot be told apart there, so such a set goes
        by collections, whose results come back in order."""
        sobject = _ident(sobject)
        if len(records) >= self.bulk_write_threshold:
            rows = [_bulk_cells(fields) for _, fields in records]
            columns = sorted({c for row in rows for c in row})
            if len({_row_key(row, columns) for row in rows}) == len(rows):
                return self._bulk_write("insert", sobject, None, records)
        items = [(key, {"attributes": {"type": sobject}, **fields}) for key, fields in records]
        return self._write("create", "composite/sobjects", items)

    def update(self, sobject: str, records: list[tuple[str, str, dict]]) -> list[WriteResult]:
        """Update by id: [(key, id, fields)], 200 per collection call, or one Bulk API 2.0 update job from
        bulk_write_threshold records on."""
        sobject = _ident(sobject)
        if len(records) >= self.bulk_write_threshold:
            return self._bulk_write("update", sobject, "Id", [
                (key, {**{k: v for k, v in fields.items() if k.lower() != "id"}, "Id": rid})
                for key, rid, fields in records])
        items = [(key, {"attributes": {"type": sobject}, **{k: v for k, v in fields.items() if k.lower() != "id"},
                        "id": record_id}) for key, record_id, fields in records]
        return self._write("update", "composite/sobjects", items)

    def _bulk_write(self, kind: str, sobject: str, key_field: str | None,
                    records: list[tuple[str, dict]]) -> list[WriteResult]:
        """One Bulk API 2.0 ingest job; every record's outcome from the job's successful, failed and unprocessed
        results, matched back by its key field (the external id of an upsert, the Id of an update; an insert's
        by every value it sent). A cell left empty changes nothing in Bulk 2.0, so a field cleared is sent as
        #N/A. The first poll waits about as long as the job should take (bulk_rate records a second), so a job
        is polled about once whatever its size."""
        rows = [_bulk_cells(fields) for _, fields in records]
        columns = sorted({c for row in rows for c in row})
        handler = getattr(self.sf.bulk2, sobject)
        wait = max(self.bulk_wait, len(rows) / self.bulk_rate)
        if kind == "upsert":
            jobs = handler.upsert(records=rows, external_id_field=key_field, wait=wait)
        else:
            jobs = (handler.insert if kind == "insert" else handler.update)(records=rows, wait=wait)

        def ident(row: dict) -> str:
            return str(row.get(key_field, "")).lower() if key_field else _row_key(row, columns)

        by_value = {ident(row): key for (key, _), row in zip(records, rows, strict=True)}
        answers: dict[str, WriteResult] = {}
        for job in jobs:
            job_id = job["job_id"]
            for row in csv.DictReader(io.StringIO(handler.get_successful_records(job_id))):
                key = by_value.get(ident(row))
                if key is not None:
                    answers[key] = WriteResult.ok(key, row["sf__Id"], row.get("sf__Created") == "true",
                                                  response={"job": job_id, **row})
            # The job's counts say whether there is anything to fetch: no call for empty results.
            failed = handler.get_failed_records(job_id) if job.get("numberRecordsFailed", 1) else ""
            unprocessed = (handler.get_unprocessed_records(job_id) if job.get("numberRecordsProcessed", 0)
                           < job.get("numberRecordsTotal", len(records) + 1) else "")
            for row in csv.DictReader(io.StringIO(failed)):
                key = by_value.get(ident(row))
                if key is not None:
                    code, message, fields = _bulk_error(row.get("sf__Error", ""))
                    answers[key] = WriteResult.failed(key, code, message, fields, response={"job": job_id, **row})
            for row in csv.DictReader(io.StringIO(unprocessed)):
                key = by_value.get(ident(row))
                if key is not None:
                    answers[key] = WriteResult.failed(key, "UNPROCESSED", f"Bulk API 2.0 job {job_id} did not "
                                                      "process this record (the job was aborted or failed)",
                                                      response={"job": job_id, **row})
        return [answers.get(key) or WriteResult.failed(key, "NO_RESULT", "the Bulk API 2.0 job returned no result "
                                                       "for this record") for key, _ in records]

    def delete(self, records: list[tuple[str, str]]) -> list[WriteResult]:
        """Delete by id: [(key, id)], 200 per collection call; an already deleted record counts as success."""
        return self._write("delete", "composite/sobjects", list(records))

    def _write(self, kind: str, path: str, items: list[tuple[str, object]]) -> list[WriteResult]:
        return run_batches(chunks(items, COLLECTION_SIZE), lambda batch: self._send(kind, path, batch),
                           self.max_workers)

    def _send(self, kind: str, path: str, batch) -> list[WriteResult]:
        """One collection call; records that failed on a row lock are sent again (alone) after a backoff."""
        results: list[WriteResult | None] = [None] * len(batch)
        pending, attempt = list(range(len(batch))), 0
        while pending:
            items = [batch[i] for i in pending]
            try:
                if kind == "delete":
                    body = self.sf.restful(path, params={"ids": ",".join(str(rid) for _, rid in items),
                                                         "allOrNone": "false"}, method="DELETE")
                else:
                    body = self.sf.restful(path, method="POST" if kind == "create" else "PATCH",
                                           json={"allOrNone": False, "records": [p for _, p in items]})
            except (SalesforceAuthenticationFailed, SalesforceExpiredSession):
                raise  # credentials are wrong for every record alike: stop the run
            except SalesforceError as exc:  # the whole request was refused (a 4xx the retry rules do not resend)
                code, message, fields = _error_parts(exc.content)
                for i in pending:
                    results[i] = WriteResult.failed(batch[i][0], code, message, fields,
                                                    response={"status": exc.status, "body": exc.content})
                break
            retry: list[int] = []
            for i, outcome in zip(pending, body or [], strict=False):
                key = batch[i][0]
                if outcome.get("success"):
                    created = {"upsert": outcome.get("created"), "update": False, "create": True}.get(kind)
                    target = outcome.get("id") or (str(batch[i][1]) if kind == "delete" else None)
                    results[i] = WriteResult.ok(key, target, created, response=outcome)
                    continue
                code, message, fields = _error_parts(outcome.get("errors"))
                if kind == "delete" and code == "ENTITY_IS_DELETED":
                    # already in the recycle bin: goal met
                    results[i] = WriteResult.ok(key, str(batch[i][1]), response=outcome)
                    continue
                results[i] = WriteResult.failed(key, code, message, fields, response=outcome)
                decision = self.policy.decide(Failure("salesforce", 200, code, message), attempt)
                if decision.action == "retry":
                    retry.append(i)
            if retry:
                self.policy.sleep(self.policy.backoff(attempt))
                attempt += 1
            pending = retry
        return [r or WriteResult.failed(batch[i][0], "NO_RESULT", "Salesforce returned no result for this record")
                for i, r in enumerate(results)]


# ---- helpers --------------------------------------------------------------------------------------------------
def _staging_frame(records: list[dict], fields: list[str]) -> pd.DataFrame:
    """Flat records as staging wants them: id, cursor_at (SystemModstamp), modified_at, deleted, fields."""
    frame = pd.DataFrame.from_records(records)
    for column in [*_STAGING, *fields]:
        if column not in frame.columns:
            frame[column] = None
    frame = frame[[*_STAGING, *[f for f in fields if f not in _STAGING]]].rename(columns=_STAGING)
    frame["cursor_at"] = pd.to_datetime(frame["cursor_at"], utc=True, format="ISO8601")
    frame["modified_at"] = pd.to_datetime(frame["modified_at"], utc=True, format="ISO8601")
    return frame


def _bulk_cells(fields: dict) -> dict[str, str]:
    """A record as Bulk API 2.0 CSV cells: a cleared field is #N/A (an empty cell changes nothing)."""
    return {k: "#N/A" if v is None else ("true" if v is True else "false" if v is False else str(v))
            for k, v in fields.items()}


def _row_key(row: dict, columns: list[str]) -> str:
    """A row's cells in the uploaded columns (a missing one empty, as the CSV has it): how an insert's result
    rows, which echo the cells sent, are matched back to their records."""
    return "\x1f".join(str(row.get(c) or "") for c in columns)


def _bulk_error(text: str) -> tuple[str, str, list[str]]:
    """(code, message, fields) of a Bulk API 2.0 sf__Error cell: "CODE:message:Field1,Field2 --"."""
    body = text.removesuffix("--").strip()
    code, _, rest = body.partition(":")
    message, _, fields = rest.rpartition(":")
    if not message:  # no fields part
        message, fields = rest, ""
    names = [f.strip() for f in fields.split(",") if f.strip() and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", f.strip())]
    return code.strip() or "UNKNOWN_ERROR", message.strip(), names


def _where(windows: list[Window], last: tuple[str, str] | None, created: str = "") -> str:
    """The SOQL condition of a keyset read: the stamp windows, after the last (SystemModstamp, Id) read."""
    where = [created] if created else []
    if windows:
        ranges = [format_soql("SystemModstamp >= {:literal}", _soql_datetime(lo))
                  + (format_soql(" AND SystemModstamp <= {:literal}", _soql_datetime(hi)) if hi else "")
                  for lo, hi in windows]
        where.append("(" + " OR ".join(f"({r})" for r in ranges) + ")")
    if last is not None:
        where.append(format_soql("(SystemModstamp > {stamp:literal} OR (SystemModstamp = {stamp:literal} "
                                 "AND Id > {id}))", stamp=_soql_datetime(last[0]), id=last[1]))
    return " AND ".join(where)


def _created_filter(created: tuple[datetime | None, datetime | None] | None) -> str:
    """SOQL condition for records created in [start, end) ("" when unbounded)."""
    start, end = created or (None, None)
    parts = ([format_soql("CreatedDate >= {:literal}", _soql_datetime(start))] if start else []) + (
        [format_soql("CreatedDate < {:literal}", _soql_datetime(end))] if end else [])
    return " AND ".join(parts)


def _ident(name: str) -> str:
    """An API name checked to be an identifier (it is put into SOQL and URLs unquoted)."""
    if not _IDENT.match(name or ""):
        raise ValueError(f"not a Salesforce API name: {name!r}")
    return name


def _select_list(fields: list[str]) -> list[str]:
    names, seen = [], set()
    for name in ["Id", *fields, *_SYSTEM_FIELDS]:
        if _ident(name).lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return names


def _soql_datetime(value: datetime | str) -> str:
    # Not format_soql's datetime: it drops the milliseconds a keyset on the sandbox's stamps needs (real
    # Salesforce stamps have none, so they get the plain form).
    if isinstance(value, str):
        value = datetime.fromisoformat(re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", value.replace("Z", "+00:00")))
    value = as_utc(value)
    millis = value.microsecond // 1000
    return value.strftime("%Y-%m-%dT%H:%M:%S") + (f".{millis:03d}" if millis else "") + "Z"


def _flatten(record: dict, prefix: str = "") -> dict:
    out: dict = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict) and "attributes" in value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _pick(flat: dict, select: list[str]) -> dict:
    # Responses use describe's casing whatever the SOQL said; answer with the caller's names.
    lookup = {k.lower(): v for k, v in flat.items()}
    return {name: lookup.get(name.lower()) for name in select}


_CSV_TYPES = {"boolean": lambda v: v.lower() == "true", "int": lambda v: int(float(v)), "double": float,
              "currency": float, "percent": float, "datetime": lambda v: v[:-1] + "+0000" if v.endswith("Z") else v}


def _typed_row(row: dict, select: list[str], types: dict[str, str]) -> dict:
    """A Bulk 2.0 CSV row typed like a REST record: null for empty, bools, numbers, "+0000" datetimes."""
    lookup = {k.lower(): v for k, v in row.items()}
    raw = {name: lookup.get(name.lower()) for name in select}
    return {name: None if value in (None, "") else _CSV_TYPES.get(types.get(name.lower(), ""), str)(value)
            for name, value in raw.items()}


def _error_parts(errors) -> tuple[str, str, list[str]]:
    """(code, message, fields) of a Salesforce error list (statusCode in collections, errorCode elsewhere)."""
    if isinstance(errors, dict):
        errors = [errors]
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return "UNKNOWN_ERROR", str(errors), []
    dicts = [e for e in errors if isinstance(e, dict)]
    code = str(dicts[0].get("statusCode") or dicts[0].get("errorCode") or "UNKNOWN_ERROR")
    message = "; ".join(str(e.get("message", "")) for e in dicts)
    fields = [str(f) for e in dicts for f in (e.get("fields") or [])]
    return code, message, list(dict.fromkeys(fields))
