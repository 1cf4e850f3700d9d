"""The REST API versions the org serves: the versions resource's list, and which /services/data/vXX.X prefixes
answer (every listed version, as on a real org; an unlisted one is NOT_FOUND)."""

from __future__ import annotations

OLDEST = 31  # Summer '14: versions before it are retired and no longer listed
_REFERENCE = 59  # Winter '24; three releases a year (Winter, Spring, Summer) count from it
_SEASONS = ("Winter", "Spring", "Summer")


def label(version: str) -> str:
    """A version's release name: 59.0 is Winter '24, 60.0 Spring '24, 58.0 Summer '23."""
    offset = int(float(version)) - _REFERENCE
    return f"{_SEASONS[offset % 3]} '{24 + offset // 3:02d}"


def versions(latest: str) -> list[str]:
    """Every available version up to the org's latest, oldest first: ["31.0", ..., "59.0"]."""
    return [f"{major}.0" for major in range(OLDEST, int(float(latest)) + 1)]


def versions_body(latest: str) -> list[dict]:
    """The versions resource (GET /services/data/): label, url and version of each, keys in Salesforce's order."""
    return [{"label": label(v), "url": f"/services/data/v{v}", "version": v} for v in versions(latest)]


def is_served(version: str, latest: str) -> bool:
    return version in versions(latest)


def resources(version: str) -> dict:
    """A version's root (GET /services/data/vXX.X/): the resources the sandbox serves under it."""
    return {name: f"/services/data/v{version}/{name}" for name in ("limits", "query", "queryAll", "sobjects",
                                                                    "composite")}
