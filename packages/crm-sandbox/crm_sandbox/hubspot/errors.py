"""HubSpot's error bodies (B8.1): the exception handlers raise and the JSON each status carries."""

from __future__ import annotations

import json
import uuid


def correlation_id() -> str:
    return str(uuid.uuid4())


class HsError(Exception):
    """An API error answered with HubSpot's body: status, message, category and optional details."""

    def __init__(self, status: int, category: str, message: str, errors: list[dict] | None = None,
                 context: dict | None = None, extra: dict | None = None, headers: dict | None = None):
        super().__init__(message)
        self.headers = headers or {}
        self.status = status
        self.category = category
        self.message = message
        self.errors = errors
        self.context = context
        self.extra = extra or {}

    def body(self, cid: str) -> dict:
        out: dict = {"status": "error", "message": self.message, "correlationId": cid, "category": self.category}
        if self.errors:
            out["errors"] = self.errors
        if self.context:
            out["context"] = self.context
        out.update(self.extra)
        return out

    def standard_error(self, context: dict | None = None) -> dict:
        """The StandardError entry a 207 multi-status carries for one failed input."""
        return standard_error(self.category, self.message, context or self.context or {}, self.errors)


def standard_error(category: str, message: str, context: dict, errors: list[dict] | None = None) -> dict:
    """One entry of a 207's errors as HubSpot documents StandardError: status, category, message, the errors
    detail list (at least one entry, the message itself), context and links."""
    details = errors or [{"message": message, "context": context}]
    return {"status": "error", "category": category, "message": message, "errors": details, "context": context,
            "links": {}}


def not_found(message: str = "resource not found") -> HsError:
    return HsError(404, "OBJECT_NOT_FOUND", message)


def unknown_route(method: str, path: str) -> HsError:
    """404 for a path no API serves: the OBJECT_NOT_FOUND body test_wire_fidelity pins, marked as HubSpot marks a
    URI it has no handler for, with ``X-HubSpot-NotFound: true`` (a missing record's 404 has no such header)."""
    return HsError(404, "OBJECT_NOT_FOUND", "resource not found", headers={"X-HubSpot-NotFound": "true"})


def bad_request(message: str, errors: list[dict] | None = None, context: dict | None = None) -> HsError:
    return HsError(400, "VALIDATION_ERROR", message, errors, context)


def unknown_object_type(token: str) -> HsError:
    return bad_request(f"Unable to infer object type from: {token}")


def property_errors(problems: list[dict]) -> HsError:
    """400 for invalid property values; problems are {"name", "error", "message"} as HubSpot lists them."""
    listed = [{"isValid": False, "message": p["message"], "error": p["error"], "name": p["name"]} for p in problems]
    details = [{"message": p["message"], "code": p["error"], "context": {"propertyName": [p["name"]]}}
               for p in problems]
    return bad_request(f"Property values were not valid: {json.dumps(listed, separators=(',', ':'))}", details)


def conflict(message: str) -> HsError:
    return HsError(409, "CONFLICT", message)


def too_many_inputs(count: int, limit: int) -> HsError:
    return bad_request(f"Too many inputs: {count}. The maximum number of inputs per batch request is {limit}.",
                       context={"limit": [str(limit)], "inputs": [str(count)]})


def unauthorized() -> HsError:
    return HsError(401, "INVALID_AUTHENTICATION",
                   "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
                   "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
