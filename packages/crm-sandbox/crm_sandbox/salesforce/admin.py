"""Salesforce-only admin routes: what users do in the UI (convert, merge, edit as a user) and org settings."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crm_sandbox.admin import AdminError, admin_endpoint, common_admin_routes, read_json
from crm_sandbox.salesforce import custom, schema
from crm_sandbox.salesforce.errors import SfError, SfErrors
from crm_sandbox.salesforce.store import OrgActions, sobject_or_error


def admin_routes(service) -> list[Route]:
    store = service.store
    actions = OrgActions(store)

    def acting_user(value: str | None) -> str:
        """A User id, username or email; the org's admin user when not given."""
        if not value:
            return store.settings["admin_user_id"]
        user_type = schema.SCHEMA["User"]
        row = store.row(user_type, value)
        if row is not None:
            return row["Id"]
        for field in ("Username", "Email"):
            ids = store.find_ids(user_type, field, value)
            if ids:
                return ids[0]
        raise AdminError(f"no such user: {value}")

    def sf_errors(handler):
        async def wrapped(request: Request):
            try:
                return await handler(request)
            except (SfError, SfErrors) as exc:
                errors = exc.errors if isinstance(exc, SfErrors) else [exc]
                return JSONResponse([e.rest() for e in errors], status_code=errors[0].status)

        return admin_endpoint(wrapped)

    async def convert(request: Request):
        body = await read_json(request)
        result = actions.convert_lead(
            body["lead_id"], acting_user(body.get("as_user")), account_id=body.get("account_id"),
            contact_id=body.get("contact_id"), create_opportunity=bool(body.get("create_opportunity", True)),
            opportunity_name=body.get("opportunity_name"),
            converted_status=body.get("converted_status", "Closed - Converted"))
        return JSONResponse(result)

    async def merge(request: Request):
        body = await read_json(request)
        result = actions.merge(body["type"], body["master_id"], list(body["merge_ids"]),
                               acting_user(body.get("as_user")), body.get("fields"))
        return JSONResponse(result)

    async def records(request: Request):
        sobject = sobject_or_error(request.path_params["type"])
        record_id = request.path_params.get("id")
        user = acting_user(request.query_params.get("as_user"))
        if request.method == "POST":
            return JSONResponse({"id": store.create(sobject, await read_json(request), user)}, status_code=201)
        if request.method == "PATCH":
            # ?unstamped=true: a change that moves no stamp (a formula or roll-up value), for drift tests.
            store.update(sobject, record_id, await read_json(request), user,
                         stamped=request.query_params.get("unstamped", "").lower() != "true")
            return Response(status_code=204)
        if request.method == "DELETE":
            store.delete(sobject, record_id, user)
            return Response(status_code=204)
        return JSONResponse(store.to_json(sobject, store.live_row(sobject, record_id)))

    async def duplicate_rules(request: Request):
        if request.method == "POST":
            body = await read_json(request)
            bad = {k: v for k, v in body.items() if k not in ("Lead", "Contact") or v not in ("block", "alert", "off")}
            if bad:
                raise AdminError(f"duplicate rules take Lead/Contact -> block|alert|off, got {bad}")
            rules = {**store.settings["duplicate_rules"], **body}
            store.settings.set("duplicate_rules", {k: v for k, v in rules.items() if v != "off"})
        return JSONResponse(store.settings["duplicate_rules"])

    async def sessions(request: Request):
        body = await read_json(request)
        if "session_seconds" in body:
            store.settings.set("session_seconds", int(body["session_seconds"]))
        revoked = store.revoke_sessions(body.get("token")) if body.get("expire", True) else 0
        return JSONResponse({"revoked": revoked, "session_seconds": store.settings["session_seconds"]})

    async def connected_app(request: Request):
        """The connected app's callback URLs and certificate (JWT bearer), as an admin sets them in Setup."""
        body = await read_json(request) if request.method == "POST" else {}
        return JSONResponse(service.connected_app.configure(body))

    async def sobjects(request: Request):
        """Custom objects: GET lists their names and key prefixes; POST defines one (salesforce/custom.py)."""
        if request.method == "POST":
            return JSONResponse(custom.define(store, await read_json(request)), status_code=201)
        return JSONResponse([{"name": o.name, "keyPrefix": o.key_prefix} for o in schema.SCHEMA.values()
                             if o.name.endswith("__c")])

    return common_admin_routes(service) + [
        Route("/__sandbox/sobjects", sf_errors(sobjects), methods=["GET", "POST"]),
        Route("/__sandbox/convert-lead", sf_errors(convert), methods=["POST"]),
        Route("/__sandbox/merge", sf_errors(merge), methods=["POST"]),
        Route("/__sandbox/records/{type}", sf_errors(records), methods=["POST"]),
        Route("/__sandbox/records/{type}/{id}", sf_errors(records), methods=["GET", "PATCH", "DELETE"]),
        Route("/__sandbox/duplicate-rules", sf_errors(duplicate_rules), methods=["GET", "POST"]),
        Route("/__sandbox/sessions/expire", sf_errors(sessions), methods=["POST"]),
        Route("/__sandbox/connected-app", sf_errors(connected_app), methods=["GET", "POST"]),
    ]
