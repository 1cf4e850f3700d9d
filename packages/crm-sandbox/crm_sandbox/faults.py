"""Named, seeded fault profiles: which injected failure (if any) the next API request gets."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# Fault kinds. The generic ones are rendered by the middleware; the others by the system's service.
GENERIC_KINDS = {"error_500", "error_502", "error_503", "error_504", "slow", "drop"}
SYSTEM_KINDS = {
    "salesforce": {"lock_row", "expire_session", "daily_limit"},
    "hubspot": {"rate_limit", "daily_limit"},
}

# Probabilities per kind. "lock_row" only hits writes (Salesforce locks rows on DML, not on reads).
PROFILES: dict[str, dict[str, float]] = {
    "none": {},
    "flaky": {"error_500": 0.03, "error_503": 0.03, "drop": 0.02, "slow": 0.01},
    "outage": {"error_503": 1.0},
    "slow": {"slow": 1.0},
    "drops": {"drop": 1.0},
    "lock_rows": {"lock_row": 0.25},
    "expired_sessions": {"expire_session": 0.1},
    "daily_limit": {"daily_limit": 1.0},
    "rate_limits": {"rate_limit": 0.2},
}


@dataclass
class FaultPlan:
    """The active profile: rules, a seed so a run repeats, and an optional cap on how many faults fire."""

    profile: str = "none"
    rules: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    max_faults: int | None = None
    slow_seconds: float = 30.0
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def build(cls, system: str, profile: str = "none", rules: dict[str, float] | None = None, seed: int = 0,
              max_faults: int | None = None, slow_seconds: float = 30.0) -> FaultPlan:
        name = "custom" if rules is not None else profile
        if rules is None:
            if profile not in PROFILES:
                raise ValueError(f"unknown fault profile {profile!r}; known: {', '.join(sorted(PROFILES))}")
            rules = PROFILES[profile]
        allowed = GENERIC_KINDS | SYSTEM_KINDS[system]
        unknown = set(rules) - allowed
        if unknown:
            raise ValueError(f"unknown fault kinds for {system}: {sorted(unknown)}; allowed: {sorted(allowed)}")
        for kind, p in rules.items():
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"probability for {kind} must be between 0 and 1, got {p!r}")
        plan = cls(profile=name, rules=dict(rules),
                   seed=seed, max_faults=max_faults, slow_seconds=slow_seconds)
        plan._rng = random.Random(seed)
        return plan

    def draw(self, is_write: bool) -> str | None:
        """The fault for the next request, or None. Draws in a fixed order so a seed gives the same run."""
        if not self.rules or (self.max_faults is not None and self.fired >= self.max_faults):
            return None
        roll = self._rng.random()
        acc = 0.0
        for kind in sorted(self.rules):
            acc += self.rules[kind]
            if roll < acc:
                if kind == "lock_row" and not is_write:
                    return None
                self.fired += 1
                return kind
        return None

    def describe(self) -> dict:
        return {"profile": self.profile, "rules": self.rules, "seed": self.seed, "max_faults": self.max_faults,
                "slow_seconds": self.slow_seconds, "fired": self.fired}
