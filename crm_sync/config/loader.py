"""Read sync.yaml: parse, validate (pydantic), and fill pairs that list no fields with the shipped mappings."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from crm_sync.config.defaults import with_default_fields
from crm_sync.config.models import SyncConfig


class ConfigError(ValueError):
    """sync.yaml is missing or invalid; the message names the key and what was expected."""


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"  {where}: {item['msg']}" + (f" (got {item['input']!r})" if "input" in item and
                                                      not isinstance(item["input"], dict | list) else ""))
    return "\n".join(lines)


def load_config(path: Path | str = "sync.yaml") -> SyncConfig:
    """Read and validate sync.yaml; default field mappings fill pairs that list none."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such file (copy sync.yaml from the repository root)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        config = SyncConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid configuration\n{_describe(exc)}") from None
    config = with_default_fields(config)
    for name, pair in config.pairs.items():
        if not pair.fields:
            raise ConfigError(f"{path}: invalid configuration\n  pairs.{name}.fields: crm-sync ships no mappings for "
                              f"HubSpot {pair.hubspot!r} (a custom object?): list the fields to sync, each with name, "
                              "hubspot, salesforce and, where not a string, type")
        for side in ("hubspot", "salesforce"):
            used = pair.include.company_fields(side)
            if used and pair.company_mapping() is None:
                raise ConfigError(f"{path}: invalid configuration\n  pairs.{name}.include.{side}: reads "
                                  f"company.{used[0]}, but the pair maps no association to companies (a field "
                                  "with type: association, hubspot: associations.companies)")
    return config
