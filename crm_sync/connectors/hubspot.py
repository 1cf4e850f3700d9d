"""HubSpot over hubspot-api-client: rate-limited, metered and retried calls, incremental extract, batch writes."""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import urllib3
from hubspot import HubSpot

# a column "associations.companies" holds "12;34"; "associations.companies.parent" those of one label
from crm_sync.config.models import ASSOCIATION_PREFIX, LABELLED_ASSOCIATIONS, association_parts
from crm_sync.connectors.common import (
    ApiUsage,
    Failure,
    Meter,
    MissingInCrm,
    RateLimiter,
    RetryPolicy,
    UnknownObject,
    WriteResult,
    apply_ops,
    chunks,
    epoch_ms,
    http_session,
    parallel_map,
    read_windows,
    run_batches,
    unwrap,
)

BATCH_SIZE = 100  # inputs per object batch call
LIST_PAGE = 100  # records per list page
SEARCH_PAGE = 200  # records per search page
ASSOC_READ_BATCH = 1_000  # ids per v4 association batch read (HubSpot's limit since February 2025)
MEMBERSHIP_PAGE = 250  # list memberships a page (the largest the API serves)
MEMBERSHIP_WRITE_BATCH = 10_000  # records per list membership change (the API takes up to 100,000)
ASSOC_WRITE_BATCH = 100  # the reference gives no limit for association writes: stay at the batch size all share
# A contact's primary company is also a read-only property that HubSpot keeps (and a move bumps the contact's
# lastmodifieddate): reading it costs no association call, and a change of company alone is seen as a change.
# {(from type, to type): property}. The Primary label's type id is the engine's (mapping.PRIMARY_ASSOCIATIONS).
PRIMARY_PROPERTIES = {("contacts", "companies"): "associatedcompanyid"}
_GROUPS = {"contacts": "contactinformation", "companies": "companyinformation", "deals": "dealinformation",
           "tickets": "ticketinformation"}


def modified_property(object_type: str) -> str:
    """The property HubSpot stamps on every change of a record of this type (contacts keep the legacy name)."""
    return "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"


class HubSpotApiError(Exception):
    """A HubSpot call that failed for good, with HubSpot's error body (category, message, errors, context)."""

    def __init__(self, status: int | None, body, label: str):
        self.status = status
        self.body: dict = body if isinstance(body, dict) else {}
        self.category = self.body.get("category") or self.body.get("policyName") or (
            "NO_RESPONSE" if status is None else "ERROR")  # no response: a create may or may not have landed
        self.message = str(self.body.get("message") or body or "no response")[:1000]
        super().__init__(f"{label} failed ({status} {self.category}): {self.message}")


def oauth_token(session, token_url: str, data: dict, timeout: float = 30.0) -> dict:
    """One POST to HubSpot's /oauth/v1/token; its JSON answer, or HubSpotApiError with HubSpot's status and
    message (never the request's secrets)."""
    resp = session.post(token_url, data=data, timeout=timeout)
    try:
        body = resp.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    if resp.status_code != 200 or "access_token" not in body:
        raise HubSpotApiError(resp.status_code, f"HubSpot OAuth {data.get('grant_type')} failed: "
                              f"{body.get('status', resp.status_code)}: {body.get('message', '')}",
                              "POST oauth/v1/token")
    return body


def exchange_code(base_url: str, client_id: str, client_secret: str, code: str, redirect_uri: str,
                  ca_file: str | None = None) -> str:
    """The install's last step: the authorization code for a refresh token."""
    body = oauth_token(http_session(ca_file), f"{base_url.rstrip('/')}/oauth/v1/token", {
        "grant_type": "authorization_code", "client_id": client_id, "client_secret": client_secret,
        "redirect_uri": redirect_uri, "code": code})
    return body["refresh_token"]


