"""crm-sync as a Dagster component: an existing `dg` project adds a sync with `dg scaffold defs`.

    dg scaffold defs crm_sync.components.CrmSync crm        # writes defs/crm/defs.yaml
    # defs/crm/defs.yaml
    type: crm_sync.components.CrmSync
    attributes:
      config_path: sync.yaml     # beside defs.yaml (or absolute): connections, pairs, state_path, schedule ...

The component builds what crm-sync's own code location has (the same function, `build_definitions`): the assets
in their groups (extract, backfill, plan, load), the checks, the jobs (sync_cycle, reconcile, backfill, plan),
the schedules and the backfill's partitions. Paths inside sync.yaml (state_path, dagster_home, sandbox_dir)
are read from the process's working directory, as the CLI reads them: give absolute ones in a project.
One component per code location: two would define the same jobs; several connections are several code
locations (crm_sync/connections.py).
"""

from dataclasses import dataclass
from pathlib import Path

import dagster as dg


@dataclass
class CrmSync(dg.Component, dg.Resolvable):
    """A bidirectional HubSpot <-> Salesforce sync from a crm-sync configuration file (sync.yaml)."""

    config_path: str = "sync.yaml"

    def config_file(self, context: dg.ComponentLoadContext) -> Path:
        path = Path(self.config_path).expanduser()
        return path if path.is_absolute() else context.path / path

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        from crm_sync.definitions import build_definitions

        return build_definitions(self.config_file(context))
