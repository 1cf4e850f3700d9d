"""pydantic models for sync.yaml: connections, object pairs, field mappings and their sync rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crm_sync.engine.db import STATE_MEMORY_LIMIT

Rule = Literal["two_way", "prefer_salesforce_unless_blank", "prefer_hubspot_unless_blank", "always_salesforce",
               "always_hubspot", "dont_sync"]
ValueType = Literal["string", "email", "phone", "number", "date", "datetime", "bool", "enum", "owner", "domain",
                    "association", "association_set", "reference"]
ASSOCIATION_PREFIX = "associations."
# Associations of one HubSpot-defined label, named "associations.<type>.<label>": (from type, to type, label) ->
# (association type id, the type's name in v3 reads). A company's parent is its child_to_parent_company association.
LABELLED_ASSOCIATIONS = {("companies", "companies", "parent"): (14, "child_to_parent_company")}


def association_parts(key: str) -> tuple[str, str | None]:
    """"associations.companies" -> ("companies", None); "associations.companies.parent" -> ("companies", "parent")."""
    target, _, label = key.removeprefix(ASSOCIATION_PREFIX).partition(".")
    return target, label or None
SALESFORCE_PEOPLE = ("Lead", "Contact")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ValueMap(Strict):
    """Picklist translation per direction; values not listed pass through unchanged."""

    hubspot_to_salesforce: dict[str, str] = Field(default_factory=dict)
    salesforce_to_hubspot: dict[str, str] = Field(default_factory=dict)


class When(Strict):
    """One arm of a conditional value: where `if` holds for the source record, the value is `then`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    if_: str = Field(alias="if", description="a condition over the source record's fields")
    then: str = Field(description="the value's expression where the condition holds")