class OAuthTokens:
    """A HubSpot OAuth app's access tokens, from its refresh token: one is fetched before the first call and
    again shortly before it expires (HubSpot's last 30 minutes), or at once when a call finds it expired. The
    refresh token itself never changes. Secrets are held in memory only, never logged (see __repr__)."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, refresh_token: str,
                 ca_file: str | None = None, timeout: float = 30.0):
        self.token_url, self.timeout = token_url, timeout
        self._client = (client_id, client_secret)
        self._refresh_token = refresh_token
        self._session = http_session(ca_file)
        self._lock = threading.Lock()
        self._access: str | None = None
        self._expires_at = 0.0
        self.refreshes = 0  # access tokens fetched

    def __repr__(self) -> str:
        return f"OAuthTokens(token_url={self.token_url!r}, refreshes={self.refreshes})"

    def current(self) -> str:
        """A live access token (refreshed when it has less than a tenth of its life, at most a minute, left)."""
        with self._lock:
            if self._access is None or time.monotonic() >= self._expires_at:
                self._fetch()
            return self._access

    def refresh(self, stale: str) -> str:
        """A new access token after a call found `stale` expired (another thread may have renewed it)."""
        with self._lock:
            if self._access == stale:
                self._fetch()
            return self._access

    def _fetch(self) -> None:
        client_id, client_secret = self._client
        body = oauth_token(self._session, self.token_url, {
            "grant_type": "refresh_token", "client_id": client_id, "client_secret": client_secret,
            "refresh_token": self._refresh_token}, self.timeout)
        lifetime = float(body.get("expires_in") or 1800)
        self._access = body["access_token"]
        self._expires_at = time.monotonic() + lifetime - min(60.0, lifetime / 10)
        self.refreshes += 1


class HubSpotConnector:
    """HubSpot for the sync: properties, owners, extract (list or search), associations, batch writes."""

    system = "hubspot"

    def __init__(self, base_url: str, access_token: str | None, usage: ApiUsage | None = None, max_workers: int = 4,
                 budget: int | None = None, ten_second_limit: int = 190, search_per_second: int = 5,
                 retries: int = 5, timeout: float = 60.0, *, backoff_base: float = 0.5, ca_file: str | None = None,
                 per_day: int | None = None, reserve: float = 0.0, tokens: OAuthTokens | None = None):
        """access_token: a private app's; or tokens: an OAuth app's (renewed as they expire)."""
        self.base_url = base_url.rstrip("/")  # the client appends paths that start with "/"
        self.tokens = tokens
        access_token = tokens.current() if tokens is not None else access_token
        self._token = access_token
        self.usage = usage or ApiUsage()
        self.max_workers, self.timeout = max_workers, timeout
        self.meter = Meter("hubspot", self.usage, budget, per_day, reserve)
        self.policy = RetryPolicy(retries, backoff_base)
        self.limiter = RateLimiter(ten_second_limit, 10.0, margin=0.25)
        self.search_limiter = RateLimiter(search_per_second, 1.0, margin=0.1)
        # retry=False: the client's urllib3 retries would resend behind our counter, limiter and rules.
        extra = {"ssl_ca_cert": ca_file} if ca_file else {}
        client = HubSpot(access_token=access_token, host=self.base_url, retry=False, **extra)
        # Each attribute access builds a new ApiClient (and connection pool): build them once.
        self._basic, self._batch = client.crm.objects.basic_api, client.crm.objects.batch_api
        # Merges are served by each object's own API (there is no generic objects merge in the client).
        self._merge_apis = {t: getattr(client.crm, t).basic_api for t in ("contacts", "companies", "deals", "tickets")}
        self._search = client.crm.objects.search_api
        self._assoc = client.crm.associations.v4.batch_api
        self._props, self._groups = client.crm.properties.core_api, client.crm.properties.groups_api
        self._owners = client.crm.owners.owners_api
        self._lists, self._members = client.crm.lists.lists_api, client.crm.lists.memberships_api
        self._apis = [self._basic, self._batch, *self._merge_apis.values(), self._search, self._assoc, self._props,
                      self._groups, self._owners, self._lists, self._members]

    def __repr__(self) -> str:
        return f"HubSpotConnector(base_url={self.base_url!r}, access_token=***, calls={self.meter.calls})"

    def _call(self, label: str, fn, *args, search: bool = False, idempotent: bool = True, **kwargs) -> dict:
        """The JSON body ({} when none) of one API call, after the limiter, the meter and the shared retry rules."""
        limiter = self.search_limiter if search else self.limiter
        attempt, renewed = 0, False
        while True:
            if self.tokens is not None:
                self._use(self.tokens.current())
            limiter.acquire()
            self.meter.call(label)
            try:
                # Raw JSON instead of the generated models: they cost more CPU than the call at scale and
                # drop error details (context, objectWriteTraceId) the write results need.
                resp = fn(*args, _preload_content=False, _request_timeout=self.timeout, **kwargs)
                self._observe(resp.headers)
                try:
                    data = resp.data
                finally:
                    resp.release_conn()
                return json.loads(data) if data else {}
            except Exception as exc:  # noqa: BLE001 - each API package has its own ApiException: go by .status
                self._observe(getattr(exc, "headers", None) or {})
                failure = _failure(exc)
                if failure.status == 401 and self.tokens is not None and not renewed:
                    # The access token expired between the check and the call (or was revoked): renew, resend.
                    renewed = True
                    self._use(self.tokens.refresh(self._token))
                    continue
                if failure.status == 429 and failure.code != "DAILY":
                    self._slow_down(limiter, exc)
                decision = self.policy.decide(failure, attempt, idempotent)
                if decision.action != "retry":
                    raise HubSpotApiError(failure.status, _body(exc) or failure.message, label) from exc
            self.policy.sleep(decision.delay)
            attempt += 1

    def _use(self, token: str) -> None:
        """Send `token` from now on (every API of the client reads its configuration's token per request)."""
        if token != self._token:
            self._token = token
            for api in self._apis:
                api.api_client.configuration.access_token = token

    def _observe(self, headers) -> None:
        """The portal's daily allocation from HubSpot's headers, for the reserve the budget keeps."""
        daily, left = headers.get("X-HubSpot-RateLimit-Daily"), headers.get("X-HubSpot-RateLimit-Daily-Remaining")
        if str(daily or "").isdigit() and str(left or "").lstrip("-").isdigit():
            self.meter.observe(int(daily) - int(left), int(daily))

    def _slow_down(self, limiter: RateLimiter, exc: Exception) -> None:
        # The portal allows fewer calls than we were told (other apps share it, or a lower tier): pace to what
        # the 429 says (X-HubSpot-RateLimit-Max) or, without it, to fewer than we just sent in the window.
        maximum = str((getattr(exc, "headers", None) or {}).get("X-HubSpot-RateLimit-Max") or "")
        limiter.lower(int(maximum) if maximum.isdigit() and limiter is self.limiter else limiter.in_window() - 1)

    # ---- the sync's connector interface (connectors.common.Connector) -----------------------------------------
    def field_metadata(self, obj: str) -> list[dict]:
        """What a write check needs from the property definitions (enumerations are always restricted)."""
        rows = []
        for p in self.properties(obj):
            read_only = bool((p.get("modificationMetadata") or {}).get("readOnlyValue")) or bool(p.get("calculated"))
            options = [o["value"] for o in p.get("options") or [] if not o.get("hidden")]
            # Owner-like enumerations list their options elsewhere (externalOptions): not checkable here.
            restricted = p.get("type") == "enumeration" and bool(options) and not p.get("externalOptions")
            kind = "email" if p.get("fieldType") == "email" or p["name"] == "email" else p.get("type", "string")
            rows.append({"field": p["name"], "label": p.get("label"), "type": kind, "length": 0,
                         "createable": not read_only, "updateable": not read_only, "restricted": restricted,
                         "options": options, "default_value": None})
        return rows

    def ensure_cross_id(self, obj: str, field_name: str) -> None:
        """The unique text property that holds the Salesforce id (the upsert key of creates), made if missing."""
        self.ensure_property(obj, field_name, "Salesforce Id", unique=True)

    def read_changes(self, obj: str, fields: list[str], since: datetime | None, overlap: timedelta,
                     settled_until: datetime | None = None, expected: int = 0) -> Iterator[pd.DataFrame]:
        """Staging frames of changed records. Association columns: a contact's primary company comes as a
        property with every read; the others come with a full read (listed with the records) and otherwise from
        read_associations, since search returns none. Owners are listed whole.

        expected is not used: search is both the fewest calls (200 a page against list's 100) and, one cursor
        at a time, as fast as list (5 searches a second against the 8 or so list calls a second that one cursor
        makes at 100 ms of latency)."""
        if obj == "owners":
            yield _owners_frame(self.owners())
            return
        columns = _Columns(obj, fields)
        pages = self.extract(obj, columns.wanted, since=since, overlap=overlap, settled_until=settled_until,
                             associations=columns.targets if since is None else ())
        for page in pages:
            yield columns.frame(page)

    def read_created(self, obj: str, fields: list[str], start: datetime | None,
                     end: datetime | None) -> Iterator[pd.DataFrame]:
        """Staging frames of the live records created in [start, end) (a backfill partition), by search on
        createdate (200 a page). Association columns other than primary-company properties are not in them:
        read them with read_associations for the ids read."""
        columns = _Columns(obj, fields)
        for page in self.extract_created(obj, columns.wanted, start, end):
            yield columns.frame(page)

    def read_deleted(self, obj: str, fields: list[str]) -> Iterator[pd.DataFrame]:
        """Archived records (archived=True, stamped with archivedAt), listed whole."""
        if obj == "owners":
            return
        columns = _Columns(obj, fields)
        for page in self.extract_archived(obj, columns.wanted):
            yield columns.frame(page)

    def read_associations(self, obj: str, columns: list[str], ids: list[str] | None) -> Iterator[pd.DataFrame]:
        """Association columns of the given records (v4 batch read), or of every record (listed, 100 a call)."""
        cols = _Columns(obj, columns)
        if not cols.associations:
            return
        if ids is None:
            for page in self.list_associations(obj, cols.targets):
                yield pd.DataFrame({"id": [r["id"] for r in page]} | {
                    column: [_association_value(r["associations"].get(key)) for r in page]
                    for column, key in cols.keys.items()})
            return
        if not ids:
            return
        found = {to: self.typed_associations_of(obj, to, ids) for to in cols.targets}
        yield pd.DataFrame({"id": list(ids)} | {
            column: [_association_value(_of_type(found[to].get(i), type_id)) for i in ids]
            for column, (to, type_id) in cols.v4.items()})

    def apply(self, ops: pd.DataFrame) -> list[WriteResult]:
        """Creates (upserts on key_field), updates, deletes (archive) by batches of 100; associations by v4 batches."""
        return apply_ops(ops, "HubSpot", self.upsert, self.create, {
            "update": lambda g: self.update(g.obj, g.with_ids_and_payloads),
            "delete": lambda g: self.archive(g.obj, g.with_ids),
            "merge": lambda g: self.merge(g.obj, g.with_ids_and_payloads),
            "associate": lambda g: self._apply_associations("associate", g.with_payloads),
            "dissociate": lambda g: self._apply_associations("dissociate", g.with_payloads),
            "list_add": lambda g: self._apply_memberships("add", g.with_ids_and_payloads),
            "list_remove": lambda g: self._apply_memberships("remove", g.with_ids_and_payloads)})

    # ---- lists ----------------------------------------------------------------------------------------------
    def list_state(self, ref: str) -> dict:
        """A contact list (listId, name, processingType, listVersion, updatedAt, size), by list id or by name."""
        try:
            if ref.isdigit():
                data = self._call("GET /crm/v3/lists/{listId}", self._lists.get_by_id, ref)
            else:
                data = self._call("GET /crm/v3/lists/object-type-id/{objectTypeId}/name/{listName}",
                                  self._lists.get_by_name, ref, "0-1")
        except HubSpotApiError as exc:
            if exc.status == 404:
                raise MissingInCrm(f"HubSpot has no contact list {ref!r} ({exc.message}): a lists entry names a "
                                   "list by its name or its list id") from exc
            raise
        return data["list"]

    def list_members(self, list_id: str) -> list[str]:
        """Every member's record id, 250 a call (the memberships page's largest)."""
        members, after = [], None
        while True:
            data = self._call("GET /crm/v3/lists/{listId}/memberships", self._members.get_page, list_id,
                              limit=MEMBERSHIP_PAGE, **_after(after))
            members += [str(r["recordId"]) for r in data.get("results") or []]
            after = _next_after(data)
            if not after:
                return members

    def _apply_memberships(self, change: str, items: list[tuple[str, str, dict]]) -> list[WriteResult]:
        """Add records to lists or remove them, one call per list and chunk; a record HubSpot does not find
        (deleted, merged away) fails alone."""
        by_list: dict[str, list[tuple[str, str]]] = {}
        for key, list_id, payload in items:
            by_list.setdefault(str(list_id), []).append((key, str(payload["record_id"])))
        call = self._members.add if change == "add" else self._members.remove
        results = []
        for list_id, members in by_list.items():
            for chunk in chunks(members, MEMBERSHIP_WRITE_BATCH):
                try:
                    data = self._call(f"PUT /crm/v3/lists/{{listId}}/memberships/{change}", call, list_id,
                                      [record for _, record in chunk])
                except HubSpotApiError as exc:
                    results += [WriteResult.failed(key, exc.category, exc.message, ["list"], response=exc.body)
                                for key, _ in chunk]
                    continue
                missing = {str(m) for m in data.get("recordIdsMissing") or []}
                results += [WriteResult.failed(key, "OBJECT_NOT_FOUND", f"HubSpot has no contact {record} to "
                                               f"{change} (deleted or merged)", ["list"], response=data)
                            if record in missing else WriteResult.ok(key, list_id, response={"record": record})
                            for key, record in chunk]
        return results

    def _apply_associations(self, action: str, items: list[tuple[str, dict]]) -> list[WriteResult]:
        groups: dict[tuple, list[tuple[str, dict]]] = {}
        for key, p in items:
            groups.setdefault((p["from_type"], p["to_type"], p.get("type_id")), []).append((key, p))
        results = []
        for (from_type, to_type, type_id), members in groups.items():
            pairs = [(str(p["from_id"]), str(p["to_id"])) for _, p in members]
            if action == "associate":
                refused = self.associate(from_type, to_type, pairs, type_id=type_id)
            else:
                refused = self.dissociate(from_type, to_type, pairs)
            by_pair = {(a, b): (code, message) for a, b, code, message in refused}
            unnamed = next(((c, m) for a, b, c, m in refused if not a), None)
            for (key, _), pair in zip(members, pairs, strict=True):
                failure = by_pair.get(pair) or by_pair.get((pair[0], "")) or unnamed
                results.append(WriteResult.failed(key, failure[0], failure[1], [ASSOCIATION_PREFIX + to_type],
                                                  response={"from": pair[0], "to": pair[1], "error": failure[1]})
                               if failure else WriteResult.ok(key, pair[0], response={"from": pair[0], "to": pair[1]}))
        return results

    def properties(self, object_type: str) -> list[dict]:
        """Property definitions (name, type, fieldType, options, modificationMetadata, hasUniqueValue...)."""
        try:
            return self._call(f"GET /crm/v3/properties/{object_type}", self._props.get_all, object_type)["results"]
        except HubSpotApiError as exc:
            if exc.status == 404 or (exc.status == 400 and "infer object type" in exc.message):
                raise UnknownObject("HubSpot", object_type, f"{exc.status}: {exc.message}") from exc
            raise

    def ensure_property(self, object_type: str, name: str, label: str, unique: bool = True) -> None:
        """Create the custom text property (e.g. a unique "salesforce_id") unless it exists."""
        try:
            prop = self._call(f"GET /crm/v3/properties/{object_type}/{{name}}", self._props.get_by_name,
                              object_type, name)
            if unique and not prop.get("hasUniqueValue"):
                raise ValueError(f"{object_type}.{name} exists but is not unique; HubSpot cannot make it unique")
            return
        except HubSpotApiError as exc:
            if exc.status != 404:
                raise
        group = _GROUPS.get(object_type) or self._call(f"GET /crm/v3/properties/{object_type}/groups",
                                                       self._groups.get_all, object_type)["results"][0]["name"]
        body = {"name": name, "label": label, "type": "string", "fieldType": "text", "groupName": group,
                "hasUniqueValue": unique}
        try:
            self._call(f"POST /crm/v3/properties/{object_type}", self._props.create, object_type, body)
        except HubSpotApiError as exc:
            if exc.status != 409:  # 409: another worker created it in the meantime
                raise

    def owners(self) -> list[dict]:
        """All owners (id, email, firstName, lastName, userId...), every page."""
        owners, after = [], None
        while True:
            data = self._call("GET /crm/v3/owners/", self._owners.get_page, limit=500, **_after(after))
            owners += data.get("results") or []
            after = _next_after(data)
            if not after:
                return owners

    # ---- reads ------------------------------------------------------------------------------------------------
    def extract(self, object_type: str, properties: list[str], since: datetime | None, overlap: timedelta,
                page_size: int = 200, settled_until: datetime | None = None,
                associations: tuple[str, ...] = ()) -> Iterator[list[dict]]:
        """Pages of flat records (id, properties, createdAt, updatedAt, archived=False) changed since `since`
        (less the overlap; with settled_until, the windows of `read_windows`, one filter group each).

        A full read (since None) lists the records with their `associations` ({to type: [ids]} per record) in
        the same calls; search cannot return associations (use read_associations for what it returns).
        """
        if since is None:
            # Initial sync by the list endpoint: pages of 100 cost twice the calls of search's 200, but search
            # is held to 5 calls/s (1,000 records/s) while list draws on the 190-per-10-s budget (1,900/s), has
            # no 10,000 cap or index lag, and pages by id so edits during the read never shift it. At 100
            # records a call a million records take 10,000 of a portal's 625,000+ daily calls.
            yield from self._list(object_type, properties, archived=False, associations=associations)
            return
        windows = [(epoch_ms(lo), epoch_ms(hi) if hi else None) for lo, hi in read_windows(since, overlap,
                                                                                          settled_until)]
        yield from self._walk(object_type, properties, modified_property(object_type), windows, page_size)

    def extract_created(self, object_type: str, properties: list[str], start: datetime | None,
                        end: datetime | None, page_size: int = 200) -> Iterator[list[dict]]:
        """Pages of flat records created in [start, end) (None: unbounded), by search on createdate."""
        lo = epoch_ms(start) if start else 0
        yield from self._walk(object_type, properties, "createdate", [(lo, epoch_ms(end) - 1 if end else None)],
                              page_size)

    def _walk(self, object_type: str, properties: list[str], stamp: str, windows: list[tuple[int, int | None]],
              page_size: int) -> Iterator[list[dict]]:
        """Search pages over windows of the `stamp` datetime property (inclusive bounds, epoch ms), by id.

        Every page is a fresh search for the ids after the last one returned (a keyset), not an `after` offset:
        offsets shift when a record read earlier is modified meanwhile (the record behind it is skipped), and one
        query can never page past 10,000 results. Keyed by id rather than by stamp, a page never returns records
        again: a batch write stamps a hundred records with one instant, and a stamp keyset re-reads the records
        of the instant it stopped in, up to half of every page. A record modified during the walk (stamped after
        the read began) is read by the next cycle, whose cursor is this read's start.

        A walk whose first page comes full goes on from both ends at once, up by id from that page and down from
        the highest id, each bounded by the other's frontier, until they meet: two searches in flight keep
        search's per-second limit busy where one cursor, waiting out each round trip, cannot. A read that fits
        in its first page costs that one search."""
        wanted = list(dict.fromkeys([*properties, modified_property(object_type), stamp]))
        limit = max(1, min(page_size, SEARCH_PAGE))

        def search(above: int | None, below: int | None, descending: bool) -> list[dict]:
            keyset = ([_filter("hs_object_id", "GT", above)] if above is not None else []) + (
                [_filter("hs_object_id", "LT", below)] if below is not None else [])
            groups = [[_filter(stamp, "GTE", lo), *([_filter(stamp, "LTE", hi)] if hi is not None else []), *keyset]
                      for lo, hi in windows]
            return self._search_page(object_type, groups, "hs_object_id", wanted, limit, descending)

        first, total = search(None, None, False)
        if first:
            yield [_flat(r, properties) for r in first]
        # The first search's total ends the walk only where no record can enter the windows meanwhile: every
        # window closed a minute or more ago (a backfill's createdate windows). In an open window a record edited
        # now enters it, and counting it would end the walk before an older record it has not reached.
        closed = all(hi is not None and hi < epoch_ms(datetime.now(UTC)) - 60_000 for _, hi in windows)
        if len(first) == limit and total > limit:
            for page in _from_both_ends(search, int(first[-1]["id"]), limit, total - limit, closed):
                yield [_flat(r, properties) for r in page]

    def _search_page(self, object_type: str, groups: list[list[dict]], sort: str, wanted: list[str], limit: int,
                     descending: bool = False):
        body = {"filterGroups": [{"filters": filters} for filters in groups],
                "sorts": [{"propertyName": sort, "direction": "DESCENDING" if descending else "ASCENDING"}],
                "properties": wanted, "limit": limit}
        data = self._call(f"POST /crm/v3/objects/{object_type}/search", self._search.do_search, object_type, body,
                          search=True)
        return data.get("results") or [], int(data.get("total") or 0)

    def extract_archived(self, object_type: str, properties: list[str]) -> Iterator[list[dict]]:
        """Pages of archived (deleted) records as flat dicts with archived=True and archivedAt."""
        yield from self._list(object_type, properties, archived=True)

    def list_associations(self, object_type: str, to_types: tuple[str, ...]) -> Iterator[list[dict]]:
        """Every live record's associations, listed 100 records a call: pages of {"id", "associations"}."""
        for page in self._list(object_type, ["hs_object_id"], archived=False, associations=to_types):
            yield [{"id": r["id"], "associations": r["associations"]} for r in page]

    def _list(self, object_type: str, properties: list[str], archived: bool,
              associations: tuple[str, ...] = ()) -> Iterator[list[dict]]:
        after = None
        while True:
            page = {"limit": LIST_PAGE, "archived": archived, "properties": properties} | _after(after)
            if associations:
                page["associations"] = list(associations)
            data = self._call(f"GET /crm/v3/objects/{object_type}", self._basic.get_page, object_type, **page)
            results = data.get("results") or []
            if results:
                flat = [_flat(r, properties, archived) for r in results]
                if associations:
                    self._attach_associations(object_type, associations, results, flat)
                yield flat
            after = _next_after(data)
            if not after:
                return

    def _attach_associations(self, object_type: str, to_types: tuple[str, ...], results: list[dict],
                             flat: list[dict]) -> None:
        """{to type: [ids]} on each flat record from a list page; a record whose list of one type has more pages
        than the page holds has that type read whole by the v4 batch read."""
        labels = {name: type_id for (f, t, _), (type_id, name) in LABELLED_ASSOCIATIONS.items() if f == object_type}
        for record, out in zip(results, flat, strict=True):
            out["associations"] = {}
            for to_type in to_types:
                block = (record.get("associations") or {}).get(to_type) or {}
                members = block.get("results") or []
                out["associations"][to_type] = list(dict.fromkeys(str(a["id"]) for a in members))
                for name in labels:  # the members of one label, under "<to type>:<type name>"
                    out["associations"][f"{to_type}:{name}"] = list(dict.fromkeys(
                        str(a["id"]) for a in members if a.get("type") == name))
        for to_type in to_types:
            more = [str(r["id"]) for r in results
                    if _next_after((r.get("associations") or {}).get(to_type) or {})]
            if more:
                found = self.typed_associations_of(object_type, to_type, more)
                for out in flat:
                    if out["id"] in found:
                        out["associations"][to_type] = _of_type(found[out["id"]], None)
                        for name, type_id in labels.items():
                            out["associations"][f"{to_type}:{name}"] = _of_type(found[out["id"]], type_id)

    def read_associations_of(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[str]]:
        """Associated record ids per id, of any type (v4 batch read, 1,000 ids per call, every page of each id)."""
        return {i: _of_type(found, None) for i, found in self.typed_associations_of(from_type, to_type, ids).items()}

    def typed_associations_of(self, from_type: str, to_type: str,
                              ids: list[str]) -> dict[str, list[tuple[str, set[int]]]]:
        """(associated record id, its association type ids) per id, by v4 batch read."""
        label = f"POST /crm/v4/associations/{from_type}/{to_type}/batch/read"

        def read(batch: list[dict]) -> dict[str, list[tuple[str, set[int]]]]:
            found: dict[str, list[tuple[str, set[int]]]] = {}
            while batch:
                data = self._call(label, self._assoc.get_page, from_type, to_type, {"inputs": batch})
                batch = []
                for result in data.get("results") or []:
                    from_id = str(result["from"]["id"])
                    found.setdefault(from_id, []).extend(
                        (str(t["toObjectId"]), {int(a["typeId"]) for a in t.get("associationTypes") or []
                                                if a.get("typeId") is not None})
                        for t in result.get("to") or [])
                    if after := _next_after(result):
                        batch.append({"id": from_id, "after": after})
            return found

        wanted = list(dict.fromkeys(str(i) for i in ids))
        out: dict[str, list[tuple[str, set[int]]]] = {i: [] for i in wanted}
        for found in unwrap(parallel_map(read, chunks([{"id": i} for i in wanted], ASSOC_READ_BATCH),
                                         self.max_workers)):
            out.update(found)
        return out

    def associate(self, from_type: str, to_type: str, pairs: list[tuple[str, str]],
                  type_id: int | None = None) -> list[tuple[str, str, str, str]]:
        """Associations by v4 batch: default (unlabeled), or of one HUBSPOT_DEFINED type such as a primary company
        (which HubSpot moves from the record's previous primary); returns the (from, to, code, message) refused."""
        inputs = [{"from": {"id": str(a)}, "to": {"id": str(b)}} for a, b in pairs]
        if type_id is None:
            return self._pairs("associate/default", self._assoc.create_default, from_type, to_type, inputs)
        kind = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]
        return self._pairs("create", self._assoc.create, from_type, to_type,
                           [{**item, "types": kind} for item in inputs])

    def dissociate(self, from_type: str, to_type: str, pairs: list[tuple[str, str]]) -> None:
        """Remove every association between each pair (v4 batch archive); returns the (from, to, code, message)
        refused."""
        grouped: dict[str, list[dict]] = {}
        for a, b in pairs:
            grouped.setdefault(str(a), []).append({"id": str(b)})
        inputs = [{"from": {"id": a}, "to": targets} for a, targets in grouped.items()]
        return self._pairs("archive", self._assoc.archive, from_type, to_type, inputs)

    def _pairs(self, op: str, fn, from_type: str, to_type: str,
               inputs: list[dict]) -> list[tuple[str, str, str, str]]:
        label = f"POST /crm/v4/associations/{from_type}/{to_type}/batch/{op}"

        def send(batch: list[dict]) -> list[tuple[str, str, str, str]]:
            try:
                data = self._call(label, fn, from_type, to_type, {"inputs": batch})
            except HubSpotApiError as exc:
                if exc.status in (401, 403):
                    raise  # a token or scope problem is the same for every pair: stop the run
                return [("", "", exc.category, exc.message)]
            refused = []
            for error in data.get("errors") or []:
                context, message = error.get("context") or {}, str(error.get("message", ""))
                code = str(error.get("subCategory") or error.get("category") or "ASSOCIATION_REFUSED")
                froms = {str(i) for i in context.get("fromObjectId") or []}
                tos = {str(i) for i in context.get("toObjectId") or []}
                pairs = [(item["from"]["id"], str((item["to"] if isinstance(item["to"], dict) else {}).get("id", "")))
                         for item in batch]
                named = [(a, b, code, message) for a, b in pairs if a in froms and (not tos or b in tos)]
                refused += named or [("", "", code, message)]  # an error naming no pair is still reported
            return refused

        outcomes = unwrap(parallel_map(send, chunks(inputs, ASSOC_WRITE_BATCH), self.max_workers))
        return [pair for refused in outcomes for pair in refused]

    # ---- writes -----------------------------------------------------------------------------------------------
    def upsert(self, object_type: str, id_property: str, records: list[tuple[str, dict]]) -> list[WriteResult]:
        """Create or update by a unique property: [(key, properties incl. the id_property value)], 100 per call."""
        items = [(key, {"idProperty": id_property, "id": str(props[id_property]),
                        "properties": {k: v for k, v in props.items() if k != id_property}}
                  if props.get(id_property) not in (None, "") else f"{id_property} has no value")
                 for key, props in records]
        return self._write("upsert", object_type, items)

    def create(self, object_type: str, records: list[tuple[str, dict]]) -> list[WriteResult]:
        """Create: [(key, properties)], 100 per call. Not resent after an ambiguous failure (it could duplicate)."""
        return self._write("create", object_type, [(key, {"properties": props}) for key, props in records])

    def update(self, object_type: str, records: list[tuple[str, str, dict]]) -> list[WriteResult]:
        """Update by id: [(key, id, properties)], 100 per call."""
        return self._write("update", object_type,
                           [(key, {"id": str(rid), "properties": props}) for key, rid, props in records])

    def archive(self, object_type: str, records: list[tuple[str, str]]) -> list[WriteResult]:
        """Archive (delete) by id: [(key, id)], 100 per call."""
        return self._write("archive", object_type, [(key, {"id": str(rid)}) for key, rid in records])

    def merge(self, object_type: str, records: list[tuple[str, str, dict]]) -> list[WriteResult]:
        """Merge: [(key, primary id, {"merge_id": id to merge into it})], one call each (there is no batch merge).
        HubSpot may give the merged record a new id; both old ids keep resolving to it."""
        api = self._merge_apis.get(object_type)
        if api is None:
            return [WriteResult.failed(key, "UNSUPPORTED_ACTION", f"HubSpot merges contacts, companies, deals and "
                                       f"tickets, not {object_type}") for key, _, _ in records]
        results = []
        for key, primary, payload in records:
            label = f"POST /crm/v3/objects/{object_type}/merge"
            body = {"primaryObjectId": str(primary), "objectIdToMerge": str(payload["merge_id"])}
            try:
                data = self._call(label, api.merge, body, idempotent=False)
            except HubSpotApiError as exc:
                if exc.status in (401, 403):
                    raise
                results.append(_failed(key, exc.body or {"category": exc.category, "message": exc.message}))
                continue
            results.append(WriteResult.ok(key, str(data.get("id") or primary), response=data))
        return results

    def _write(self, op: str, object_type: str, items: list[tuple[str, dict | str]]) -> list[WriteResult]:
        # An input already known to be bad (a str says why) is not sent: HubSpot could refuse the batch for it.
        sendable = [(i, key, body) for i, (key, body) in enumerate(items) if not isinstance(body, str)]
        sent = iter(run_batches(chunks(sendable, BATCH_SIZE), lambda b: self._send(op, object_type, b),
                                self.max_workers))
        return [WriteResult.failed(key, "INVALID_INPUT", body) if isinstance(body, str) else next(sent)
                for key, body in items]

    def _send(self, op: str, object_type: str, batch: list) -> list[WriteResult]:
        """One batch call; a batch refused as a whole for one bad record is split so the others still land."""
        label = f"POST /crm/v3/objects/{object_type}/batch/{op}"
        inputs = [body if op == "archive" else {**body, "objectWriteTraceId": str(n)}
                  for n, (_, _, body) in enumerate(batch)]
        try:
            data = self._call(label, getattr(self._batch, op), object_type, {"inputs": inputs},
                              idempotent=op != "create")
        except HubSpotApiError as exc:
            if exc.status in (401, 403):
                raise  # a token or scope problem is the same for every record: stop the run
            if len(batch) == 1 or not _record_level(exc):
                return [_failed(key, exc.body or {"category": exc.category, "message": exc.message})
                        for _, key, _ in batch]
            named = _positions(exc.body, batch)
            if named:  # the error says which input it was: fail that one, resend the rest once
                rest = iter(self._send(op, object_type, [item for n, item in enumerate(batch) if n not in named]))
                return [_failed(key, exc.body) if n in named else next(rest) for n, (_, key, _) in enumerate(batch)]
            mid = len(batch) // 2
            return self._send(op, object_type, batch[:mid]) + self._send(op, object_type, batch[mid:])
        return _match(op, batch, data)


