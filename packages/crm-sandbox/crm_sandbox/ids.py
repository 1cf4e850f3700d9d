"""Salesforce record ids: 15-char base-62 bodies with the 3-char case-checksum suffix."""

from __future__ import annotations

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
POD = "5g"


def checksum(id15: str) -> str:
    """The 3-char suffix that makes a 15-char id case-insensitive."""
    out = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX[bits])
    return "".join(out)


def make_id(prefix: str, counter: int) -> str:
    """prefix(3) + pod(2) + base-62 counter(10) + checksum: ASCII order follows the counter."""
    digits = []
    n = counter
    for _ in range(10):
        n, r = divmod(n, 62)
        digits.append(_BASE62[r])
    body = prefix + POD + "".join(reversed(digits))
    return body + checksum(body)


def normalize_id(value: str) -> str | None:
    """Return the canonical 18-char id for a 15- or 18-char input, or None if it is not an id."""
    if not isinstance(value, str) or len(value) not in (15, 18) or not value.isalnum():
        return None
    if len(value) == 15:
        return value + checksum(value)
    body, suffix = value[:15], value[15:].upper()
    if any(c not in _SUFFIX for c in suffix):
        return None
    # An 18-char id may arrive in any case: the suffix says which letters are upper case.
    chars = list(body.lower())
    for chunk, sc in enumerate(suffix):
        bits = _SUFFIX.index(sc)
        for i in range(5):
            if bits & (1 << i):
                chars[chunk * 5 + i] = chars[chunk * 5 + i].upper()
    fixed = "".join(chars)
    if checksum(fixed) != suffix:
        return None
    return fixed + suffix