class Conditional(Strict):
    """A conditional value: the first arm whose condition holds, else `else` (null when absent)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    when: list[When] = Field(min_length=1)
    else_: str | None = Field(default=None, alias="else")

    def text(self) -> str:
        arms = " ".join(f"WHEN ({w.if_}) THEN ({w.then})" for w in self.when)
        return f"CASE {arms} ELSE ({self.else_ if self.else_ is not None else 'NULL'}) END"


Transform = str | Conditional
_ONE_WAY = {"to_salesforce": ("always_hubspot", "HubSpot to Salesforce only", "to_hubspot"),
            "to_hubspot": ("always_salesforce", "Salesforce to HubSpot only", "to_salesforce")}


class FieldMapping(Strict):
    """One mapped field: the HubSpot property, the Salesforce field (per object where they differ), the rule, and
    optionally per direction the expression that computes the written value (the mapping language, README)."""

    name: str
    hubspot: str | None = None
    salesforce: str | dict[str, str | None] | None = None
    rule: Rule = "two_way"
    type: ValueType = "string"
    value_map: ValueMap | None = None
    links_to: str | None = Field(default=None, description="association or reference: the pair whose links "
                                 "translate ids")
    yields_to: str | None = Field(
        default=None, description="association: another association of the pair on the same Salesforce lookup, "
        "which the lookup holds first (Task.WhatId: an engagement's deal before its company). While that one is "
        "in the lookup, this one is not written to Salesforce (a skipped row, LOOKUP_TAKEN, says so); once the "
        "lookup is free it is")
    to_salesforce: Transform | None = Field(
        default=None, description="the value Salesforce gets, as an expression over the HubSpot record's "
        "properties (or a conditional: when/if/then/else); without to_hubspot the field is one-way")
    to_hubspot: Transform | None = Field(
        default=None, description="the value HubSpot gets, as an expression over the Salesforce record's fields "
        "(or a conditional); without to_salesforce the field is one-way")

    def transform(self, direction: str):
        """The parsed expression of a direction ('to_salesforce' | 'to_hubspot'), or None."""
        from crm_sync.engine.expressions import parse

        given = getattr(self, direction)
        if given is None:
            return None
        return parse(given.text() if isinstance(given, Conditional) else given,
                     "HubSpot" if direction == "to_salesforce" else "Salesforce")

    @model_validator(mode="after")
    def _transforms(self) -> FieldMapping:
        from crm_sync.engine.expressions import ExpressionError, parse

        for direction, (one_way, meaning, inverse) in _ONE_WAY.items():
            given = getattr(self, direction)
            if given is None:
                continue
            if self.type in ("association", "association_set", "reference", "owner"):
                raise ValueError(f"field {self.name!r}: {direction} cannot apply to a field of type {self.type}")
            side = "HubSpot" if direction == "to_salesforce" else "Salesforce"
            parts = ([w.if_ for w in given.when] + [w.then for w in given.when] + [given.else_ or "NULL"]
                     if isinstance(given, Conditional) else [given])
            try:
                for part in parts:
                    parse(part, side)
                self.transform(direction)
            except ExpressionError as err:
                raise ValueError(f"field {self.name!r}: {direction}: {err}") from None
            if getattr(self, inverse) is None and self.rule not in (one_way, "dont_sync"):
                raise ValueError(
                    f"field {self.name!r}: {direction} has no inverse ({inverse}), so the field can only sync one "
                    f"way: set rule: {one_way} ({meaning}), or give {inverse}")
        if self.hubspot is None and not (self.to_salesforce is not None and self.rule == "always_hubspot"):
            raise ValueError(f"field {self.name!r} needs hubspot: <property> (only a one-way field computed by "
                             "to_salesforce, rule always_hubspot, can go without)")
        if self.salesforce is None and not (self.to_hubspot is not None and self.rule == "always_salesforce"):
            raise ValueError(f"field {self.name!r} needs salesforce: <field> (only a one-way field computed by "
                             "to_hubspot, rule always_salesforce, can go without)")
        return self

    @model_validator(mode="after")
    def _association(self) -> FieldMapping:
        if self.type in ("association", "association_set"):
            if not (self.hubspot or "").startswith(ASSOCIATION_PREFIX) or not self.links_to:
                raise ValueError(f"association field {self.name!r} needs hubspot: '{ASSOCIATION_PREFIX}<object>' "
                                 "and links_to: <pair name>")
        elif self.type == "reference":
            # a HubSpot property holding another pair's record id (a line item's hs_product_id), a lookup in
            # Salesforce (OpportunityLineItem.Product2Id): translated through that pair's links, written as a value
            if not self.hubspot or self.hubspot.startswith(ASSOCIATION_PREFIX) or not self.links_to:
                raise ValueError(f"reference field {self.name!r} needs hubspot: <property holding a HubSpot id> "
                                 "and links_to: <pair name>")
        elif self.hubspot is not None and self.hubspot.startswith(ASSOCIATION_PREFIX):
            raise ValueError(f"field {self.name!r}: '{self.hubspot}' is an association; set type: association")
        return self

    @property
    def holds_ids(self) -> bool:
        """Its values are another pair's record ids, translated through that pair's links (links_to): an
        association, a set of them, or a reference property."""
        return self.type in ("association", "association_set", "reference")

    @property
    def association_target(self) -> str | None:
        """The HubSpot object type at the other end of an association field."""
        return association_parts(self.hubspot)[0] if self.type.startswith("association") else None

    def salesforce_field(self, sobject: str) -> str | None:
        if self.salesforce is None or isinstance(self.salesforce, str):
            return self.salesforce
        return self.salesforce.get(sobject)

    def applies_to(self, sobject: str) -> bool:
        """The mapping has a value for this Salesforce object: a field of it, or a to_hubspot computed from it."""
        return self.salesforce_field(sobject) is not None or (self.salesforce is None and self.to_hubspot is not None)


class Inclusion(Strict):
    """Which records of a pair sync: a condition per side over the record's own fields (the mapping language)
    and its company's (`company.<field>`: the primary company in HubSpot, the Account in Salesforce; a Lead has
    none, so its company's fields are null). A record outside its side's condition is neither created on the
    other side nor written to, and its values go nowhere; its link is kept, and once it matches again (an edit
    to it or its company, or this rule changed) it syncs."""

    hubspot: str | None = Field(default=None, description="condition over the HubSpot record's properties (and "
                                "company.<property> of its primary company)")
    salesforce: str | None = Field(default=None, description="condition over the Salesforce record's fields "
                                   "(each object of the pair; company.<field> of its Account)")

    def condition(self, side: str):
        from crm_sync.engine.expressions import parse

        text = getattr(self, side)
        return parse(text, "HubSpot" if side == "hubspot" else "Salesforce", related="company") if text else None

    def company_fields(self, side: str) -> tuple[str, ...]:
        condition = self.condition(side)
        return condition.related_fields if condition else ()

    @model_validator(mode="after")
    def _parse(self) -> Inclusion:
        from crm_sync.engine.expressions import ExpressionError

        for side in ("hubspot", "salesforce"):
            try:
                self.condition(side)
            except ExpressionError as err:
                raise ValueError(f"include.{side}: {err}") from None
        return self


class Routing(Strict):
    """Per-record routing of a person created in Salesforce: a Contact where either test holds, else a Lead."""

    contact_if_company_has_account: bool = Field(
        default=False, description="Contact when the person's primary company is linked to an Account, or its "
        "domain matches an Account's website (the Contact is created with that Account)")
    contact_if: str | None = Field(default=None, description="Contact where this condition over the HubSpot "
                                   "record's properties holds")

    def condition(self):
        from crm_sync.engine.expressions import parse

        return parse(self.contact_if, "HubSpot") if self.contact_if else None

    @model_validator(mode="after")
    def _parse(self) -> Routing:
        from crm_sync.engine.expressions import ExpressionError

        if not self.contact_if_company_has_account and not self.contact_if:
            raise ValueError("create_as as a rule needs contact_if_company_has_account: true or contact_if: "
                             "<condition> (or write create_as: lead | contact)")
        try:
            self.condition()
        except ExpressionError as err:
            raise ValueError(f"create_as.contact_if: {err}") from None
        return self


class PairConfig(Strict):
    """One object pair: a HubSpot object type and the Salesforce object(s) it syncs with."""

    hubspot: str
    salesforce: list[str]
    create_as: Literal["lead", "contact"] | Routing | None = Field(
        default=None, description="what a person new in HubSpot becomes in Salesforce: lead, contact, or a rule "
        "per record (contact_if_company_has_account, contact_if)")
    deletes: Literal["unlink", "propagate"] = "unlink"
    merges: Literal["link", "propagate"] = Field(
        default="link", description="a merge on one side whose two records both had counterparts: link (keep the "
        "primary's link, report the other counterpart in sync.duplicates) or propagate (also merge the two "
        "counterparts on the other side: HubSpot's merge endpoint, Salesforce's SOAP merge())")
    tie_winner: Literal["hubspot", "salesforce"] = "salesforce"
    create_in_salesforce: bool = True
    create_in_hubspot: bool = True
    include: Inclusion = Field(default_factory=Inclusion, description="which records sync, per side")
    external_id_field: str | None = Field(
        default=None, description="the Salesforce field holding the HubSpot id for this pair (default: the "
        "connection's external_id_field); pairs that share a Salesforce object, such as tasks and calls on Task, "
        "need fields of their own, as HubSpot ids of different object types can be the same number")
    fields: list[FieldMapping] = Field(default_factory=list)

    @field_validator("salesforce", mode="before")
    @classmethod
    def _one_or_many(cls, value):
        return [value] if isinstance(value, str) else value

    def company_mapping(self) -> FieldMapping | None:
        """The association field to the record's company (people and deals), if the pair maps one."""
        return next((m for m in self.fields if m.type == "association" and m.association_target == "companies"
                     and association_parts(m.hubspot)[1] is None), None)  # a company's parent is not its company

    @model_validator(mode="after")
    def _check(self) -> PairConfig:
        names = [f.name for f in self.fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"field mappings named twice: {dupes}")
        if self.create_as and set(self.salesforce) != set(SALESFORCE_PEOPLE):
            raise ValueError("create_as only applies to a pair whose salesforce side is [Lead, Contact]")
        for mapping in self.fields:
            if isinstance(mapping.salesforce, dict):
                unknown = set(mapping.salesforce) - set(self.salesforce)
                if unknown:
                    raise ValueError(f"field {mapping.name!r} names Salesforce objects outside this pair: "
                                     f"{sorted(unknown)} (pair has {self.salesforce})")
            if mapping.yields_to is not None:
                first = next((m for m in self.fields if m.name == mapping.yields_to), None)
                if mapping.type != "association" or first is None or first.type != "association" or first is mapping \
                        or any(mapping.salesforce_field(o) != first.salesforce_field(o) for o in self.salesforce):
                    raise ValueError(f"field {mapping.name!r}: yields_to names another association field of this "
                                     f"pair on the same Salesforce lookup (got {mapping.yields_to!r})")
            if mapping.type.startswith("association"):
                target, label = association_parts(mapping.hubspot)
                if label is not None and (self.hubspot, target, label) not in LABELLED_ASSOCIATIONS:
                    known = [f"{ASSOCIATION_PREFIX}{t}.{lb} (on {f})" for f, t, lb in LABELLED_ASSOCIATIONS]
                    raise ValueError(f"field {mapping.name!r}: no association label {label!r} from {self.hubspot} "
                                     f"to {target}; labelled associations: {', '.join(known)}")
        return self


