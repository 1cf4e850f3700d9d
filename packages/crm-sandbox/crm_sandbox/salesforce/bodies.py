"""Request bodies and query values as Salesforce reads them: what it cannot read is its JSON_PARSER_ERROR (or
INVALID_QUERY_PARAMETER), never a server error."""

from __future__ import annotations

import json

from starlette.requests import Request

from crm_sandbox.salesforce.errors import SfError, no_body, not_deserializable


async def json_body(request: Request):
    """The request's JSON body; a missing or unparseable one is Salesforce's JSON_PARSER_ERROR."""
    raw = await request.body()
    if not raw.strip():
        raise no_body()
    try:
        return json.loads(raw)
    except ValueError:
        raise SfError("JSON_PARSER_ERROR", "Unexpected character in the request body") from None


async def json_object(request: Request, target: str) -> dict:
    """A JSON body that must be an object (a record, a collection request): anything else cannot be read as one."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise not_deserializable(target, body)
    return body


def flag(text: str, name: str) -> bool:
    """A boolean query parameter as Salesforce reads it: true or false, any case."""
    if text.lower() not in ("true", "false"):
        raise SfError("INVALID_QUERY_PARAMETER", f"Invalid value for {name}: {text}; true or false expected", [name])
    return text.lower() == "true"
