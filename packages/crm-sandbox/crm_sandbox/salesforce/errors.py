"""Salesforce's error shapes: the JSON-array REST body and the statusCode form used inside collection results."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class SfError(Exception):
    """One Salesforce API error with the HTTP status the REST resource would answer."""

    def __init__(self, code: str, message: str, fields: Sequence[str] | None = (), status: int = 400,
                 extra: dict | None = None, headers: dict | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = None if fields is None else list(fields)  # None: the REST body has no fields key
        self.status = status
        self.extra = extra or {}
        self.headers = headers or {}

    def rest(self) -> dict:
        """The error as REST returns it in its array body (key ``errorCode``)."""
        body = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            body["fields"] = self.fields
        body.update(self.extra)
        return body

    def collection(self) -> dict:
        """The error as sObject collections return it (key ``statusCode``)."""
        body = {"statusCode": self.code, "message": self.message, "fields": self.fields or []}
        body.update(self.extra)
        return body

    def bulk(self) -> str:
        """The error as a Bulk API 2.0 ``sf__Error`` cell."""
        return f"{self.code}:{self.message}:{','.join(self.fields or ())} --"


class SfErrors(Exception):
    """Several errors for one record (Salesforce reports all field errors of a record together)."""

    def __init__(self, errors: list[SfError]):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors

    @property
    def status(self) -> int:
        return self.errors[0].status


def not_found() -> SfError:
    return SfError("NOT_FOUND", "The requested resource does not exist", status=404)


def entity_deleted() -> SfError:
    return SfError("ENTITY_IS_DELETED", "entity is deleted", status=404)


def no_resource() -> SfError:
    """404 for a path that names no REST resource (its body, unlike a missing record's, has no fields key)."""
    return SfError("NOT_FOUND", "The requested resource does not exist", None, status=404)


def not_an_id(value: str) -> SfError:
    """404 for a record path segment that is no record id: Salesforce then reads it as an external id."""
    return SfError("NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {value}",
                   status=404)


def no_body() -> SfError:
    return SfError("JSON_PARSER_ERROR", "The HTTP entity body is required, but this request has no entity body.")


def _json_token(value) -> tuple[str, str]:
    """Jackson's token name and text for the first token of a JSON value."""
    if isinstance(value, dict):
        return "START_OBJECT", "{"
    if isinstance(value, list):
        return "START_ARRAY", "["
    if value is None:
        return "VALUE_NULL", "null"
    if isinstance(value, bool):
        return ("VALUE_TRUE", "true") if value else ("VALUE_FALSE", "false")
    if isinstance(value, int):
        return "VALUE_NUMBER_INT", str(value)
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT", str(value)
    return "VALUE_STRING", str(value)


def not_deserializable(target: str, value, fields: Sequence[str] = ()) -> SfError:
    """JSON_PARSER_ERROR for a JSON value of the wrong kind where ``target`` was expected (Jackson's words)."""
    token, text = _json_token(value)
    return SfError("JSON_PARSER_ERROR", f"Cannot deserialize instance of {target} from {token} value {text} "
                   "or request may be missing a required field at [line:1, column:1]", fields)


def not_allowed(method: str, allowed: Sequence[str]) -> SfError:
    """405 for a resource that exists but does not take the method; the Allow list in Salesforce's order."""
    listed = ",".join(sorted(set(allowed), key=lambda m: (*_METHOD_ORDER, m).index(m)))
    return SfError("METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {listed}", None,
                   status=405, headers={"Allow": listed})


def allow(method: str, allowed: Sequence[str]) -> str:
    """The method to dispatch on (HEAD as GET) when the resource takes it; else raises the resource's 405."""
    if method not in allowed and not (method == "HEAD" and "GET" in allowed):
        raise not_allowed(method, [*allowed, *(["HEAD"] if "GET" in allowed else [])])
    return "GET" if method == "HEAD" else method


def invalid_session() -> SfError:
    return SfError("INVALID_SESSION_ID", "Session expired or invalid", status=401)


def method_not_allowed(method: str, allowed: Sequence[str]) -> Response:
    """The 405 of ``not_allowed`` as a response (for Starlette's own method check)."""
    err = not_allowed(method, allowed)
    return JSONResponse([{"errorCode": err.code, "message": err.message}], status_code=405, headers=err.headers)


def http_error(request: Request, exc: HTTPException) -> Response:
    """The app's handler for Starlette's own 404 (no resource has the path) and 405 (the resource does not take the
    method): Salesforce's JSON array instead of Starlette's plain-text "Not Found" / "Method Not Allowed"."""
    if request.url.path.startswith("/services/async/"):  # Bulk API 1.0 answers in its own error shape
        from crm_sandbox.salesforce.bulk1 import bulk_error

        return bulk_error(request, "InvalidUrl", f"The URL {request.url.path} takes no {request.method} request"
                          if exc.status_code == 405 else f"No Bulk API resource at {request.url.path}", exc.status_code)
    if exc.status_code == 405:
        given = [m.strip().upper() for m in (exc.headers or {}).get("Allow", "").split(",") if m.strip()]
        return method_not_allowed(request.method, given)
    return JSONResponse([no_resource().rest()], status_code=404)
