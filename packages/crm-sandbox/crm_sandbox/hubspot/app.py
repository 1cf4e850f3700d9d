"""The HubSpot sandbox service: routes, bearer-token auth, rate limits and the middleware hooks."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

from crm_sandbox.faults import FaultPlan
from crm_sandbox.hubspot.assoc_api import AssociationsApi
from crm_sandbox.hubspot.associations import Associations
from crm_sandbox.hubspot.errors import HsError, unauthorized, unknown_route
from crm_sandbox.hubspot.labels_api import LabelsApi
from crm_sandbox.hubspot.legacy_api import LegacyApi
from crm_sandbox.hubspot.limits import RateLimiter, rate_limit_body
from crm_sandbox.hubspot.lists_api import ListsApi
from crm_sandbox.hubspot.meta_api import MetaApi
from crm_sandbox.hubspot.oauth import OAuthApp
from crm_sandbox.hubspot.objects_api import ObjectsApi
from crm_sandbox.hubspot.pipelines_api import PipelinesApi
from crm_sandbox.hubspot.props_api import PropertiesBatchApi
from crm_sandbox.hubspot.records import Records
from crm_sandbox.hubspot.search import register
from crm_sandbox.hubspot.store import HubSpotStore
from crm_sandbox.hubspot.wire import cid, error_response, hs_json
from crm_sandbox.middleware import SandboxMiddleware

_API = re.compile(r"^/(crm|crm-object-schemas|properties|companies)/")  # v3 and the legacy properties APIs
_NUMERIC = re.compile(r"^\d+$")
_OBJECT_WORDS = {"search", "batch", "merge", "gdpr-delete"}
_METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """The methods of the routes whose path matches the request's but whose methods do not include it."""
    found: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is Match.PARTIAL:
            found.update(route.methods or ())
    return [m for m in _METHOD_ORDER if m in found]


