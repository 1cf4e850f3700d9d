"""The Salesforce sandbox's HTTP surface: OAuth and SOAP login, REST resources, collections and limits."""

from __future__ import annotations

import base64
import datetime as dt
import html
import re
import time
from contextvars import ContextVar
from pathlib import Path
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_sandbox.faults import FaultPlan
from crm_sandbox.ids import normalize_id
from crm_sandbox.middleware import SandboxMiddleware
from crm_sandbox.salesforce import bulk2, schema
from crm_sandbox.salesforce.bodies import flag, json_object
from crm_sandbox.salesforce.bulk1 import Bulk1
from crm_sandbox.salesforce.errors import (
    SfError,
    SfErrors,
    allow,
    http_error,
    invalid_session,
    method_not_allowed,
    no_resource,
    not_an_id,
    not_deserializable,
    not_found,
)
from crm_sandbox.salesforce.oauth import ConnectedApp
from crm_sandbox.salesforce.query import DEFAULT_BATCH, Cursors, compile_or_error
from crm_sandbox.salesforce.rules import format_datetime, parse_datetime
from crm_sandbox.salesforce.store import OrgActions, SalesforceStore, sobject_or_error
from crm_sandbox.salesforce.versions import is_served, resources, versions_body
from crm_sandbox.soap import (
    Envelope,
    MergeRequest,
    merge_requests,
    parse_envelope,
    soap_api_fault,
    soap_client_fault,
    soap_fault,
    soap_login_response,
    soap_merge_response,
)

_DATA = re.compile(r"^/services/data/v(\d+\.\d)/?(.*)$")
_COLLECTION_LIMIT = 200
_SOAP_PREFIX = "/services/Soap/u/"
# The SOAP call the request in hand carries (set by SoapCalls before the middleware classifies the request).
_SOAP_CALL: ContextVar[str] = ContextVar("soap_call", default="")
# Usage labels per SOAP call: login is free like the OAuth token endpoint, every other call is an API call.
_SOAP_ENDPOINTS = {"login": "auth:soap/login", "merge": "soap/merge"}


