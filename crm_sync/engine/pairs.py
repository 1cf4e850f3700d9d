"""What each object pair needs from each side: fields to extract, match keys, cross-id fields."""

from __future__ import annotations

from dataclasses import dataclass

from crm_sync.config.models import PairConfig, SyncConfig

# Matching keys per HubSpot object: people by email, companies by domain, deals by stored ids only.
MATCH_KEYS = {"contacts": ("email", {"Lead": "Email", "Contact": "Email"}, "email"),
              "companies": ("domain", {"Account": "Website"}, "domain")}
SF_EXTRAS = {"Lead": ["IsConverted", "ConvertedContactId", "ConvertedAccountId", "MasterRecordId"],
             "Contact": ["MasterRecordId", "AccountId"], "Account": ["MasterRecordId"],
             "Opportunity": ["AccountId"]}
HS_MERGED = "hs_merged_object_ids"
# Child objects that carry a set-valued association on the Salesforce side:
# (parent field, member field, member object, extra fields). A role can only name a Contact, not a Lead.
SF_CHILD_SETS = {"OpportunityContactRole": ("OpportunityId", "ContactId", "Contact", ("Role", "IsPrimary"))}
# HubSpot associations written with a label that HubSpot moves from the record's previous one (the primary
# company of a contact, type 1): the former company stays associated, unlabeled, as HubSpot itself does it.
PRIMARY_ASSOCIATIONS = {("contacts", "companies"): 1}


@dataclass(frozen=True)
class PairSpec:
    name: str
    config: PairConfig
    hubspot_object: str
    salesforce_objects: tuple[str, ...]
    hubspot_properties: tuple[str, ...]
    salesforce_fields: dict[str, tuple[str, ...]]
    sf_external_id: str  # the HubSpot id on the Salesforce record
    hs_salesforce_id: str  # the Salesforce id on the HubSpot record
    match_kind: str | None  # "email" | "domain" | None
    hs_match_field: str | None
    sf_match_fields: dict[str, str]
    salesforce_children: dict[str, tuple[str, ...]]  # child object -> fields, for association sets


def pair_specs(config: SyncConfig) -> list[PairSpec]:
    """One spec per configured pair, in load order (companies before people before deals)."""
    sf_ext = config.connections.salesforce.external_id_field
    hs_sfid = config.connections.hubspot.salesforce_id_property
    order = {"companies": 0, "contacts": 1, "deals": 2}
    specs = []
    for name, pair in sorted(config.pairs.items(), key=lambda kv: order.get(kv[1].hubspot, 9)):
        hs_match, sf_match, kind = MATCH_KEYS.get(pair.hubspot, (None, {}, None))
        hs_props = {m.hubspot for m in pair.fields} | {hs_sfid}
        if hs_match:
            hs_props.add(hs_match)
        if pair.hubspot in ("contacts", "companies"):
            hs_props.add(HS_MERGED)
        sf_fields = {}
        children = {m.salesforce_field(o): m.salesforce_field(o) for m in pair.fields for o in pair.salesforce
                    if m.type == "association_set"}
        for obj in pair.salesforce:
            names = {m.salesforce_field(obj) for m in pair.fields if m.type != "association_set"} - {None}
            names |= {sf_ext, *SF_EXTRAS.get(obj, [])}
            if obj in sf_match:
                names.add(sf_match[obj])
            sf_fields[obj] = tuple(sorted(names))
        specs.append(PairSpec(name=name, config=pair, hubspot_object=pair.hubspot,
                              salesforce_objects=tuple(pair.salesforce), hubspot_properties=tuple(sorted(hs_props)),
                              salesforce_fields=sf_fields, sf_external_id=sf_ext, hs_salesforce_id=hs_sfid,
                              match_kind=kind, hs_match_field=hs_match,
                              sf_match_fields={o: f for o, f in sf_match.items() if o in pair.salesforce},
                              salesforce_children={c: (SF_CHILD_SETS[c][0], SF_CHILD_SETS[c][1], *SF_CHILD_SETS[c][3])
                                                   for c in children if c in SF_CHILD_SETS}))
    return specs


def extract_fields(specs: list[PairSpec]) -> dict[tuple[str, str], tuple[list[str], str | None]]:
    """Every object the pairs read, per (system, object): the union of their fields, and the field holding the
    other CRM's id (None for lookups: Salesforce users, HubSpot owners, contact roles). Users and owners map
    owner fields by email."""
    out: dict[tuple[str, str], tuple[set[str], str | None]] = {("salesforce", "User"): ({"Email", "IsActive"}, None),
                                                               ("hubspot", "owners"): ({"email"}, None)}
    for spec in specs:
        for obj, names in spec.salesforce_fields.items():
            out.setdefault(("salesforce", obj), (set(), spec.sf_external_id))[0].update(names)
        for child, names in spec.salesforce_children.items():
            out.setdefault(("salesforce", child), (set(), None))[0].update(names)
        out.setdefault(("hubspot", spec.hubspot_object), (set(), spec.hs_salesforce_id))[0].update(
            spec.hubspot_properties)
    return {key: (sorted(names), cross_id) for key, (names, cross_id) in sorted(out.items())}
