"""pydantic models for sync.yaml and the default field mappings."""
