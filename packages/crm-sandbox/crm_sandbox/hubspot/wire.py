"""Shared HTTP plumbing of the HubSpot routes: JSON bodies, error rendering, record and batch envelopes."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crm_sandbox.hubspot.catalog import ObjectType
from crm_sandbox.hubspot.errors import HsError, bad_request, correlation_id, too_many_inputs
from crm_sandbox.hubspot.store import ARCHIVED, HubSpotStore
from crm_sandbox.hubspot.values import now_iso


def cid(request_or_scope) -> str:
    """The request's correlation id (also sent as X-HubSpot-Correlation-Id)."""
    scope = request_or_scope.scope if isinstance(request_or_scope, Request) else request_or_scope
    state = scope.setdefault("state", {})
    if "correlation_id" not in state:
        state["correlation_id"] = correlation_id()
    return state["correlation_id"]


def absolute_url(request: Request, path_and_query: str) -> str:
    """An absolute URL on the host and scheme the client used (its Host header), as HubSpot builds paging links:
    a client that reached the sandbox as localhost or through a proxy gets links it can follow."""
    return str(request.base_url).rstrip("/") + path_and_query


def hs_json(body, status: int = 200, headers: dict | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def error_response(exc: HsError, request_or_scope) -> Response:
    return hs_json(exc.body(cid(request_or_scope)), exc.status, headers=exc.headers or None)


def api(handler: Callable) -> Callable:
    """Render HsError as HubSpot's error body."""
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except HsError as exc:
            return error_response(exc, request)

    return wrapped


async def json_body(request: Request, expect: type = dict):
    raw = await request.body()
    if not raw.strip():
        raise bad_request("Invalid input JSON on line 1, column 1: No content to map due to end-of-input")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise bad_request(f"Invalid input JSON on line {getattr(exc, 'lineno', 1)}, column "
                          f"{getattr(exc, 'colno', 1)}: {getattr(exc, 'msg', str(exc))}") from None
    if not isinstance(body, expect):
        raise bad_request(f"Invalid input JSON: expected a JSON {'object' if expect is dict else 'array'}, "
                          f"got {type(body).__name__}")
    return body


def inputs(body: dict, limit: int) -> list:
    items = body.get("inputs")
    if not isinstance(items, list):
        raise bad_request("inputs must be a list")
    if len(items) > limit:
        raise too_many_inputs(len(items), limit)
    if not all(isinstance(item, dict) for item in items):
        raise bad_request("each input must be a JSON object")
    return items


def batch_response(results: list, errors: list[dict], started: str, ok_status: int = 200) -> Response:
    body: dict = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": now_iso()}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return hs_json(body, 207)
    return hs_json(body, ok_status)


def wanted_properties(store: HubSpotStore, otype: ObjectType, requested: list[str] | None) -> list[str]:
    """Requested properties (unknown names silently ignored) or the type's defaults; ids and dates always."""
    if not requested:
        return list(otype.default_props)
    known = store.props[otype.name]
    names = [p for p in dict.fromkeys(requested) if p in known]
    for always in ("hs_object_id", otype.created_prop, otype.modified_prop):
        if always not in names:
            names.append(always)
    return names


def record_json(otype: ObjectType, row: dict, props: list[str], history: dict | None = None,
                associations: dict | None = None) -> dict:
    out_props = {}
    for name in props:
        out_props[name] = str(row["id"]) if name == "hs_object_id" else row.get(name)
    record: dict = {"id": str(row["id"]), "properties": out_props, "createdAt": row.get(otype.created_prop),
                    "updatedAt": row.get(otype.modified_prop), "archived": row["_state"] == ARCHIVED}
    if row["_state"] == ARCHIVED:
        record["archivedAt"] = row["_archived_at"]
    if history is not None:
        record["propertiesWithHistory"] = history
    if associations:
        record["associations"] = associations
    return record


def history_for(store: HubSpotStore, otype: ObjectType, rows: list[dict], names: list[str]) -> dict[int, dict]:
    """propertiesWithHistory per row; values written by the direct loader show as one IMPORT entry."""
    known = [n for n in names if n in store.props[otype.name]]
    logged = store.history(otype, [r["id"] for r in rows], known)
    out: dict[int, dict] = {}
    for row in rows:
        per = logged.get(row["id"], {})
        entry = {}
        for name in known:
            value = str(row["id"]) if name == "hs_object_id" else row.get(name)
            if name in per:
                entry[name] = per[name]
            elif name == otype.modified_prop or name == otype.created_prop or value is not None:
                stamp = row.get(otype.created_prop if name == "hs_object_id" else otype.modified_prop)
                entry[name] = [{"value": value or "", "timestamp": stamp, "sourceType": "IMPORT"}]
            else:
                entry[name] = []
        out[row["id"]] = entry
    return out
