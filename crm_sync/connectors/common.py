"""What both CRM connectors share: write results, API usage and budgets, rate limiting, and every retry rule."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import pandas as pd
import requests

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class WriteResult:
    """The outcome of one input record of a batch write; a write call returns one per record, in input order."""

    key: str
    success: bool
    target_id: str | None = None
    created: bool | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_fields: list[str] = field(default_factory=list)
    response: object = None  # what the CRM answered for this record (kept in sync.audit)

    @classmethod
    def ok(cls, key: str, target_id: str | None, created: bool | None = None, response: object = None) -> WriteResult:
        return cls(key, True, target_id, created, response=response)

    @classmethod
    def failed(cls, key: str, code: str | None, message: str | None, fields: list[str] | None = None,
               target_id: str | None = None, response: object = None) -> WriteResult:
        return cls(key, False, target_id, None, code, message, list(fields or []), response)


# The columns of the ops a connector applies (engine/outbox.py and engine/associations.py make them):
#   op_id, object, action, target_id, payload (dict), key_field (creates: the upsert key, None for a plain create).
# action: create | update | delete, and for associations held apart from the record (HubSpot) associate |
# dissociate, whose payload is {"from_type", "to_type", "from_id", "to_id", "type_id"}.
OP_COLUMNS = ["op_id", "object", "action", "target_id", "payload", "key_field"]


@dataclass(frozen=True)
class OpGroup:
    """Ops of one object and action, in the shapes the connectors' batch writers take."""

    obj: str
    action: str
    keys: list[str]
    ids: list[str | None]
    payloads: list[dict]
    key_field: str | None  # creates: the upsert key (None: a plain create)

    @property
    def with_payloads(self) -> list[tuple[str, dict]]:
        return list(zip(self.keys, self.payloads, strict=True))

    @property
    def with_ids(self) -> list[tuple[str, str | None]]:
        return list(zip(self.keys, self.ids, strict=True))

    @property
    def with_ids_and_payloads(self) -> list[tuple[str, str | None, dict]]:
        return list(zip(self.keys, self.ids, self.payloads, strict=True))

    def unsupported(self, system: str) -> list[WriteResult]:
        return [WriteResult.failed(k, "UNSUPPORTED_ACTION", f"{system} has no {self.action!r} for {self.obj}")
                for k in self.keys]


def _op_groups(ops: pd.DataFrame) -> Iterator[OpGroup]:
    """Ops (OP_COLUMNS) grouped by object and action, in the order they came."""
    for (obj, action), group in ops.groupby(["object", "action"], sort=False):
        key_field = group["key_field"].iloc[0] if "key_field" in group.columns else None
        yield OpGroup(obj, action, list(group["op_id"]), list(group["target_id"]), list(group["payload"]),
                      key_field if isinstance(key_field, str) and key_field else None)


def apply_ops(ops: pd.DataFrame, system: str, upsert: Callable, create: Callable,
              handlers: dict[str, Callable[[OpGroup], list[WriteResult]]]) -> list[WriteResult]:
    """A connector's apply(): creates as upserts on their key field (plain creates without one), every other
    action by its handler (OpGroup in, one result per op out); an action with no handler fails its ops."""
    results: list[WriteResult] = []
    for g in _op_groups(ops):
        if g.action == "create":
            results += upsert(g.obj, g.key_field, g.with_payloads) if g.key_field else create(g.obj, g.with_payloads)
        elif g.action in handlers:
            results += handlers[g.action](g)
        else:
            results += g.unsupported(system)
    return results


class Connector(Protocol):
    """What the sync needs of a CRM; both connectors implement it, so the cycle never branches on the system.

    Reads yield frames in staging's shape: id, cursor_at (version stamp), modified_at, deleted, then one text
    column per field ("associations.<type>" columns for HubSpot associations).
    """

    system: str
    usage: ApiUsage

    def field_metadata(self, obj: str) -> list[dict]:
        """Writability, types, lengths and options of an object's fields (engine/metadata.COLUMNS)."""

    def ensure_cross_id(self, obj: str, field_name: str) -> None:
        """Make sure the field that holds the other CRM's id exists (or say clearly that it does not)."""

    def read_changes(self, obj: str, fields: list[str], since: datetime | None, overlap: timedelta,
                     settled_until: datetime | None = None, expected: int = 0) -> Iterator[pd.DataFrame]:
        """Records changed since `since` (all records when None), deletes where the CRM reads them so.
        expected: at least this many will come (the sync's own writes): a hint for choosing how to read."""

    def read_created(self, obj: str, fields: list[str], start: datetime | None,
                     end: datetime | None) -> Iterator[pd.DataFrame]:
        """Live records created in [start, end), for a backfill partition (None: unbounded)."""

    def read_deleted(self, obj: str, fields: list[str]) -> Iterator[pd.DataFrame]:
        """Deleted records that the change read does not return (HubSpot's archived list)."""

    def read_associations(self, obj: str, columns: list[str], ids: list[str] | None) -> Iterator[pd.DataFrame]:
        """Association columns (id + columns) of the given records, or of every record when ids is None."""

    def apply(self, ops: pd.DataFrame) -> list[WriteResult]:
        """Send ops (OP_COLUMNS) in the cheapest batches; one result per op, keyed by op_id."""