class SalesforceConnection(Strict):
    """Sandbox: settings come from sandbox.json. Real org: every secret comes from an environment variable (or,
    for a refresh token or a private key, a file outside the repository that only its owner can read)."""

    kind: Literal["sandbox", "refresh_token", "jwt", "client_credentials", "password"] = Field(
        default="sandbox", description="sandbox; refresh_token (the web-server flow's token, from `crm-sync auth "
        "salesforce`); jwt (JWT bearer: a certificate on the connected app, its private key here); "
        "client_credentials; password (legacy orgs)")
    sandbox_dir: Path = Path("data/sandbox")
    token_url_env: str = Field(default="SALESFORCE_TOKEN_URL", description="the org's token URL: "
                               "https://login.salesforce.com/services/oauth2/token, test.salesforce.com for a "
                               "sandbox org, or the My Domain")
    client_id_env: str = "SALESFORCE_CLIENT_ID"
    client_secret_env: str = "SALESFORCE_CLIENT_SECRET"
    username_env: str = "SALESFORCE_USERNAME"
    password_env: str = "SALESFORCE_PASSWORD"
    refresh_token_env: str = Field(default="SALESFORCE_REFRESH_TOKEN", description="kind refresh_token: the token")
    refresh_token_file_env: str = Field(default="SALESFORCE_REFRESH_TOKEN_FILE", description="kind refresh_token: "
                                        "or a file holding it (owner-only permissions)")
    private_key_file_env: str = Field(default="SALESFORCE_PRIVATE_KEY_FILE", description="kind jwt: the PEM "
                                      "private key of the connected app's certificate (owner-only permissions)")
    jwt_audience_env: str = Field(default="SALESFORCE_JWT_AUDIENCE", description="kind jwt: the assertion's aud "
                                  "(default: https://login.salesforce.com, test.salesforce.com for a token URL "
                                  "there, else the token URL's host)")
    ca_file_env: str = "SALESFORCE_CA_FILE"  # optional: a CA bundle to trust for this org (a proxy, a test org)
    api_version: str = "59.0"
    external_id_field: str = "HubSpot_Id__c"


