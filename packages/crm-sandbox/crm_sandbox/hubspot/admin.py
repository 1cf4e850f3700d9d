"""HubSpot-only admin routes: rate-limit tiers, behaviour toggles, and edits made as a user (not API calls)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crm_sandbox.admin import AdminError, admin_endpoint, common_admin_routes, read_json
from crm_sandbox.hubspot.catalog import ObjectType
from crm_sandbox.hubspot.errors import HsError, correlation_id
from crm_sandbox.hubspot.lists_api import ListsApi
from crm_sandbox.hubspot.records import UI_SOURCE
from crm_sandbox.hubspot.store import MERGED
from crm_sandbox.hubspot.wire import record_json

OPTIONS = {"merge_creates_new_id": bool, "lifecycle_forward_only": bool, "batch_errors": str,
           "search_max_groups": int, "search_max_filters_per_group": int, "search_max_filters": int}


def admin_routes(service) -> list[Route]:
    store, records, assoc = service.store, service.records, service.associations
    lists = ListsApi(service)

    def hs_errors(handler):
        async def wrapped(request: Request):
            try:
                return await handler(request)
            except HsError as exc:
                return JSONResponse(exc.body(correlation_id()), status_code=exc.status)

        return admin_endpoint(wrapped)

    def full(otype: ObjectType, row: dict) -> dict:
        out = record_json(otype, row, ["hs_object_id", *store.columns[otype.name]])
        if row["_state"] == MERGED:
            out["mergedInto"] = str(row["_merged_into"])
        return out

    async def rate_limits(request: Request):
        if request.method == "POST":
            body = await read_json(request)
            for key, setting in (("ten_second", "ten_second"), ("daily", "allocation"),
                                 ("search_per_second", "search_per_second")):
                if key in body:
                    value = int(body[key])
                    if value < 0:
                        raise AdminError(f"{key} must be >= 0")
                    store.settings.set(setting, value)
            if body.get("reset"):
                service.limits.reset()
        return JSONResponse(service.limits.describe())

    async def options(request: Request):
        if request.method == "POST":
            body = await read_json(request)
            unknown = set(body) - set(OPTIONS)
            if unknown:
                raise AdminError(f"unknown options {sorted(unknown)}; known: {sorted(OPTIONS)}")
            if body.get("batch_errors", "per_record") not in ("per_record", "whole"):
                raise AdminError("batch_errors is per_record or whole")
            for key, value in body.items():
                store.settings.set(key, OPTIONS[key](value))
        return JSONResponse({key: store.settings[key] for key in OPTIONS})

    async def objects(request: Request):
        otype = store.object_type(request.path_params["type"])
        body = await read_json(request)
        with store.transaction():
            row = records.create(otype, body.get("properties"), body.get("associations"), source=UI_SOURCE)
        return JSONResponse(full(otype, row), status_code=201)

    async def object_item(request: Request):
        otype = store.object_type(request.path_params["type"])
        key = request.path_params["id"]
        if request.method == "PATCH":
            body = await read_json(request)
            with store.transaction():
                row = records.update(otype, key, body.get("properties"), source=UI_SOURCE)
            return JSONResponse(full(otype, row))
        if request.method == "DELETE":
            with store.transaction():
                records.archive(otype, key)
            return Response(status_code=204)
        row = store.row(otype, key)
        if row is None:
            raise HsError(404, "OBJECT_NOT_FOUND", "resource not found")
        return JSONResponse(full(otype, row))

    async def associations(request: Request):
        body = await read_json(request)
        from_t, to_t = store.object_type(str(body["from_type"])), store.object_type(str(body["to_type"]))
        with store.transaction():
            from_id = store.resolve(from_t, str(body["from_id"]))["id"]
            to_id = store.resolve(to_t, str(body["to_id"]))["id"]
            if request.method == "DELETE":
                types = {int(body["type_id"])} if body.get("type_id") is not None else None
                removed = assoc.remove(from_t, from_id, to_t, to_id, types)
                return JSONResponse({"removed": removed})
            atype = (assoc.spec_type(from_t, to_t, {"associationTypeId": body["type_id"],
                                                    "associationCategory": body.get("category", "HUBSPOT_DEFINED")})
                     if body.get("type_id") is not None else assoc.default_type(from_t, to_t))
            assoc.add(from_t, from_id, to_t, to_id, atype)
        return JSONResponse({"from_id": str(from_id), "to_id": str(to_id), "type_id": atype.type_id},
                            status_code=201)

    async def list_members(request: Request):
        """Add and remove list members as a user does in the UI: {"add": [ids], "remove": [ids]}."""
        body = await read_json(request)
        row = lists._row(request.path_params["id"])
        return JSONResponse(lists.change_members(row, list(body.get("add") or []), list(body.get("remove") or [])))

    async def merge(request: Request):
        body = await read_json(request)
        otype = store.object_type(str(body["type"]))
        with store.transaction():
            row = records.merge(otype, str(body["primary_id"]), str(body["merge_id"]), source=UI_SOURCE)
        return JSONResponse(full(otype, row))

    async def owners(request: Request):
        body = await read_json(request)
        items = body.get("owners") or [body]
        for owner in items:
            if not owner.get("email"):
                raise AdminError("an owner needs an email")
        with store.transaction():
            ids = store.insert_owners(items)
        return JSONResponse({"ids": ids}, status_code=201)

    async def oauth_app(request: Request):
        """The OAuth app's client id and secret, callback URLs and access-token lifetime (`token_seconds`);
        `expire_access_tokens: true` expires every access token issued so far."""
        body = await read_json(request) if request.method == "POST" else {}
        return JSONResponse(service.oauth.configure(body))

    return common_admin_routes(service) + [
        Route("/__sandbox/rate-limits", hs_errors(rate_limits), methods=["GET", "POST"]),
        Route("/__sandbox/options", hs_errors(options), methods=["GET", "POST"]),
        Route("/__sandbox/objects/{type}", hs_errors(objects), methods=["POST"]),
        Route("/__sandbox/objects/{type}/{id}", hs_errors(object_item), methods=["GET", "PATCH", "DELETE"]),
        Route("/__sandbox/associations", hs_errors(associations), methods=["POST", "DELETE"]),
        Route("/__sandbox/merge", hs_errors(merge), methods=["POST"]),
        Route("/__sandbox/lists/{id}/members", hs_errors(list_members), methods=["POST"]),
        Route("/__sandbox/owners", hs_errors(owners), methods=["POST"]),
        Route("/__sandbox/oauth-app", hs_errors(oauth_app), methods=["GET", "POST"]),
    ]