# ---- helpers --------------------------------------------------------------------------------------------------
def _failure(exc: Exception) -> Failure:
    """An exception from a call in the retry rules' terms; re-raises anything that is not an HTTP failure."""
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return Failure("hubspot", None, type(exc).__name__, str(exc),
                       sent=not isinstance(exc, urllib3.exceptions.ConnectTimeoutError))
    status = getattr(exc, "status", None)
    if status is None or not type(exc).__module__.startswith("hubspot."):
        raise exc
    if status == 0:  # the client's wrapper for TLS and transport errors
        return Failure("hubspot", None, "ApiException", str(getattr(exc, "reason", "")))
    body = _body(exc)
    retry_after = str((getattr(exc, "headers", None) or {}).get("Retry-After") or "")
    return Failure("hubspot", status, body.get("policyName") or body.get("category"), str(body.get("message", "")),
                   float(retry_after) if retry_after.replace(".", "", 1).isdigit() else None)


def _body(exc: Exception) -> dict:
    try:
        body = json.loads(getattr(exc, "body", None) or "null")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _record_level(exc: HubSpotApiError) -> bool:
    """Whether a whole-batch refusal is about some record's data (so splitting the batch helps)."""
    context = exc.body.get("context") or {}
    return exc.status in (404, 409) or bool(exc.body.get("errors")) or "ids" in context \
        or "objectWriteTraceId" in context