class HubSpotConnection(Strict):
    """Sandbox: sandbox.json. A portal: a private app's token, or an OAuth app (its refresh token from
    `crm-sync auth hubspot`; access tokens are renewed as they expire), every secret from the environment."""

    kind: Literal["sandbox", "private_app", "oauth"] = "sandbox"
    sandbox_dir: Path = Path("data/sandbox")
    base_url: str = "https://api.hubapi.com"
    access_token_env: str = "HUBSPOT_ACCESS_TOKEN"
    authorize_url: str = Field(default="https://app.hubspot.com/oauth/authorize", description="kind oauth: where "
                               "`crm-sync auth hubspot` sends the user to install the app")
    client_id_env: str = "HUBSPOT_CLIENT_ID"
    client_secret_env: str = "HUBSPOT_CLIENT_SECRET"
    scopes: str = Field(default="crm.objects.contacts.read crm.objects.contacts.write crm.objects.companies.read "
                        "crm.objects.companies.write crm.objects.deals.read crm.objects.deals.write "
                        "crm.objects.owners.read crm.schemas.contacts.read crm.schemas.companies.read "
                        "crm.schemas.deals.read", description="kind oauth: the scopes the install asks for")
    refresh_token_env: str = Field(default="HUBSPOT_REFRESH_TOKEN", description="kind oauth: the refresh token")
    refresh_token_file_env: str = Field(default="HUBSPOT_REFRESH_TOKEN_FILE", description="kind oauth: or a file "
                                        "holding it (owner-only permissions)")
    ca_file_env: str = "HUBSPOT_CA_FILE"  # optional: a CA bundle to trust for base_url
    salesforce_id_property: str = "salesforce_id"
    ten_second_limit: int = 190
    search_per_second: int = 5