class HubSpotService:
    """The HubSpot sandbox: store, counters, limits, faults and the ASGI app over them."""

    system = "hubspot"

    def __init__(self, directory: Path, base_url: str = "http://127.0.0.1:8090"):
        self.store = HubSpotStore(directory)
        register(self.store.conn)
        self.settings = self.store.settings
        self.usage = self.store.usage
        self.base_url = base_url
        self.faults = FaultPlan.build("hubspot", **self.settings.get("faults", {}))
        self.limits = RateLimiter(self.settings, self.usage)
        self.associations = Associations(self.store)
        self.records = Records(self.store, self.associations)
        self.meta = MetaApi(self)
        self.oauth = OAuthApp(self)
        routes = [*ObjectsApi(self).routes(), *LabelsApi(self).routes(), *AssociationsApi(self).routes(),
                  *PropertiesBatchApi(self).routes(), *self.meta.routes(), *PipelinesApi(self).routes(),
                  *ListsApi(self).routes()]
        routes += LegacyApi(self).routes()
        from crm_sandbox.hubspot.admin import admin_routes

        routes += admin_routes(self)
        routes += [Route("/oauth/authorize", self.oauth.authorize, methods=["GET", "POST"]),
                   Route("/oauth/v1/token", self.oauth.token, methods=["POST"])]
        routes.append(Route("/{path:path}", self.not_found,
                            methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]))
        # a path no route pattern takes at all (a newline in a segment escapes "{path:path}") still gets the 404 body
        handlers = {404: lambda request, exc: error_response(unknown_route(request.method, request.url.path), request)}
        self.app = SandboxMiddleware(Starlette(routes=routes, exception_handlers=handlers), self)

    @property
    def access_token(self) -> str:
        return self.settings["access_token"]

    @property
    def allocation(self) -> int:
        return int(self.settings["allocation"])

    async def not_found(self, request: Request) -> Response:
        """What no route takes: a path an endpoint has with a method it does not take is 405 with an empty body
        and the methods in Allow (as HubSpot answers); any other path is the 404 of a route that does not exist,
        whose message differs from a missing record's "resource not found"."""
        allowed = allowed_methods(request)
        if allowed:
            return Response(status_code=405, headers={"Allow": ",".join(allowed)})
        return error_response(unknown_route(request.method, request.url.path), request)

    def close(self) -> None:
        self.store.close()

    # ---- middleware hooks -----------------------------------------------------------------------------------
    def classify(self, method: str, path: str) -> str | None:
        if not _API.match(path):
            return None
        return f"{method} {self.endpoint_template(path)}"

    def endpoint_template(self, path: str) -> str:
        """Collapse ids and values so usage counts group by resource: ``/crm/v3/objects/contacts/{id}``."""
        parts = [p for p in path.split("/") if p]
        out = list(parts)

        def at(i: int) -> str:
            return parts[i] if i < len(parts) else ""

        def name_type(i: int) -> None:
            if at(i):
                otype = self.store.find_type(parts[i])
                out[i] = otype.name if otype else parts[i]

        def mark(i: int, label: str = "{id}") -> None:
            if at(i):
                out[i] = label

        area = at(2)
        if area == "objects":
            name_type(3)
            if at(1) == "v4":
                mark(4)
                first = 7 if at(6) == "default" else 6
                name_type(first)
                mark(first + 1)
            elif at(4) and at(4) not in _OBJECT_WORDS:
                mark(4)
        elif area == "associations":
            name_type(3)
            name_type(4)
        elif area == "properties":
            name_type(3)
            if at(4) != "groups":
                mark(4, "{name}")
        elif area == "schemas":
            name_type(3)
        elif area == "owners":
            mark(3)
        elif area == "pipelines":
            name_type(3)
            mark(4, "{pipelineId}")
            mark(6, "{stageId}")
        elif area == "lists":
            if at(3) == "records":
                name_type(4)
                mark(5)
            elif at(3) == "object-type-id":
                name_type(4)
                mark(6, "{name}")
            elif _NUMERIC.match(at(3)):
                mark(3)
        return "/" + "/".join(out)

    def is_search(self, endpoint: str) -> bool:
        return endpoint.startswith("POST /crm/v3/objects/") and endpoint.endswith("/search")

    def error_response(self, status: int, scope: Scope) -> Response:
        if status in (502, 504):  # these come from HubSpot's edge as HTML, not from the API
            title = {502: "502 Bad Gateway", 504: "504 Gateway Time-out"}[status]
            return HTMLResponse(f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center>"
                                "<hr><center>cloudflare</center></body></html>", status_code=status)
        category = {500: "INTERNAL_ERROR", 503: "SERVICE_UNAVAILABLE"}.get(status, "INTERNAL_ERROR")
        message = {500: "internal error", 503: "Service Unavailable"}.get(status, "internal error")
        return hs_json({"status": "error", "message": message, "correlationId": cid(scope), "category": category},
                       status)

    def fault_response(self, kind: str, scope: Scope) -> Response | None:
        if kind == "rate_limit":
            return hs_json(rate_limit_body("TEN_SECONDLY_ROLLING", cid(scope)), 429)
        if kind == "daily_limit":
            # Spend what is left of today's allocation, this request included, so the gate refuses it.
            self.usage.add("fault:daily_limit", max(0, self.allocation - self.usage.today() + 1))
            return None
        return None

    def _auth_error(self, scope: Scope) -> HsError | None:
        """None for the private-app token or a live OAuth access token; else the error HubSpot answers."""
        for key, value in scope.get("headers", []):
            if key == b"authorization":
                text = value.decode(errors="replace")
                if text[:7].lower() != "bearer ":
                    return unauthorized()
                token = text[7:].strip()
                if token == self.access_token:
                    return None
                problem = self.oauth.check(token)
                if problem is None:
                    scope.setdefault("state", {})["oauth"] = True
                return problem
        return unauthorized()

    def gate(self, scope: Scope, endpoint: str) -> Response | None:
        problem = self._auth_error(scope)
        if problem is not None:
            return error_response(problem, scope)
        policy = self.limits.admit(self.is_search(endpoint))
        if policy:
            return hs_json(rate_limit_body(policy, cid(scope)), 429)
        return None

    def extra_headers(self, scope: Scope, endpoint: str) -> list[tuple[bytes, bytes]]:
        headers = [(b"x-hubspot-correlation-id", cid(scope).encode())]
        if not self.is_search(endpoint):  # search responses carry no rate-limit headers (B8.3)
            headers += self.limits.headers()
            if scope.get("state", {}).get("oauth"):  # nor the daily ones for OAuth apps
                headers = [h for h in headers if not h[0].lower().startswith(b"x-hubspot-ratelimit-daily")]
        return headers
