"""Several connections (an org and a portal each) in one Dagster deployment: one code location per connection.

A connection is a folder `<CRM_SYNC_CONNECTIONS>/<name>/` (default `./connections/<name>/`) holding its
`sync.yaml`, with a DuckDB state file of its own. workspace.yaml names each one as an attribute of this module:

    load_from:
      - python_module: {module_name: crm_sync.connections, attribute: acme, location_name: acme}
      - python_module: {module_name: crm_sync.connections, attribute: globex, location_name: globex}

Each location has the same jobs, assets, checks and schedules as a single connection's, its runs tagged with
its state file (`crm_sync/state_file`), so a run queue that admits one run per value of that tag
(deploy/dagster.postgres.yaml) runs the connections side by side and never two runs on one file.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Definitions

from crm_sync.config import ConfigError, load_config


def folder() -> Path:
    return Path(os.environ.get("CRM_SYNC_CONNECTIONS", "connections"))


def state_files() -> dict[str, Path]:
    """Each connection's state file; two connections on one file are refused (they would mix their state)."""
    found: dict[Path, str] = {}
    for config in sorted(folder().glob("*/sync.yaml")):
        name, state = config.parent.name, Path(load_config(config).state_path).expanduser().resolve()
        if state in found:
            raise ConfigError(f"connections {found[state]!r} and {name!r} both keep their state in {state}: give "
                              "each connection's sync.yaml a state_path of its own")
        found[state] = name
    return {name: state for state, name in found.items()}


def __getattr__(name: str) -> Definitions:
    if name.startswith("__"):
        raise AttributeError(name)
    from crm_sync.definitions import build_definitions

    config = folder() / name / "sync.yaml"
    if not config.is_file():
        raise AttributeError(f"no connection {name!r}: {config.resolve()} does not exist")
    state_files()
    return build_definitions(config)