def _positions(error: dict, batch: list) -> set[int]:
    """Batch positions an error names by objectWriteTraceId, id or input index ("inputs[3]")."""
    context = error.get("context") or {}
    traces = {str(t) for t in context.get("objectWriteTraceId") or []} | set(
        re.findall(r"inputs\[(\d+)\]", str(error.get("message", ""))))
    ids = {str(i).lower() for i in context.get("ids") or []}
    return {n for n, (_, _, body) in enumerate(batch)
            if str(n) in traces or str(body.get("id", "")).lower() in ids}


# HubSpot refuses a contact whose email another contact has with a 409 that names no property: it is the email.
_EMAIL_TAKEN = re.compile(r"^Contact already exists", re.I)


def _failed(key: str, error: dict) -> WriteResult:
    details = [e for e in error.get("errors") or [] if isinstance(e, dict)]
    code = next((e.get("code") for e in details if e.get("code")), None) or error.get("category") or "ERROR"
    fields = [str(f) for e in [error, *details] for f in ((e.get("context") or {}).get("propertyName") or [])]
    if not fields and error.get("category") == "CONFLICT" and _EMAIL_TAKEN.match(str(error.get("message", ""))):
        fields = ["email"]
    return WriteResult.failed(key, str(code), str(error.get("message") or ""), list(dict.fromkeys(fields)),
                              response=error)


