"""Property values as HubSpot keeps them: wire-format timestamps and the checks a write goes through."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from crm_sandbox.hubspot.errors import bad_request

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_EPOCH = re.compile(r"^-?\d{1,16}$")


def now_iso() -> str:
    return iso(dt.datetime.now(dt.UTC))


def iso(moment: dt.datetime) -> str:
    """HubSpot's datetime wire format: UTC, milliseconds, trailing Z (sorts as text in time order)."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_moment(text: str) -> dt.datetime | None:
    """Epoch milliseconds or ISO-8601 (date, naive = UTC, Z or offset) -> aware datetime; None if neither."""
    text = text.strip()
    if _EPOCH.match(text):
        try:
            return dt.datetime.fromtimestamp(int(text) / 1000.0, dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def canonical_datetime(text: str) -> str | None:
    moment = parse_moment(text)
    return iso(moment) if moment else None


def canonical_date(text: str) -> tuple[str | None, str | None]:
    """(YYYY-MM-DD, None) for a midnight-UTC value; (None, reason) otherwise."""
    stripped = text.strip()
    if re.match(r"^\d{4}-\d{2}-\d{2}$", stripped):
        try:
            return dt.date.fromisoformat(stripped).isoformat(), None
        except ValueError:
            return None, f"{text} is not a valid date"
    moment = parse_moment(stripped)
    if moment is None:
        return None, f"{text} is not a valid date"
    moment = moment.astimezone(dt.UTC)
    if (moment.hour, moment.minute, moment.second, moment.microsecond) != (0, 0, 0, 0):
        return None, f"{text} is at {moment.strftime('%H:%M:%S.')}{moment.microsecond // 1000:03d} UTC, not midnight!"
    return moment.date().isoformat(), None


def canonical_number(text: str) -> str | None:
    text = text.strip()
    if not _NUMBER.match(text):
        return None
    value = float(text)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def wire_string(raw: Any) -> str | None:
    """JSON value -> the string HubSpot would store; None and "" clear the property."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = str(raw)
    return text if text != "" else None


def valid_email(text: str) -> bool:
    return bool(_EMAIL.match(text))


def parse_bool(text: str) -> str | None:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered
    return None


MAX_ID = 2**63 - 1  # HubSpot's ids are Java longs (and SQLite's integers are 64-bit)
_DIGITS = re.compile(r"^\d{1,19}$")


def parse_flag(value: str | None, default: bool = False, name: str = "archived") -> bool:
    """Query-string booleans: true or false in any case (hubspot-api-client sends Python reprs, archived=False);
    anything else is HubSpot's 400, not a silent false."""
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise bad_request(f"Unable to parse value {value!r} of query parameter {name} as a boolean",
                          context={name: [value]})
    return lowered == "true"


def db_id(value) -> int | None:
    """A record id as the store keys it: a decimal of at most a Java long, else None (no such record)."""
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not _DIGITS.match(text) or int(text) > MAX_ID:
        return None
    return int(text)


def query_int(params, name: str, default: int) -> int:
    """An integer query parameter (limit, after); a non-integer or one past a Java long is HubSpot's 400."""
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = None
    if value is None or not -MAX_ID <= value <= MAX_ID:
        raise bad_request(f"Unable to parse value {raw!r} of query parameter {name} as an integer",
                          context={name: [raw]})
    return value


def multi_values(params, name: str) -> list[str]:
    """Repeated (?p=a&p=b) and comma-joined (?p=a,b) list parameters, both as HubSpot accepts them."""
    out: list[str] = []
    for value in params.getlist(name):
        out += [v.strip() for v in value.split(",") if v.strip()]
    return out