def sf_json(body, status: int = 200, headers: dict | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def error_response(err: SfError | SfErrors) -> Response:
    errors = err.errors if isinstance(err, SfErrors) else [err]
    if errors[0].status == 300:
        return sf_json(errors[0].extra.get("records", []), status=300)
    return sf_json([e.rest() for e in errors], status=errors[0].status, headers=errors[0].headers or None)


class SalesforceService:
    """The Salesforce sandbox: store, counters, faults and the ASGI app over them."""

    system = "salesforce"

    def __init__(self, directory: Path, base_url: str = "https://127.0.0.1:8443"):
        self.store = SalesforceStore(directory)
        self.settings = self.store.settings
        self.usage = self.store.usage
        self.base_url = base_url
        self.faults = FaultPlan.build("salesforce", **self.settings.get("faults", {}))
        self.cursors = Cursors(self.store.directory / "salesforce.sqlite3", "01g5g")
        self.bulk = bulk2.Bulk2(self)
        self.connected_app = ConnectedApp(self)
        self.bulk1 = Bulk1(self)
        routes = [
            Route("/services/oauth2/token", self.oauth_token, methods=["POST"]),
            Route("/services/oauth2/authorize", self.connected_app.authorize, methods=["GET", "POST"]),
            Route("/services/Soap/u/{version}", self.soap, methods=["POST"]),
            Route("/services/Soap/u/{version}/{org_id}", self.soap, methods=["POST"]),  # login's serverUrl
            Route("/services/data", self.versions, methods=["GET"]),
            Route("/services/data/", self.versions, methods=["GET"]),
            Route("/services/data/{rest:path}", self.data_api, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
            *self.bulk1.routes(),
        ]
        from crm_sandbox.salesforce.admin import admin_routes

        self.app = SoapCalls(SandboxMiddleware(Starlette(routes=routes + admin_routes(self),
                                                         exception_handlers={404: http_error, 405: http_error}), self))

    # ---- middleware hooks -----------------------------------------------------------------------------
    def classify(self, method: str, path: str) -> str | None:
        if path == "/services/oauth2/token":
            return "auth:oauth2/token"
        if path.startswith("/services/async/"):  # Bulk API 1.0: job, batch, result resources
            return f"{method} async/" + "/".join("{id}" if p[:3] in ("750", "751", "752") else p
                                                 for p in path.split("/")[4:])
        if path.startswith(_SOAP_PREFIX):
            return _SOAP_ENDPOINTS.get(_SOAP_CALL.get(), "soap/unknown")
        m = _DATA.match(path)
        if not m:
            return None
        return f"{method} {endpoint_template(m.group(2))}"

    def error_response(self, status: int, scope: Scope) -> Response:
        codes = {500: "UNKNOWN_EXCEPTION", 502: "SERVER_UNAVAILABLE", 503: "SERVER_UNAVAILABLE",
                 504: "REQUEST_RUNNING_TOO_LONG"}
        messages = {500: "An unexpected error occurred. Please include this ErrorId if you contact support: "
                         "1875212470-61377 (-1212345678)",
                    503: "Server is temporarily unavailable. Please try again later."}
        if soap_api_call(scope):
            return soap_response(soap_api_fault(codes.get(status, "UNKNOWN_EXCEPTION"),
                                                messages.get(status, "Service unavailable")), status)
        return sf_json([{"errorCode": codes.get(status, "UNKNOWN_EXCEPTION"),
                         "message": messages.get(status, "Service unavailable")}], status=status)

    def fault_response(self, kind: str, scope: Scope) -> Response | None:
        if kind == "lock_row" and soap_api_call(scope):
            scope["state"]["lock_row"] = True  # a SOAP DML call reports the lock in each of its results
            return None
        if kind == "lock_row":
            return sf_json([{"errorCode": "UNABLE_TO_LOCK_ROW", "fields": [], "message":
                             "unable to obtain exclusive access to this record or 1 records: 0035g00000AbCdE"}],
                           status=400)
        if kind == "expire_session":
            token = bearer(scope) or soap_session(scope)
            if token:
                self.store.revoke_sessions(token)
            return None  # the request now fails authentication like any expired session
        if kind == "daily_limit":
            # Spend what is left, this request included, so the gate refuses it as an exhausted org would.
            self.usage.add("fault:daily_limit", max(0, self.allocation - self.usage.today() + 1))
            return None
        return None

    @property
    def allocation(self) -> int:
        return int(self.settings["allocation"])

    def gate(self, scope: Scope, endpoint: str) -> Response | None:
        if endpoint.startswith("auth:"):
            return None
        if self.usage.today() > self.allocation:
            if soap_api_call(scope):
                return soap_response(soap_api_fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), 500)
            return sf_json([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                           status=403)
        return None

    def extra_headers(self, scope: Scope, endpoint: str) -> list[tuple[bytes, bytes]]:
        if endpoint.startswith("auth:"):
            return []
        used = min(self.usage.today(), self.allocation)
        return [(b"sforce-limit-info", f"api-usage={used}/{self.allocation}".encode())]

    # ---- auth -------------------------------------------------------------------------------------------
    def _token_body(self, user_id: str) -> dict:
        token = self.store.new_session(user_id)
        org = self.settings["org_id"]
        return {"access_token": token, "instance_url": self.base_url, "token_type": "Bearer",
                "id": f"{self.base_url}/id/{org}/{user_id}", "issued_at": str(int(time.time() * 1000)),
                "signature": base64.b64encode(token[-32:].encode()).decode(), "scope": "api"}

    def _user_by_username(self, username: str) -> str | None:
        sobject = schema.SCHEMA["User"]
        ids = self.store.find_ids(sobject, "Username", username)
        return ids[0] if ids else None

    async def oauth_token(self, request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        get = lambda k: (form.get(k) or [""])[0]  # noqa: E731
        fail = sf_json({"error": "invalid_grant", "error_description": "authentication failure"}, status=400)
        grant = get("grant_type")
        s = self.settings
        if grant == "client_credentials":
            client_id, client_secret = get("client_id"), get("client_secret")
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("basic "):
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            if (client_id, client_secret) != (s["client_id"], s["client_secret"]):
                return sf_json({"error": "invalid_client", "error_description": "invalid client credentials"},
                               status=400)
            return sf_json(self._token_body(s["admin_user_id"]))
        if grant == "password":
            if (get("client_id"), get("client_secret")) != (s["client_id"], s["client_secret"]):
                return sf_json({"error": "invalid_client_id", "error_description": "client identifier invalid"},
                               status=400)
            user = self._user_by_username(get("username"))
            if user is None or get("password") not in (s["password"], s["password"] + s["security_token"]):
                return fail
            return sf_json(self._token_body(user))
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return sf_json(*self.connected_app.jwt_bearer({k: get(k) for k in form}))
        if grant in ("authorization_code", "refresh_token"):
            client = (get("client_id"), get("client_secret"))
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("basic "):
                client = tuple(base64.b64decode(auth[6:]).decode().partition(":")[::2])
            handler = getattr(self.connected_app, grant)
            return sf_json(*handler({k: get(k) for k in form}, client))
        return sf_json({"error": "unsupported_grant_type", "error_description": "grant type not supported"},
                       status=400)

    async def soap(self, request: Request) -> Response:
        """The SOAP partner endpoint: the call is the Body's first element (login, merge), whatever SOAPAction says."""
        envelope = request.scope.get("state", {}).get("soap") or parse_envelope(await request.body())
        if envelope.error:
            return soap_response(soap_client_fault(envelope.error), 500)
        if envelope.call == "login":
            return await self.soap_login(request)
        if envelope.call == "merge":
            return self.soap_merge(request.scope, envelope)
        namespace = envelope.call_tag.rpartition("}")[0] + "}" if "}" in envelope.call_tag else ""
        return soap_response(soap_client_fault(f"No operation available for request {namespace}{envelope.call}, "
                                               "please check the WSDL for the service."), 500)

    async def soap_login(self, request: Request) -> Response:
        body = (await request.body()).decode()
        username = re.search(r"<(?:\w+:)?username>(.*?)</(?:\w+:)?username>", body, re.S)
        password = re.search(r"<(?:\w+:)?password>(.*?)</(?:\w+:)?password>", body, re.S)
        s = self.settings
        user = self._user_by_username(html.unescape(username.group(1))) if username else None
        secret = html.unescape(password.group(1)) if password else None
        if user is None or secret not in (s["password"] + s["security_token"], s["password"]):
            return Response(soap_fault("INVALID_LOGIN", "Invalid username, password, security token; or user "
                                       "locked out."), status_code=500, media_type="text/xml")
        token = self.store.new_session(user)
        version = request.path_params["version"]
        return Response(soap_login_response(self.base_url, version, s["org_id"], user, token, s["username"],
                                            s["session_seconds"]), media_type="text/xml")

    def soap_merge(self, scope: Scope, envelope: Envelope) -> Response:
        """merge(): each request merges one or two records into its master; failures are per result (HTTP 200)."""
        user = self.store.session_user(envelope.session_id or "")
        if user is None:
            return soap_response(soap_api_fault(
                "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"), 500)
        merges = merge_requests(envelope.payload)
        try:
            self._check_collection_size(len(merges))
        except SfError as exc:
            return soap_response(soap_api_fault(exc.code, exc.message), 500)
        locked = bool(scope.get("state", {}).get("lock_row"))
        results = [self._merge_one(r, user, locked) for r in merges]
        used = min(self.usage.today(), self.allocation)
        return soap_response(soap_merge_response(results, used, self.allocation))

    def _merge_one(self, request: MergeRequest, user: str, locked: bool) -> dict:
        try:
            if locked:
                raise SfError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records: "
                              f"{request.master_id}")
            if not request.type_name:
                raise SfError("INVALID_TYPE", "Must send a concrete entity type.")
            if not request.master_id:
                raise SfError("MISSING_ARGUMENT", "masterRecord Id not specified", ["Id"])
            sobject = schema.get_sobject(request.type_name)
            related = self._related_ids(sobject, request.loser_ids) if sobject else []
            # The store's own merge, as the admin route's; masterRecord's field elements are set on the master.
            result = OrgActions(self.store).merge(request.type_name, request.master_id, request.loser_ids, user,
                                                  request.field_values or None)
        except (SfError, SfErrors) as exc:
            errors = exc.errors if isinstance(exc, SfErrors) else [exc]
            return {"errors": [e.collection() for e in errors]}
        return {**result, "updatedRelatedIds": related}

    def _related_ids(self, sobject, loser_ids: list[str]) -> list[str]:
        """The records a merge reparents (the references the store's merge moves), for updatedRelatedIds."""
        losers = [i for i in (normalize_id(x) for x in loser_ids) if i]
        found: dict[str, None] = {}
        if not losers:
            return []
        marks = ", ".join("?" for _ in losers)
        for child in schema.SCHEMA.values():
            for f in child.fields:
                if (f.type == "reference" and sobject.name in f.reference_to and f.name != "MasterRecordId"
                        and not f.name.startswith("Converted")):
                    rows = self.store.conn.execute(
                        f'SELECT "Id" FROM "{child.name}" WHERE "{f.name}" IN ({marks})', losers).fetchall()
                    found.update((r[0], None) for r in rows)
        return list(found)

    async def versions(self, request: Request) -> Response:
        return sf_json(versions_body(self.settings["api_version"]))

    # ---- REST dispatch ----------------------------------------------------------------------------------
    async def data_api(self, request: Request) -> Response:
        if request.url.path == "/services/data/":  # the versions resource, with a method other than GET
            return method_not_allowed(request.method, ["GET", "HEAD"])
        m = _DATA.match(request.url.path)
        if not m or not is_served(m.group(1), self.settings["api_version"]):  # every listed version, no other
            return error_response(no_resource())
        user = self.store.session_user(bearer(request.scope) or "")
        if user is None:
            return error_response(invalid_session())
        parts = [p for p in m.group(2).split("/") if p]
        try:
            return await self.route(request, parts, user)
        except (SfError, SfErrors) as exc:
            return error_response(exc)

    async def route(self, request: Request, parts: list[str], user: str) -> Response:
        head = parts[0] if parts else ""
        if head in ("query", "queryAll") and len(parts) <= 2:
            allow(request.method, ["GET"])
            include_deleted = head == "queryAll"
            if len(parts) == 2:
                return sf_json(self.next_page(parts[1], include_deleted, request))
            return sf_json(self.run_query(request.query_params.get("q", ""), include_deleted, request))
        if head == "sobjects":
            return await self.sobjects(request, parts[1:], user)
        if head == "composite" and len(parts) >= 2 and parts[1] == "sobjects":
            return await self.collections(request, parts[2:], user)
        if head == "limits" and len(parts) == 1:
            allow(request.method, ["GET"])
            return sf_json(self.limits())
        if head == "jobs":
            return await self.bulk.route(request, parts[1:], user)
        if not parts:  # the version's root lists its resources
            allow(request.method, ["GET"])
            return sf_json(resources(_DATA.match(request.url.path).group(1)))
        raise no_resource()

    # ---- queries ----------------------------------------------------------------------------------------
    def _batch_size(self, request: Request) -> int:
        options = request.headers.get("sforce-query-options", "")
        m = re.search(r"batchSize\s*=\s*(\d+)", options)
        return max(200, min(DEFAULT_BATCH, int(m.group(1)))) if m else DEFAULT_BATCH

    def run_query(self, soql: str, include_deleted: bool, request: Request) -> dict:
        if not soql.strip():
            raise SfError("MALFORMED_QUERY", "unexpected token: <EOF>")
        query = compile_or_error(soql, include_deleted)
        cursor = self.cursors.open(query)
        if query.count_only:
            cursor.close()
            if query.count_field:  # COUNT(Id) is an aggregate: one AggregateResult row
                return {"totalSize": 1, "done": True,
                        "records": [{"attributes": {"type": "AggregateResult"}, "expr0": cursor.total}]}
            return {"totalSize": cursor.total, "done": True, "records": []}
        return self._page(cursor, None, include_deleted, self._batch_size(request))

    def next_page(self, locator_offset: str, include_deleted: bool, request: Request) -> dict:
        locator, _, _ = locator_offset.partition("-")
        cursor = self.cursors.get(locator)
        return self._page(cursor, locator, include_deleted, self._batch_size(request))

    def _page(self, cursor, locator: str | None, include_deleted: bool, batch: int) -> dict:
        rows = cursor.rows.fetchmany(batch)
        from crm_sandbox.salesforce.soql import record_json

        version = self.settings["api_version"]
        records = [record_json(cursor.query, row, version) for row in rows]
        cursor.served += len(rows)
        result = {"totalSize": cursor.total, "done": True, "records": records}
        if cursor.served < cursor.total and rows:
            locator = locator or self.cursors.keep(cursor)
            kind = "queryAll" if include_deleted else "query"
            result["done"] = False
            result["nextRecordsUrl"] = f"/services/data/v{version}/{kind}/{locator}-{cursor.served}"
        elif locator:
            self.cursors.drop(locator)
        else:
            cursor.close()
        return result

    # ---- sObject resources ------------------------------------------------------------------------------
    async def sobjects(self, request: Request, parts: list[str], user: str) -> Response:
        """sObject resources. Each path shape takes its own methods (405 with Allow otherwise); a record segment that
        is no id is read as an external id that does not exist, as Salesforce does."""
        version = self.settings["api_version"]
        if not parts:
            allow(request.method, ["GET"])
            return sf_json(schema.describe_global(version))
        sobject = schema.get_sobject(parts[0])
        if sobject is None:
            raise no_resource()
        rest = parts[1:]
        allow_save = allows_save(request)
        if not rest:
            if allow(request.method, ["GET", "POST"]) == "GET":
                return sf_json({"objectDescribe": {k: v for k, v in schema.describe_sobject(sobject, version).items()
                                                   if k not in ("fields", "childRelationships")}, "recentItems": []})
            rid = self.store.create(sobject, await json_object(request, sobject.name), user, allow_save)
            return sf_json({"id": rid, "success": True, "errors": []}, status=201)
        if len(rest) == 1 and rest[0] in ("describe", "updated", "deleted"):
            allow(request.method, ["GET"])
            if rest[0] == "describe":
                return sf_json(schema.describe_sobject(sobject, version))
            return sf_json(self.changed_ids(sobject, rest[0], request))
        if len(rest) == 1:
            record_id = rest[0]
            method = allow(request.method, ["GET", "PATCH", "DELETE"] + (["POST"] if record_id == "Id" else []))
            if method == "POST":  # sobjects/{type}/Id: an upsert on Id with no value creates
                rid = self.store.create(sobject, await json_object(request, sobject.name), user, allow_save)
                return sf_json({"id": rid, "success": True, "errors": [], "created": True}, status=201)
            if normalize_id(record_id) is None:
                raise not_an_id(record_id)
            if method == "GET":
                row = self.store.live_row(sobject, record_id)
                fields = request.query_params.get("fields")
                return sf_json(self.store.to_json(sobject, row, fields.split(",") if fields else None))
            if method == "PATCH":
                self.store.update(sobject, record_id, await json_object(request, sobject.name), user, allow_save)
                return Response(status_code=204)
            self.store.delete(sobject, record_id, user)
            return Response(status_code=204)
        if len(rest) == 2:
            field_name, value = rest
            method = allow(request.method, ["GET", "PATCH", "DELETE"])
            field = sobject.field(field_name)
            if field is None or not (field.external_id or field.id_lookup):
                raise no_resource()
            if method == "PATCH":
                data = await json_object(request, sobject.name)
                rid, created = self.store.upsert(sobject, field.name, value, data, user, allow_save)
                return sf_json({"id": rid, "success": True, "errors": [], "created": created},
                               status=201 if created else 200)
            ids = [normalize_id(value)] if field.name == "Id" else self.store.find_ids(sobject, field.name, value)
            ids = [i for i in ids if i]
            if not ids:
                raise not_found()
            if len(ids) > 1:
                return sf_json([f"/services/data/v{version}/sobjects/{sobject.name}/{i}" for i in ids], 300)
            if method == "DELETE":
                self.store.delete(sobject, ids[0], user)
                return Response(status_code=204)
            return sf_json(self.store.to_json(sobject, self.store.live_row(sobject, ids[0])))
        raise no_resource()

    def changed_ids(self, sobject, kind: str, request: Request) -> dict:
        start = parse_datetime(request.query_params.get("start", ""))
        end = parse_datetime(request.query_params.get("end", ""))
        if start is None or end is None:
            raise SfError("INVALID_REPLICATION_DATE", "start and end must be valid dateTime values")
        now = dt.datetime.now(dt.UTC)
        if start < now - dt.timedelta(days=30):
            raise SfError("INVALID_REPLICATION_DATE", "startDate cannot be more than 30 days ago")
        end = min(end, now)
        lo, hi = format_datetime(start), format_datetime(end)
        if kind == "updated":
            rows = self.store.conn.execute(
                f'SELECT "Id" FROM "{sobject.name}" WHERE "IsDeleted" = 0 AND "SystemModstamp" >= ? '
                f'AND "SystemModstamp" < ? ORDER BY "SystemModstamp", "Id"', (lo, hi)).fetchall()
            if len(rows) > 600_000:
                raise SfError("EXCEEDED_ID_LIMIT", "too many ids")
            return {"ids": [r[0] for r in rows], "latestDateCovered": hi}
        rows = self.store.conn.execute(
            f'SELECT "Id", "_DeletedDate" FROM "{sobject.name}" WHERE "IsDeleted" = 1 AND "_DeletedDate" >= ? '
            f'AND "_DeletedDate" < ? ORDER BY "_DeletedDate", "Id"', (lo, hi)).fetchall()
        earliest = format_datetime(now - dt.timedelta(days=15))
        return {"deletedRecords": [{"id": r[0], "deletedDate": r[1]} for r in rows],
                "earliestDateAvailable": earliest, "latestDateCovered": hi}

    # ---- sObject collections ----------------------------------------------------------------------------
    async def collections(self, request: Request, parts: list[str], user: str) -> Response:
        """sObject collections: create, update and delete across types; retrieve and upsert on one type."""
        params = request.query_params
        if len(parts) > 2:
            raise no_resource()
        if not parts:
            method = allow(request.method, ["POST", "PATCH", "DELETE"])
        elif len(parts) == 1:
            method = allow(request.method, ["GET", "POST"])
        else:
            method = allow(request.method, ["PATCH"])
        sobject = sobject_or_error(parts[0]) if parts else None
        if method == "DELETE":
            ids = [i for i in params.get("ids", "").split(",") if i]
            all_or_none = flag(params.get("allOrNone", "false"), "allOrNone")
            self._check_collection_size(len(ids))
            return sf_json(self._run_collection(ids, all_or_none, lambda rid: self._delete_any(rid, user)))
        if sobject is not None and len(parts) == 1:  # retrieve: ids and fields in the query, or in a POST body
            if method == "POST":
                body = await json_object(request, "SObjectCollectionRetrieveRequest")
                ids, fields = body.get("ids"), body.get("fields")
                for name, value in (("ids", ids), ("fields", fields)):
                    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                        raise not_deserializable("java.util.List<String>", value, [name])
            else:
                ids = [i for i in params.get("ids", "").split(",") if i]
                fields = [f for f in params.get("fields", "").split(",") if f]
            self._check_collection_size(len(ids))
            out = []
            for rid in ids:
                row = self.store.row(sobject, rid)
                live = row is not None and not row["IsDeleted"]
                out.append(self.store.to_json(sobject, row, fields or None) if live else None)
            return sf_json(out)
        body = await json_object(request, "SObjectCollectionRequest")
        records = body.get("records")
        if not isinstance(records, list):
            raise SfError("JSON_PARSER_ERROR", "The request body must contain a records array", ["records"])
        for record in records:  # a record that is no object fails the whole request, as Salesforce's parser does
            if not isinstance(record, dict):
                raise not_deserializable("SObject", record, ["records"])
            if not isinstance(record.get("attributes", {}), dict):
                raise not_deserializable("SObjectAttributes", record["attributes"], ["attributes"])
        all_or_none = body.get("allOrNone", False)
        if not isinstance(all_or_none, bool):
            raise not_deserializable("boolean", all_or_none, ["allOrNone"])
        self._check_collection_size(len(records))
        allow_save = allows_save(request)
        if method == "POST":
            return sf_json(self._run_collection(records, all_or_none,
                                                lambda r: self._create_any(r, user, allow_save)))
        if sobject is None:
            return sf_json(self._run_collection(records, all_or_none,
                                                lambda r: self._update_any(r, user, allow_save)))
        field = sobject.field(parts[1])
        if field is None or not (field.external_id or field.name == "Id"):
            raise SfError("INVALID_FIELD", f"Field {parts[1]} is not an external id field on {sobject.name}")
        return sf_json(self._run_collection(records, all_or_none,
                                            lambda r: self._upsert_any(sobject, field.name, r, user, allow_save)))

    @staticmethod
    def _check_collection_size(count: int) -> None:
        if count > _COLLECTION_LIMIT:
            raise SfError("EXCEEDED_ID_LIMIT",
                          "record limit reached. cannot submit more than 200 records into this call")

    def _run_collection(self, items: list, all_or_none: bool, op) -> list[dict]:
        conn = self.store.conn
        results: list[dict] = []
        failed = False
        conn.execute("BEGIN")
        try:
            for item in items:
                try:
                    results.append({"success": True, "errors": [], **op(item)})
                except (SfError, SfErrors) as exc:
                    errs = exc.errors if isinstance(exc, SfErrors) else [exc]
                    results.append({"success": False, "errors": [e.collection() for e in errs]})
                    failed = True
            if all_or_none and failed:
                conn.execute("ROLLBACK")
                rolled = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because "
                          "not all records were valid and the request was using AllOrNone header", "fields": []}
                return [r if not r["success"] else {"success": False, "errors": [rolled]} for r in
                        [{k: v for k, v in r.items() if k != "id"} if r["success"] else r for r in results]]
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return results

    def _typed(self, record: dict):
        if not isinstance(record, dict):
            raise SfError("JSON_PARSER_ERROR", "each record must be a JSON object")
        type_name = (record.get("attributes") or {}).get("type")
        if not type_name:
            raise SfError("INVALID_TYPE", "Must send a concrete entity type.")
        sobject = schema.get_sobject(type_name)
        if sobject is None:
            raise SfError("INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
        return sobject

    def _create_any(self, record: dict, user: str, allow_save: bool) -> dict:
        sobject = self._typed(record)
        if any(k.lower() == "id" for k in record):
            raise SfError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        return {"id": self.store.create(sobject, record, user, allow_save)}

    def _update_any(self, record: dict, user: str, allow_save: bool) -> dict:
        sobject = self._typed(record)
        rid = next((v for k, v in record.items() if k.lower() == "id"), None)
        if not rid:
            raise SfError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        data = {k: v for k, v in record.items() if k.lower() != "id"}
        self.store.update(sobject, rid, data, user, allow_save)
        return {"id": normalize_id(rid)}

    def _upsert_any(self, sobject, field_name: str, record: dict, user: str, allow_save: bool) -> dict:
        value = next((v for k, v in record.items() if k.lower() == field_name.lower()), None)
        if value in (None, ""):
            raise SfError("MISSING_ARGUMENT", f"{field_name} not specified", [field_name])
        rid, created = self.store.upsert(sobject, field_name, str(value), record, user, allow_save)
        return {"id": rid, "created": created}

    def _delete_any(self, record_id: str, user: str) -> dict:
        rid = normalize_id(record_id)
        type_name = self.store.type_of_id(rid) if rid else None
        if type_name is None:
            raise SfError("MALFORMED_ID", f"malformed id {record_id}")
        self.store.delete(schema.SCHEMA[type_name], rid, user)
        return {"id": rid}

    def limits(self) -> dict:
        used = min(self.usage.today(), self.allocation)
        return {
            "DailyApiRequests": {"Max": self.allocation, "Remaining": self.allocation - used},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000 - self.bulk.jobs_today("query")},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000 - self.bulk.jobs_today("ingest")},
            "DataStorageMB": {"Max": 1024, "Remaining": 1024},
            "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
        }