def _match(op: str, batch: list, data: dict) -> list[WriteResult]:
    """Results and 207 errors mapped back to the inputs (HubSpot does not promise input order)."""
    if op == "archive":  # 204: every input archived (archiving what is gone is not an error)
        return [WriteResult.ok(key, body["id"], response={"status": 204, "id": body["id"]}) for _, key, body in batch]
    id_property = batch[0][2].get("idProperty")
    by_value = {str(body.get("id", "")).lower(): n for n, (_, _, body) in enumerate(batch)}
    out: dict[int, WriteResult] = {}
    for record in data.get("results") or []:
        trace = str(record.get("objectWriteTraceId", ""))
        value = (record.get("properties") or {}).get(id_property) if id_property else record.get("id")
        n = int(trace) if trace.isdigit() else by_value.get(str(value).lower())
        if n is not None and n < len(batch):
            created = {"create": True, "update": False}.get(op, record.get("new"))
            out[n] = WriteResult.ok(batch[n][1], str(record["id"]), created, response=record)
    errors = data.get("errors") or []
    for error in errors:
        out.update({n: _failed(batch[n][1], error) for n in _positions(error, batch) - set(out)})
    loose = [e for e in errors if not _positions(e, batch)]
    fallback = loose[0] if loose else {"category": "NO_RESULT", "message": "HubSpot returned no result for it"}
    return [out.get(n) or _failed(key, fallback) for n, (_, key, _) in enumerate(batch)]


