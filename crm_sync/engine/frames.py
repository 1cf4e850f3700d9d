"""Shape pages of extracted records into the frame staging expects: id, cursor_at, modified_at, deleted, fields."""

from __future__ import annotations

import pandas as pd

SF_SYSTEM = {"Id": "id", "SystemModstamp": "cursor_at", "LastModifiedDate": "modified_at", "IsDeleted": "deleted"}


def salesforce_frame(records: list[dict], fields: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records)
    for column in [*SF_SYSTEM, *fields]:
        if column not in frame.columns:
            frame[column] = None
    frame = frame[[*SF_SYSTEM, *[f for f in fields if f not in SF_SYSTEM]]].rename(columns=SF_SYSTEM)
    frame["cursor_at"] = pd.to_datetime(frame["cursor_at"], utc=True, format="ISO8601")
    frame["modified_at"] = pd.to_datetime(frame["modified_at"], utc=True, format="ISO8601")
    return frame


def hubspot_frame(records: list[dict], properties: list[str], modified_property: str) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records)
    for column in ["id", "archived", "updatedAt", *properties]:
        if column not in frame.columns:
            frame[column] = None
    stamp = frame[modified_property].where(frame[modified_property].notna(), frame["updatedAt"]) \
        if modified_property in frame.columns else frame["updatedAt"]
    version = frame["updatedAt"].fillna(stamp)
    if "archivedAt" in frame.columns:  # archiving does not move updatedAt: the archived version is newer
        version = frame["archivedAt"].where(frame["archivedAt"].notna(), version)
    out = pd.DataFrame({"id": frame["id"].astype(str),
                        "cursor_at": pd.to_datetime(version, utc=True, format="ISO8601"),
                        "modified_at": pd.to_datetime(stamp, utc=True, format="ISO8601"),
                        "deleted": frame["archived"].fillna(False).astype(bool)})
    for prop in properties:
        out[prop] = frame[prop]
    return out