class ApiUsage:
    """Thread-safe count of API calls by endpoint label (e.g. "GET query", "POST /crm/v3/objects/contacts/search")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def count(self, endpoint: str, n: int = 1) -> None:
        with self._lock:
            self._counts[endpoint] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())


class MissingInCrm(Exception):
    """Something the configuration names that the CRM does not have; the message says what and where."""


class UnknownObject(MissingInCrm):
    """An object the configuration names that the CRM does not have: a misspelt name, or a custom object that its
    admin has not defined (yet) in that org or portal."""

    HINTS = {"Salesforce": "a custom object's API name ends in __c; the org's admin defines it (Setup > Object "
                           "Manager) with the fields the pair maps and the external id field",
             "HubSpot": "a custom object goes by its schema's name, fullyQualifiedName or objectTypeId (2-...); the "
                        "portal's admin defines it (Settings > Objects, or the schemas API)"}

    def __init__(self, system: str, name: str, detail: str):
        self.system, self.name = system, name
        super().__init__(f"{system} has no object {name!r} ({detail}): check the pairs' {system.lower()} objects in "
                         f"sync.yaml; {self.HINTS[system]}")


class StopRun(Exception):
    """A condition that must end the run cleanly; `results` holds the writes that completed before it."""

    def __init__(self, message: str, results: list[WriteResult] | None = None):
        super().__init__(message)
        self.results: list[WriteResult] = results or []


class BudgetExceeded(StopRun):
    """An API budget (per run, or per day) is spent; raised before the call that would pass it."""

    def __init__(self, system: str, budget: int, calls: int, period: str = "for this run"):
        later = "the next run" if period == "for this run" else "tomorrow (UTC)"
        super().__init__(f"{system} API budget of {budget} calls {period} is spent ({calls} calls made); "
                         f"it goes on with {later} or a larger budget (sync.yaml budget.{system})")
        self.system, self.budget, self.calls = system, budget, calls


class DailyLimitReached(StopRun):
    """The CRM refused a call because the org's or portal's daily API allocation is spent."""

    def __init__(self, system: str, message: str):
        super().__init__(f"{system} daily API limit reached: {message} (the allocation resets daily; resume then)")
        self.system, self.message = system, message


class AllocationReserved(StopRun):
    """The org's or portal's daily allocation is down to the share kept for other integrations."""

    def __init__(self, system: str, used: int, limit: int, reserve: float, calls: int):
        super().__init__(f"{system} daily API allocation is down to the reserve kept for other integrations: "
                         f"{used:,} of {limit:,} used, {reserve:.0%} reserved ({calls} calls made by this run); "
                         f"resume once the allocation resets")
        self.system = system


class Meter:
    """One connector's calls: counted into the (possibly shared) ApiUsage and checked, before each call, against
    its budget per run, the sync's budget per day (spent_today: earlier runs' calls today), and the reserve
    share of the live daily allocation (observe() takes it from each response)."""

    def __init__(self, system: str, usage: ApiUsage | None, budget: int | None, per_day: int | None = None,
                 reserve: float = 0.0):
        self.system, self.usage, self.budget = system, usage or ApiUsage(), budget
        self.per_day, self.reserve, self.spent_today = per_day, reserve, 0
        self.calls = 0
        self.daily_used: int | None = None
        self.daily_limit: int | None = None
        self._lock = threading.Lock()

    def observe(self, used: int, limit: int) -> None:
        """The allocation as the CRM last reported it (calls used today, daily limit)."""
        with self._lock:
            self.daily_used, self.daily_limit = used, limit

    def call(self, endpoint: str) -> None:
        """Account for one HTTP call about to be sent; raises a StopRun instead when a budget is spent."""
        with self._lock:
            # The budget is this connector's own: a shared ApiUsage may also hold the other CRM's calls.
            if self.budget is not None and self.calls >= self.budget:
                raise BudgetExceeded(self.system, self.budget, self.calls)
            if self.per_day is not None and self.spent_today + self.calls >= self.per_day:
                raise BudgetExceeded(self.system, self.per_day, self.spent_today + self.calls, "per day")
            if self.reserve and self.daily_limit and self.daily_used is not None \
                    and self.daily_used + 1 > self.daily_limit * (1 - self.reserve):
                raise AllocationReserved(self.system, self.daily_used, self.daily_limit, self.reserve, self.calls)
            self.calls += 1
            if self.daily_used is not None:
                self.daily_used += 1  # until the next response says
        self.usage.count(endpoint)


class RateLimiter:
    """At most `limit` calls in any rolling `window` seconds, shared by threads: acquire() blocks, never fails."""

    def __init__(self, limit: int, window: float, margin: float = 0.0):
        self.limit = max(1, int(limit))
        # Our clock stamps a call when it leaves, the server when it arrives: the margin absorbs the difference.
        self.window = window + margin
        self._times: deque[float] = deque()
        self._cond = threading.Condition()

    def acquire(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._times and now - self._times[0] >= self.window:
                    self._times.popleft()
                if len(self._times) < self.limit:
                    self._times.append(now)
                    return
                self._cond.wait(self.window - (now - self._times[0]))

    def in_window(self) -> int:
        with self._cond:
            now = time.monotonic()
            return sum(1 for t in self._times if now - t < self.window)

    def lower(self, limit: int) -> None:
        """Learned that the server allows fewer calls than configured (a 429): pace to that from now on."""
        with self._cond:
            self.limit = max(1, min(self.limit, int(limit)))


@dataclass(frozen=True)
class Failure:
    """One failed attempt, in the terms the retry rules need."""

    system: str  # "salesforce" or "hubspot"
    status: int | None  # HTTP status, or None when no response came back (timeout, dropped connection)
    code: str | None = None  # Salesforce errorCode/statusCode; HubSpot policyName (429) or category
    message: str = ""
    retry_after: float | None = None  # seconds, from a Retry-After header
    sent: bool = True  # False when the request never left this machine (connect failure)


@dataclass(frozen=True)
class Decision:
    action: str  # "retry" (after delay), "relogin" (new token, then resend at once) or "fail"
    delay: float = 0.0


FAIL = Decision("fail")


class RetryPolicy:
    """Every retry rule of both connectors, with exponential backoff and jitter."""

    def __init__(self, retries: int = 5, backoff_base: float = 0.5, backoff_cap: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep):
        self.retries, self.backoff_base, self.backoff_cap, self.sleep = retries, backoff_base, backoff_cap, sleep

    def backoff(self, attempt: int) -> float:
        # Jitter (50-100% of the step) spreads the worker threads so they do not retry in lockstep.
        step = min(self.backoff_cap, self.backoff_base * (2 ** attempt))
        return step * random.uniform(0.5, 1.0)

    def decide(self, failure: Failure, attempt: int, idempotent: bool = True, relogged: bool = False) -> Decision:
        """What to do after `failure` on retry number `attempt` (0 = the first try failed).

        Raises DailyLimitReached for a spent daily allocation. `idempotent` says whether resending can
        apply a write twice; `relogged` whether this request already got a fresh session.
        """
        f = failure
        # A spent daily allocation does not come back for hours: stop the run cleanly and say so.
        # Salesforce's concurrent-request variant of the same code is transient, so it is retried below.
        if f.system == "salesforce" and f.status == 403 and f.code == "REQUEST_LIMIT_EXCEEDED":
            if "concurrent" not in f.message.lower():
                raise DailyLimitReached("salesforce", f.message or "TotalRequests Limit exceeded.")
            return self._retry(attempt, f)
        if f.system == "hubspot" and f.status == 429 and f.code == "DAILY":
            raise DailyLimitReached("hubspot", f.message or "You have reached your daily limit.")
        # A direct Salesforce session is never refreshed by simple-salesforce: fetch a new token and resend,
        # once per failure, so bad credentials fail fast instead of looping through logins.
        if f.system == "salesforce" and f.status == 401 and f.code == "INVALID_SESSION_ID":
            return FAIL if relogged else Decision("relogin")
        if attempt >= self.retries:
            return FAIL
        # Timeouts and dropped connections are transient; resend unless the write may already have been
        # applied and resending it could apply it twice (a create without a key).
        if f.status is None:
            return self._retry(attempt, f) if idempotent or not f.sent else FAIL
        # Another transaction holds the row lock for a moment; Salesforce's own advice is to retry.
        if f.code == "UNABLE_TO_LOCK_ROW":
            return self._retry(attempt, f)
        # HubSpot's rolling 10-second and per-second search windows: the call was refused, not run, so it is
        # always safe to resend once the window has room (Retry-After when given; the limiter paces the rest).
        if f.status == 429:
            return self._retry(attempt, f)
        # Server and edge failures (500 UNKNOWN_EXCEPTION, 503 SERVER_UNAVAILABLE, Cloudflare 502/504) pass.
        # 502/503 mean the request was not processed; 500/504 may hide a completed write.
        if f.status >= 500:
            return self._retry(attempt, f) if idempotent or f.status in (502, 503) else FAIL
        # Anything else (400 validation, 404, 409 conflicts) gives the same answer when sent again.
        return FAIL

    def _retry(self, attempt: int, f: Failure) -> Decision:
        delay = self.backoff(attempt)
        if f.retry_after is not None:
            delay = max(delay, f.retry_after)
        return Decision("retry", delay)


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime (naive ones are taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since 1970 (HubSpot's datetime filter values), exact: no float rounding."""
    return (as_utc(moment) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def run_batches(batches: Sequence[T], send: Callable[[T], list[WriteResult]], max_workers: int) -> list[WriteResult]:
    """Send batches concurrently and return their results in input order.

    After a StopRun (budget or daily limit) no further batch is sent; the batches in flight finish, and the
    StopRun is re-raised carrying the results that did complete, so the caller can still record those writes.
    """
    stops: list[StopRun] = []

    def guarded(batch: T) -> list[WriteResult]:
        if stops:
            return []  # the run is stopping: leave this batch unsent
        try:
            return send(batch)
        except StopRun as exc:
            stops.append(exc)
            return []

    results = [r for outcome in unwrap(parallel_map(guarded, batches, max_workers)) for r in outcome]
    if stops:
        stops[0].results = results
        raise stops[0]
    return results


def parallel_map(fn: Callable[[T], R], items: Sequence[T], max_workers: int) -> list[R | BaseException]:
    """fn over items on up to max_workers threads; each slot holds the result or the exception raised."""

    def guarded(item: T) -> R | BaseException:
        try:
            return fn(item)
        except Exception as exc:  # noqa: BLE001 - handed back to the caller, who decides
            return exc

    if len(items) <= 1 or max_workers <= 1:
        return [guarded(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(items))) as pool:
        return list(pool.map(guarded, items))


def unwrap(outcomes: list[R | BaseException]) -> list[R]:
    """The results of parallel_map, raising the first exception (a StopRun before any other)."""
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    if errors:
        raise next((e for e in errors if isinstance(e, StopRun)), errors[0])
    return outcomes  # type: ignore[return-value]


Window = tuple[datetime, datetime | None]  # [from, to] modification times, inclusive; to None: up to now


def read_windows(since: datetime, overlap: timedelta, settled_until: datetime | None = None) -> list[Window]:
    """The modification-time windows an incremental read covers, given the previous read's start (`since`).

    The overlap re-reads changes that became visible late (a search index behind, a transaction committed after
    its stamp). A change stamped at or before `settled_until` (this read's start minus the overlap) is visible
    by now, so the window [since - overlap, settled_until] is read for the last time; changes after `since` are
    read for the first time. Between the two, (settled_until, since) was read by the previous cycle and will be
    read again, settled, by a later one: a cycle that follows the last within the overlap skips it instead of
    reading the same records once per cycle until they settle. Cycles further apart read one window.
    """
    lower = as_utc(since) - overlap
    if settled_until is None or as_utc(settled_until) >= as_utc(since):
        return [(lower, None)]
    return [(lower, max(lower, as_utc(settled_until))), (as_utc(since), None)]


def http_session(ca_file: str | None) -> requests.Session:
    """A requests session that trusts ca_file (when given) whatever REQUESTS_CA_BUNDLE says."""
    session = requests.Session()
    if ca_file:
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override session.verify unless trust_env is off.
        session.trust_env = False
        session.verify = ca_file
    return session