def _from_both_ends(search, above: int, limit: int, left: int, closed: bool) -> Iterator[list[dict]]:
    """Pages of the ids above `above`, read by two threads: one up from it, one down from the top, each search
    bounded by the other's frontier. A page keeps only ids the other side has not passed; a short page, or one
    that crossed the other's frontier, means every id between the frontiers is read, and both stop.

    Once the `left` records the first search counted are read, a closed window (none can enter it) is done.
    An open one may have gained a record in the gap between the frontiers since (one edited meanwhile), so
    one side looks at the gap once more and the other stops: the walk never ends on a count alone there.

    The pages come out on the caller's thread, which is where they are staged; an error in either thread is
    raised here."""
    lock, out, done = threading.Condition(), queue.Queue(), object()
    state = {"above": above, "below": None, "finished": False, "left": left, "looker": None,
             "searching": {False: False, True: False}}

    def walk(descending: bool) -> None:
        try:
            while True:
                with lock:
                    # What is left fits in the other side's search in flight: wait for it rather than read it twice
                    while (state["searching"][not descending] and state["left"] <= limit
                           and not state["finished"]):
                        lock.wait()
                    if state["finished"] or state["looker"] not in (None, descending):
                        return
                    bounds = (state["above"], state["below"])
                    state["searching"][descending] = True
                page, _ = search(*bounds, descending)
                with lock:
                    state["searching"][descending] = False
                    lock.notify_all()
                    if state["finished"]:  # the other side read what is left: this page was read there too
                        return
                    keep = [r for r in page if (int(r["id"]) > state["above"] if descending
                                                else state["below"] is None or int(r["id"]) < state["below"])]
                    if keep:
                        out.put(keep)
                    state["left"] -= len(keep)
                    if len(page) < limit or len(keep) < len(page) or (closed and state["left"] <= 0):
                        state["finished"] = True
                        continue
                    state["below" if descending else "above"] = int(page[-1]["id"])
                    if state["left"] <= 0 and state["looker"] is None:
                        state["looker"] = descending  # this side looks at the gap; the other one stops
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, raised there
            out.put(exc)
        finally:
            with lock:
                state["searching"][descending] = False
                lock.notify_all()
            out.put(done)

    threads = [threading.Thread(target=walk, args=(d,), daemon=True, name=f"hubspot-search-{'down' if d else 'up'}")
               for d in (False, True)]
    for t in threads:
        t.start()
    try:
        running = len(threads)
        while running:
            item = out.get()
            if item is done:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        with lock:
            state["finished"] = True
            lock.notify_all()
        for t in threads:
            t.join()