class Connections(Strict):
    salesforce: SalesforceConnection = Field(default_factory=SalesforceConnection)
    hubspot: HubSpotConnection = Field(default_factory=HubSpotConnection)


class SyncSettings(Strict):
    overlap_seconds: int = Field(default=60, ge=0, description="re-read window before the previous read's start "
                                 "(covers clock skew and writes that become visible late)")
    max_attempts: int = Field(default=8, ge=1, description="tries per failed write before it waits for a change")
    request_timeout_seconds: float = Field(default=60.0, gt=0, description="how long one API call may take before "
                                           "it is given up (and resent where that cannot apply a write twice)")
    hubspot_deletes_minutes: int = Field(
        default=60, ge=0, description="how often HubSpot's archived (deleted) records are listed, which can only be "
        "done whole (0: every cycle)")
    association_reads: Literal["new", "changed"] = Field(
        default="new", description="which records found by an incremental read have their HubSpot associations "
        "read (v4 batch read, 100 ids a call): new ones only (edits to associations arrive with the sweep), or "
        "every changed one (a deal edited together with its company syncs both at once, at one more call per 100 "
        "changed records and association type)")
    association_sweep_minutes: int | None = Field(
        default=60, ge=0, description="how often every HubSpot record's associations are listed to find association "
        "changes HubSpot does not stamp (0: every cycle; null: never)")


