"""ASGI middleware both sandboxes share: API call counting, latency, injected faults and limit gates."""

from __future__ import annotations

import asyncio
import random
from typing import Protocol

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from crm_sandbox.faults import GENERIC_KINDS, FaultPlan
from crm_sandbox.state import Settings, Usage

ADMIN_PREFIX = "/__sandbox"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


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
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        service = self.service
        endpoint = service.classify(scope["method"], scope["path"])
        if endpoint is None:
            await self.app(scope, receive, send)
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

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + service.extra_headers(scope, endpoint)
            await send(message)

        if response is not None:
            await response(scope, receive, send_with_headers)
        else:
            await self.app(scope, receive, send_with_headers)
