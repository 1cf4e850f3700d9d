"""Metadata types for the Salesforce sandbox: what describe says about objects and fields."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field

# Salesforce field types the sandbox models.
STRING_TYPES = {"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox",
                "encryptedstring"}
NUMBER_TYPES = {"int", "double", "currency", "percent"}
ID_TYPES = {"id", "reference"}


@dataclass(frozen=True)
class Field:
    """One field as describe reports it."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    calculated: bool = False
    auto_number: bool = False
    external_id: bool = False
    unique: bool = False
    id_lookup: bool = False
    custom: bool = False
    picklist_values: tuple[str, ...] = ()
    default_value: str | None = None
    restricted_picklist: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    precision: int = 0
    scale: int = 0

    @property
    def required_on_create(self) -> bool:
        return (not self.nillable and self.createable and not self.defaulted_on_create
                and self.type != "boolean")

    @property
    def sql_type(self) -> str:
        if self.type in ("int", "boolean"):
            return "INTEGER"
        if self.type in ("double", "currency", "percent"):
            return "REAL"
        return "TEXT"


@dataclass(frozen=True)
class SObject:
    """One sObject type: name, key prefix and fields (in describe order)."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[Field, ...]
    _by_lower: dict = dc_field(default_factory=dict, compare=False, hash=False, repr=False)
    _by_rel: dict = dc_field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        for f in self.fields:
            self._by_lower[f.name.lower()] = f
            if f.relationship_name:
                self._by_rel[f.relationship_name.lower()] = f

    def field(self, name: str) -> Field | None:
        """Field by API name, case-insensitively."""
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> Field | None:
        """The reference field behind a relationship name (``Account`` -> ``AccountId``), case-insensitively."""
        return self._by_rel.get(name.lower())
