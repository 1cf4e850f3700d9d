"""Property values as HubSpot keeps them: wire-format timestamps and the checks a write goes through."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

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


def parse_flag(value: str | None, default: bool = False) -> bool:
    """Query-string booleans arrive as Python reprs (archived=False) from hubspot-api-client."""
    if value is None:
        return default
    return value.strip().lower() in ("true", "1", "yes")


def multi_values(params, name: str) -> list[str]:
    """Repeated (?p=a&p=b) and comma-joined (?p=a,b) list parameters, both as HubSpot accepts them."""
    out: list[str] = []
    for value in params.getlist(name):
        out += [v.strip() for v in value.split(",") if v.strip()]
    return out
