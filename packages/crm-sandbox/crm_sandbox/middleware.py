"""ASGI middleware both sandboxes share: API call counting, latency, injected faults and limit gates."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from email.utils import formatdate
from functools import lru_cache
from typing import Protocol

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from crm_sandbox.faults import GENERIC_KINDS, FaultPlan
from crm_sandbox.state import Settings, Usage

ADMIN_PREFIX = "/__sandbox"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Header names the services spell otherwise than Title-Case per hyphen part (every other name is sent that way:
# Content-Type, Content-Length, Sforce-Limit-Info, Sforce-Locator, Retry-After, Location, Allow, Date).
SPECIAL_HEADER_NAMES = {name.lower(): name for name in (
    "Sforce-NumberOfRecords",
    "X-HubSpot-Correlation-Id",
    "X-HubSpot-NotFound",
    "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Secondly",
    "X-HubSpot-RateLimit-Secondly-Remaining",
    "WWW-Authenticate",
    "ETag",
)}


class Service(Protocol):
    """What a sandbox system plugs into the middleware."""

    system: str
    usage: Usage
    settings: Settings
    faults: FaultPlan

    def classify(self, method: str, path: str) -> str | None:
        """Endpoint label to count this request under, or None when it is not an API call."""

    def error_response(self, status: int, scope: Scope) -> Response:
        """The system's body for an injected 5xx."""

    def fault_response(self, kind: str, scope: Scope) -> Response | None:
        """A system-specific injected fault (may act instead of answering, then return None)."""

    def gate(self, scope: Scope, endpoint: str) -> Response | None:
        """A limit the system enforces before handling (daily allocation, rate windows)."""

    def extra_headers(self, scope: Scope, endpoint: str) -> list[tuple[bytes, bytes]]:
        """Headers the real service puts on every API response (usage and rate-limit headers)."""


@lru_cache(maxsize=512)
def canonical_header(name: bytes) -> bytes:
    """A header name as the real services put it on the wire (Starlette and the apps use lower case)."""
    lowered = name.decode("latin-1").lower()
    special = SPECIAL_HEADER_NAMES.get(lowered)
    if special is None:
        special = "-".join(part[:1].upper() + part[1:] for part in lowered.split("-"))
    return special.encode("latin-1")


def wire_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Response headers with canonical names and a Date first, as the services send them. The server runs with
    uvicorn's own (lower-case) date and server headers off, so the Date is set here."""
    out = [(canonical_header(name), value) for name, value in headers]
    if not any(name == b"Date" for name, _ in out):
        out.insert(0, (b"Date", formatdate(usegmt=True).encode()))
    return out


def _on_the_wire(send: Send, extra: Callable[[], list[tuple[bytes, bytes]]] | None = None) -> Send:
    """send, with the response start's headers (plus extra ones, computed as the response starts) as on the wire."""
    async def wrapped(message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", [])) + (extra() if extra else [])
            message = {**message, "headers": wire_headers(headers)}
        await send(message)

    return wrapped


def _drop_connection(receive: Receive) -> None:
    # uvicorn's receive is a bound method of the request cycle that owns the transport; closing it
    # is what a dropped connection looks like to a client (no status line, connection reset).
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None:
        transport.abort()


class SandboxMiddleware:
    def __init__(self, app: ASGIApp, service: Service):
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        service = self.service
        admin = scope["path"].startswith(ADMIN_PREFIX)
        endpoint = None if admin else service.classify(scope["method"], scope["path"])
        if endpoint is None:  # the admin interface and what is no API call: not counted, headers cased all the same
            await self.app(scope, receive, _on_the_wire(send))
            return
        scope.setdefault("state", {})["endpoint"] = endpoint
        service.usage.count(endpoint)
        latency = service.settings["latency_ms"] + random.uniform(0, service.settings["latency_jitter_ms"])
        if latency:
            await asyncio.sleep(latency / 1000.0)
        response: Response | None = None
        kind = service.faults.draw(is_write=scope["method"] in WRITE_METHODS)
        if kind == "drop":
            _drop_connection(receive)
            return
        if kind == "slow":
            await asyncio.sleep(service.faults.slow_seconds)
        elif kind in GENERIC_KINDS:
            response = service.error_response(int(kind.split("_")[1]), scope)
        elif kind:
            response = service.fault_response(kind, scope)
        if response is None:
            response = service.gate(scope, endpoint)
        send_with_headers = _on_the_wire(send, lambda: service.extra_headers(scope, endpoint))
        if response is not None:
            await response(scope, receive, send_with_headers)
        else:
            await self.app(scope, receive, send_with_headers)
