"""Field-level write rules as a Salesforce org enforces them: writability, types, lengths, picklists, emails."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from crm_sandbox.ids import normalize_id
from crm_sandbox.salesforce.errors import SfError, not_deserializable
from crm_sandbox.salesforce.model import Field, SObject

# Close to Salesforce's own check: local part, one @, a dotted domain with a 2+ letter TLD.
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SF_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
_JAVA_TYPES = {"boolean": "boolean", "int": "int", "double": "double", "currency": "double", "percent": "double",
               "date": "java.util.Date", "datetime": "java.util.Calendar"}


def format_datetime(value: dt.datetime) -> str:
    """Salesforce's wire and storage form: UTC, milliseconds, offset without a colon."""
    value = value.astimezone(dt.UTC)
    return value.strftime(SF_DATETIME_FORMAT) + f".{value.microsecond // 1000:03d}+0000"


def now_stamp() -> str:
    return format_datetime(dt.datetime.now(dt.UTC))


def parse_datetime(text: str) -> dt.datetime | None:
    """Parse the datetime forms clients send (``Z``, ``+hh:mm``, ``+hhmm``, naive taken as UTC)."""
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    m = re.match(r"^(.*[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)([+-]\d{2})(\d{2})$", t)
    if m:
        t = f"{m.group(1)}{m.group(2)}:{m.group(3)}"
    try:
        value = dt.datetime.fromisoformat(t)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _json_error(field: Field, value: Any, kind: str) -> SfError:
    return SfError("JSON_PARSER_ERROR",
                   f"Cannot deserialize instance of {kind} from VALUE_STRING value {value} or request may be "
                   f"missing a required field", [field.name])


def coerce_value(field: Field, value: Any) -> Any:
    """Check one incoming value and return its stored form (None clears). Raises SfError."""
    if isinstance(value, (dict, list)):  # a field takes a scalar: Salesforce's parser refuses an object or array
        raise not_deserializable(_JAVA_TYPES.get(field.type, "java.lang.String"), value, [field.name])
    if value is None or value == "" and field.type not in ("boolean",):
        return None
    t = field.type
    if t == "boolean":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return int(value.lower() == "true")
        raise _json_error(field, value, "boolean")
    if t in ("int", "double", "currency", "percent"):
        if isinstance(value, bool):
            raise _json_error(field, value, "double")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _json_error(field, value, "double") from None
        if t == "int":
            if number != int(number):
                raise SfError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{field.label}: value not of required type: {value}",
                              [field.name])
            return int(number)
        return number
    if t == "date":
        text = str(value)
        if not _DATE.match(text):
            parsed = parse_datetime(text)
            if parsed is None:
                raise _json_error(field, value, "date")
            return parsed.date().isoformat()
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            raise _json_error(field, value, "date") from None
        return text
    if t == "datetime":
        parsed = parse_datetime(str(value))
        if parsed is None:
            raise _json_error(field, value, "datetime")
        return format_datetime(parsed)
    if t in ("reference", "id"):
        normalized = normalize_id(str(value))
        if normalized is None:
            raise SfError("MALFORMED_ID", f"{field.label}: id value of incorrect type: {value}", [field.name])
        return normalized
    text = value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    if field.length and len(text) > field.length:
        raise SfError("STRING_TOO_LONG", f"{field.label}: data value too large: {text} (max length={field.length})",
                      [field.name])
    if t == "email" and not _EMAIL.match(text):
        raise SfError("INVALID_EMAIL_ADDRESS", f"{field.label}: invalid email address: {text}", [field.name])
    if t in ("picklist", "multipicklist") and field.restricted_picklist:
        chosen = text.split(";") if t == "multipicklist" else [text]
        for item in chosen:
            if item not in field.picklist_values:
                raise SfError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                              f"{field.label}: bad value for restricted picklist field: {item}", [field.name])
    return text


def check_payload(sobject: SObject, data: dict, creating: bool) -> tuple[dict, list[SfError]]:
    """Validate a create/update body: return the stored-form values by canonical field name and all errors."""
    values: dict[str, Any] = {}
    errors: list[SfError] = []
    read_only: list[str] = []
    for key, raw in data.items():
        if key == "attributes":
            continue
        field = sobject.field(key)
        if field is None:
            errors.append(SfError("INVALID_FIELD", f"No such column '{key}' on sobject of type {sobject.name}"))
            continue
        if not (field.createable if creating else field.updateable):
            read_only.append(field.name)
            continue
        try:
            values[field.name] = coerce_value(field, raw)
        except SfError as exc:
            errors.append(exc)
    if read_only:
        errors.append(SfError(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {', '.join(read_only)}. Please check the security settings of this "
            f"field and verify that it is read/write for your profile or permission set.", read_only))
    return values, errors


def missing_required(sobject: SObject, row: dict) -> SfError | None:
    """REQUIRED_FIELD_MISSING for required fields that are empty in the row as it would be stored."""
    missing = [f.name for f in sobject.fields if f.required_on_create and row.get(f.name) in (None, "")]
    if sobject.name == "Event" and not row.get("IsAllDayEvent"):
        # A timed event needs its start, and its end or its length (the org computes the other).
        if row.get("StartDateTime") in (None, ""):
            missing.append("StartDateTime")
        if row.get("EndDateTime") in (None, "") and row.get("DurationInMinutes") in (None, ""):
            missing.append("DurationInMinutes")
    if not missing:
        return None
    return SfError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
