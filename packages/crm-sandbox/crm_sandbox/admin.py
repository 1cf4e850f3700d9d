"""The sandbox admin interface shared by both systems: usage counts, latency, allocation and fault profiles."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crm_sandbox.faults import FaultPlan


async def read_json(request: Request) -> dict:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise AdminError("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise AdminError("request body must be a JSON object")
    return body


class AdminError(Exception):
    """A bad admin request: answered 400 with {"error": message}."""


def admin_endpoint(handler):
    async def wrapped(request: Request):
        try:
            return await handler(request)
        except (AdminError, ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return wrapped


def common_admin_routes(service) -> list[Route]:
    """Routes every sandbox has under /__sandbox/ (not counted as API calls, no auth)."""

    async def usage(request: Request):
        return JSONResponse({"system": service.system, "today": service.usage.today(),
                             "allocation": service.allocation,
                             "by_endpoint": service.usage.by_endpoint(request.query_params.get("day"))})

    async def reset_usage(request: Request):
        service.usage.reset()
        return JSONResponse({"ok": True})

    async def latency(request: Request):
        body = await read_json(request)
        service.settings.set("latency_ms", float(body.get("ms", 0)))
        service.settings.set("latency_jitter_ms", float(body.get("jitter_ms", 0)))
        return JSONResponse({"latency_ms": service.settings["latency_ms"],
                             "latency_jitter_ms": service.settings["latency_jitter_ms"]})

    async def allocation(request: Request):
        body = await read_json(request)
        daily = int(body["daily"])
        if daily < 0:
            raise AdminError("daily allocation must be >= 0")
        service.settings.set("allocation", daily)
        return JSONResponse({"allocation": daily, "today": service.usage.today()})

    async def faults(request: Request):
        if request.method == "POST":
            body = await read_json(request)
            kwargs = {k: body[k] for k in ("profile", "rules", "seed", "max_faults", "slow_seconds") if k in body}
            service.faults = FaultPlan.build(service.system, **kwargs)
            service.settings.set("faults", kwargs)
        return JSONResponse(service.faults.describe())

    return [
        Route("/__sandbox/usage", admin_endpoint(usage), methods=["GET"]),
        Route("/__sandbox/usage/reset", admin_endpoint(reset_usage), methods=["POST"]),
        Route("/__sandbox/latency", admin_endpoint(latency), methods=["POST"]),
        Route("/__sandbox/allocation", admin_endpoint(allocation), methods=["POST"]),
        Route("/__sandbox/faults", admin_endpoint(faults), methods=["GET", "POST"]),
    ]
