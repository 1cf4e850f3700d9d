"""Salesforce's error shapes: the JSON-array REST body and the statusCode form used inside collection results."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class SfError(Exception):
    """One Salesforce API error with the HTTP status the REST resource would answer."""

    def __init__(self, code: str, message: str, fields: Sequence[str] = (), status: int = 400,
                 extra: dict | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = list(fields)
        self.status = status
        self.extra = extra or {}

    def rest(self) -> dict:
        """The error as REST returns it in its array body (key ``errorCode``)."""
        body = {"message": self.message, "errorCode": self.code, "fields": self.fields}
        body.update(self.extra)
        return body

    def collection(self) -> dict:
        """The error as sObject collections return it (key ``statusCode``)."""
        body = {"statusCode": self.code, "message": self.message, "fields": self.fields}
        body.update(self.extra)
        return body

    def bulk(self) -> str:
        """The error as a Bulk API 2.0 ``sf__Error`` cell."""
        return f"{self.code}:{self.message}:{','.join(self.fields)} --"


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


def invalid_session() -> SfError:
    return SfError("INVALID_SESSION_ID", "Session expired or invalid", status=401)


def method_not_allowed(method: str, allowed: Sequence[str]) -> Response:
    """405 for a resource that exists but does not take the method; the Allow list in Salesforce's order."""
    listed = ",".join(sorted(set(allowed), key=lambda m: (*_METHOD_ORDER, m).index(m)))
    return JSONResponse([{"errorCode": "METHOD_NOT_ALLOWED",
                          "message": f"HTTP Method '{method}' not allowed. Allowed are {listed}"}],
                        status_code=405, headers={"Allow": listed})


def http_error(request: Request, exc: HTTPException) -> Response:
    """The app's handler for Starlette's own 404 (no resource has the path) and 405 (the resource does not take the
    method): Salesforce's JSON array instead of Starlette's plain-text "Not Found" / "Method Not Allowed"."""
    if exc.status_code == 405:
        given = [m.strip().upper() for m in (exc.headers or {}).get("Allow", "").split(",") if m.strip()]
        return method_not_allowed(request.method, given)
    return JSONResponse([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
                        status_code=404)
