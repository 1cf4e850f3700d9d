"""Salesforce's error shapes: the JSON-array REST body and the statusCode form used inside collection results."""

from __future__ import annotations

from collections.abc import Sequence


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