def _flat(record: dict, properties: list[str], archived: bool = False) -> dict:
    props = record.get("properties") or {}
    out = {"id": str(record["id"]), **{n: None if props.get(n) is None else str(props[n]) for n in properties},
           "createdAt": record.get("createdAt"), "updatedAt": record.get("updatedAt"), "archived": archived}
    return {**out, "archivedAt": record.get("archivedAt")} if archived else out


def _next_after(data: dict) -> str | None:
    return ((data.get("paging") or {}).get("next") or {}).get("after")


def _filter(name: str, operator: str, value: int) -> dict:
    return {"propertyName": name, "operator": operator, "value": str(value)}


def _after(cursor: str | None) -> dict:
    return {"after": cursor} if cursor else {}


def _association_value(ids: list[str] | None) -> str | None:
    """An association as staged: the sorted set "id;id" (a single-valued association reads its first member)."""
    return ";".join(sorted(set(ids), key=int)) if ids else None


def _of_type(found: list[tuple[str, set[int]]] | None, type_id: int | None) -> list[str]:
    """The associated ids of a typed read, of one association type (None: of any)."""
    return list(dict.fromkeys(i for i, types in found or [] if type_id is None or type_id in types))


class _Columns:
    """How a list of staged columns is read: properties, associations kept as properties (a contact's primary
    company), and the other associations (listed with the records, or read apart)."""

    def __init__(self, obj: str, fields: list[str]):
        self.modified = modified_property(obj)
        associations = [f for f in fields if f.startswith(ASSOCIATION_PREFIX)]
        self.by_property = {c: PRIMARY_PROPERTIES[key] for c in associations
                            if (key := (obj, c.removeprefix(ASSOCIATION_PREFIX))) in PRIMARY_PROPERTIES}
        self.associations = [c for c in associations if c not in self.by_property]
        parts = {c: association_parts(c) for c in self.associations}
        self.targets = tuple(dict.fromkeys(t for t, _ in parts.values()))  # the types to list associations of
        labelled = {c: LABELLED_ASSOCIATIONS[(obj, t, label)] for c, (t, label) in parts.items() if label}
        # where each column's value is: the list's key ("<to>" or "<to>:<type name>"), the v4 type id filter
        self.keys = {c: f"{t}:{labelled[c][1]}" if c in labelled else t for c, (t, _) in parts.items()}
        self.v4 = {c: (t, labelled[c][0] if c in labelled else None) for c, (t, _) in parts.items()}
        self.properties = [f for f in fields if not f.startswith(ASSOCIATION_PREFIX)]
        # The last-modified property is each version's modification time (staged as modified_at).
        self.wanted = list(dict.fromkeys([*self.properties, *self.by_property.values(), self.modified]))

    def frame(self, page: list[dict]) -> pd.DataFrame:
        out = _staging_frame(page, self.wanted, self.modified)
        for column, prop in self.by_property.items():
            out[column] = out[prop]
        if page and "associations" in page[0]:
            for column, key in self.keys.items():
                out[column] = [_association_value(r["associations"].get(key)) for r in page]
        return out.drop(columns=[p for p in self.wanted if p not in self.properties])


