"""HubSpot's rate limits: the 10-second rolling window, the daily allocation and search's per-second limit."""

from __future__ import annotations

import time
import uuid
from collections import deque

from crm_sandbox.state import Settings, Usage

TEN_SECONDS = 10.0
MESSAGES = {"TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
            "DAILY": "You have reached your daily limit.",
            "SECONDLY": "You have reached your secondly limit."}


def rate_limit_body(policy: str, correlation_id: str) -> dict:
    body = {"status": "error", "message": MESSAGES[policy], "errorType": "RATE_LIMIT",
            "correlationId": correlation_id, "policyName": policy, "requestId": str(uuid.uuid4())}
    if policy == "SECONDLY":
        body["groupName"] = "publicapi:crm:search"
    return body


class RateLimiter:
    """Sliding windows of accepted request times; rejected requests do not take budget."""

    def __init__(self, settings: Settings, usage: Usage):
        self.settings = settings
        self.usage = usage
        self._burst: deque[float] = deque()
        self._search: deque[float] = deque()

    @property
    def allocation(self) -> int:
        return int(self.settings["allocation"])

    def _prune(self, now: float) -> None:
        while self._burst and now - self._burst[0] >= TEN_SECONDS:
            self._burst.popleft()
        while self._search and now - self._search[0] >= 1.0:
            self._search.popleft()

    def admit(self, search: bool) -> str | None:
        """Take budget for one request; the policy that refuses it, or None."""
        if self.usage.today() > self.allocation:
            return "DAILY"
        now = time.monotonic()
        self._prune(now)
        if search:
            # Search has its own per-second limit and does not draw on the 10-second budget.
            if len(self._search) >= int(self.settings["search_per_second"]):
                return "SECONDLY"
            self._search.append(now)
            return None
        if len(self._burst) >= int(self.settings["ten_second"]):
            return "TEN_SECONDLY_ROLLING"
        self._burst.append(now)
        return None

    def headers(self) -> list[tuple[bytes, bytes]]:
        self._prune(time.monotonic())
        maximum = int(self.settings["ten_second"])
        used = min(self.usage.today(), self.allocation)
        pairs = {
            "x-hubspot-ratelimit-daily": self.allocation,
            "x-hubspot-ratelimit-daily-remaining": self.allocation - used,
            "x-hubspot-ratelimit-interval-milliseconds": int(TEN_SECONDS * 1000),
            "x-hubspot-ratelimit-max": maximum,
            "x-hubspot-ratelimit-remaining": max(0, maximum - len(self._burst)),
        }
        return [(k.encode(), str(v).encode()) for k, v in pairs.items()]

    def reset(self) -> None:
        self._burst.clear()
        self._search.clear()

    def describe(self) -> dict:
        self._prune(time.monotonic())
        return {"ten_second": int(self.settings["ten_second"]), "daily": self.allocation,
                "search_per_second": int(self.settings["search_per_second"]),
                "ten_second_used": len(self._burst), "daily_used": self.usage.today()}
