"""The one Dagster Definitions object for crm-sync (assets, checks, jobs and schedules arrive with the engine)."""

from dagster import Definitions

defs = Definitions()