def _staging_frame(records: list[dict], properties: list[str], modified: str) -> pd.DataFrame:
    """Flat records as staging wants them: id, cursor_at (the version: updatedAt, or archivedAt for an archived
    record, since archiving does not move updatedAt), modified_at (the last-modified property), deleted, fields."""
    frame = pd.DataFrame.from_records(records)
    for column in ["id", "archived", "updatedAt", *properties]:
        if column not in frame.columns:
            frame[column] = None
    stamp = frame[modified].where(frame[modified].notna(), frame["updatedAt"]) \
        if modified in frame.columns else frame["updatedAt"]
    version = frame["updatedAt"].fillna(stamp)
    if "archivedAt" in frame.columns:
        version = frame["archivedAt"].where(frame["archivedAt"].notna(), version)
    out = pd.DataFrame({"id": frame["id"].astype(str),
                        "cursor_at": pd.to_datetime(version, utc=True, format="ISO8601"),
                        "modified_at": pd.to_datetime(stamp, utc=True, format="ISO8601"),
                        "deleted": frame["archived"].fillna(False).astype(bool)})
    for prop in properties:
        out[prop] = frame[prop]
    return out


def _owners_frame(owners: list[dict]) -> pd.DataFrame:
    """Owners have no change stamp: each read is a new version of all of them."""
    now = pd.Timestamp.now(tz="UTC")
    return pd.DataFrame({"id": [str(o["id"]) for o in owners], "cursor_at": now, "modified_at": now,
                         "deleted": False, "email": [o.get("email") for o in owners]})