def soap_response(body: str, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="text/xml")


def soap_api_call(scope: Scope) -> bool:
    """Whether the middleware counted this request as a SOAP API call (faults and limits answer as SOAP faults)."""
    return scope.get("state", {}).get("endpoint", "").startswith("soap/")


def soap_session(scope: Scope) -> str | None:
    envelope = scope.get("state", {}).get("soap")
    return envelope.session_id if envelope else None


class _Replay:
    """The body SoapCalls read, handed to the app again. Exposes the connection's transport as uvicorn's receive
    does, so the middleware's injected drop still cuts the connection."""

    def __init__(self, body: bytes, receive: Receive):
        self._body, self._receive, self._sent = body, receive, False
        self.transport = getattr(getattr(receive, "__self__", None), "transport", None)

    async def receive(self) -> Message:
        if self._sent:
            return await self._receive()
        self._sent = True
        return {"type": "http.request", "body": self._body, "more_body": False}


class SoapCalls:
    """Reads a SOAP request's envelope before the middleware, so it counts, gates and faults the call the Body
    carries (login free, merge an API call)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_SOAP_PREFIX):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before its envelope arrived
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        envelope = parse_envelope(body)
        scope.setdefault("state", {})["soap"] = envelope
        token = _SOAP_CALL.set(envelope.call)
        try:
            await self.app(scope, _Replay(body, receive).receive, send)
        finally:
            _SOAP_CALL.reset(token)


def allows_save(request: Request) -> bool:
    """Sforce-Duplicate-Rule-Header: allowSave=true lets a write pass alert-type duplicate rules."""
    header = request.headers.get("sforce-duplicate-rule-header", "")
    return "allowsave=true" in header.replace(" ", "").lower()


def bearer(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            text = value.decode()
            return text[7:].strip() if text.lower().startswith("bearer ") else None
        if key == b"x-sfdc-session":
            return value.decode().strip()
    return None


def endpoint_template(rest: str) -> str:
    """Collapse ids, locators and values so usage counts group by resource: ``sobjects/Lead/{id}``."""
    parts = [p for p in rest.split("/") if p]
    if not parts:
        return "versions"
    head = parts[0]
    if head in ("query", "queryAll"):
        return f"{head}/{{locator}}" if len(parts) > 1 else head
    if head == "sobjects":
        if len(parts) <= 1:
            return "sobjects"
        t = schema.get_sobject(parts[1])
        name = t.name if t else parts[1]
        if len(parts) == 2:
            return f"sobjects/{name}"
        if len(parts) == 3:
            return f"sobjects/{name}/{parts[2]}" if parts[2] in ("describe", "updated", "deleted", "Id") \
                else f"sobjects/{name}/{{id}}"
        return f"sobjects/{name}/{parts[2]}/{{value}}"
    if head == "jobs" and len(parts) >= 2:
        tail = "/".join(parts[3:])
        return f"jobs/{parts[1]}" + ("/{id}" if len(parts) > 2 else "") + (f"/{tail.lower()}" if tail else "")
    return "/".join(parts)
