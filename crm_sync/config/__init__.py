"""sync.yaml: its models (models.py), the shipped default mappings (defaults.py) and the loader (loader.py)."""

from crm_sync.config.loader import ConfigError, load_config
from crm_sync.config.models import SyncConfig

__all__ = ["ConfigError", "SyncConfig", "load_config"]