class Schedule(Strict):
    """When the Dagster daemon runs the cycle (and the reconcile job). Off by default: turn it on here or in the
    UI's Automation tab once a first `crm-sync run` looks right."""

    enabled: bool = Field(default=False, description="start both schedules as running (the daemon of `crm-sync "
                          "ui` / `dagster dev` runs them); false: stopped until turned on in the UI")
    cron: str = "*/15 * * * *"
    reconcile_cron: str = Field(default="0 3 * * 0", description="the reconcile job (whole reads, drift report "
                                "and healing): weekly, Sundays 03:00, by default")

    @field_validator("cron", "reconcile_cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(f"cron must have 5 fields (minute hour day month weekday), got {value!r}")
        return value


class SideBudget(Strict):
    """API calls the sync may spend on one CRM. A run stops between batches when one is spent (nothing half
    written: the writes that landed are recorded) and says how much it did and when it can go on."""

    per_run: int | None = Field(default=None, ge=1, description="calls per run")
    per_day: int | None = Field(default=None, ge=1, description="calls per UTC day, all of the sync's runs")
    reserve: float = Field(default=0.0, ge=0.0, lt=1.0, description="share of the org's or portal's daily "
                           "allocation left for other integrations, read from live usage (Salesforce "
                           "Sforce-Limit-Info, HubSpot X-HubSpot-RateLimit-Daily headers)")


class Budget(Strict):
    salesforce: SideBudget = Field(default_factory=SideBudget)
    hubspot: SideBudget = Field(default_factory=SideBudget)


class BackfillSettings(Strict):
    """The initial sync as partitions of creation time (the `backfill` job, `crm-sync backfill`)."""

    start: dt.date = Field(default=dt.date(2021, 1, 1), description="the first partition begins here; it also "
                           "takes every record created before")
    partition: Literal["month", "week", "day"] = "month"
    # Every run reads each object at least once and pays a run's start: fewer, larger runs cost fewer calls
    # (two years of monthly partitions a run); smaller ones resume from a finer point after a stop.
    partitions_per_run: int = Field(default=24, ge=1, description="partitions one run reads, links, plans and "
                                    "loads together (BackfillPolicy.multi_run)")


class ListMembership(Strict):
    """A HubSpot contact list whose members are a Salesforce Campaign's members (CampaignMember rows): the
    native connector's list -> campaign membership, and back as an option."""

    list: str = Field(description="the HubSpot contact list: its name, or its list id")
    campaign: str = Field(description="the Salesforce Campaign: its name, or its id (701...)")
    status: str = Field(default="Sent", description="CampaignMember.Status of the members the sync adds")
    people: str = Field(default="people", description="the pair whose links translate contacts to Leads/Contacts")
    from_salesforce: bool = Field(
        default=False, description="also the other way: a member added to the campaign in Salesforce joins the "
        "list, one removed there leaves it (a MANUAL or SNAPSHOT list; HubSpot computes a DYNAMIC one). Off: the "
        "list decides, and campaign members the sync did not add are left alone")


class SyncConfig(Strict):
    connections: Connections = Field(default_factory=Connections)
    state_path: Path = Path("data/state/crm_sync.duckdb")
    state_memory_limit: str = Field(default=STATE_MEMORY_LIMIT, pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$",
                                    description="DuckDB's memory for the state (its memory_limit, e.g. 2GB): past it, "
                                    "large joins and sorts spill to a folder beside the state file instead of "
                                    "growing the process")
    dagster_home: Path = Field(default=Path("data/dagster_home"), description="the Dagster instance the CLI records "
                               "its runs in and `crm-sync ui` shows ($DAGSTER_HOME, when set, takes its place)")
    schedule: Schedule = Field(default_factory=Schedule)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    backfill: BackfillSettings = Field(default_factory=BackfillSettings)
    budget: Budget = Field(default_factory=Budget)
    pairs: dict[str, PairConfig]
    lists: dict[str, ListMembership] = Field(default_factory=dict, description="HubSpot list membership <-> "
                                             "Salesforce CampaignMembers, by a name of your choosing")

    @model_validator(mode="after")
    def _links_exist(self) -> SyncConfig:
        for name, membership in self.lists.items():
            pair = self.pairs.get(membership.people)
            if pair is None or pair.hubspot != "contacts":
                raise ValueError(f"lists.{name}: people {membership.people!r} must name the pair of HubSpot "
                                 f"contacts (configured pairs: {sorted(self.pairs)})")
        for name, pair in self.pairs.items():
            for mapping in pair.fields:
                if mapping.links_to and mapping.links_to not in self.pairs:
                    raise ValueError(f"pairs.{name}: field {mapping.name!r} links_to {mapping.links_to!r}, which is "
                                     f"not a configured pair ({sorted(self.pairs)})")
        return self
