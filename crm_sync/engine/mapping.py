"""A field mapping's whole journey, in one place: which fields each pair reads on each side, the canonical form
both sides' values are compared in, the translation into the other side's vocabulary, and the value written.

Everything here builds SQL expressions over whole tables; names and values from the configuration reach DuckDB
as bound parameters (db.Binds), identifiers quoted.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_sync.config.models import FieldMapping, PairConfig, SyncConfig
from crm_sync.engine.db import Binds, quote

# Matching keys per HubSpot object: people by email, companies by domain, products by SKU (ProductCode), deals
# and engagements by stored ids only.
MATCH_KEYS = {"contacts": ("email", {"Lead": "Email", "Contact": "Email"}, "email"),
              "companies": ("domain", {"Account": "Website"}, "domain"),
              "products": ("hs_sku", {"Product2": "ProductCode"}, "sku")}
SF_EXTRAS = {"Lead": ["IsConverted", "ConvertedContactId", "ConvertedAccountId", "MasterRecordId"],
             "Contact": ["MasterRecordId", "AccountId"], "Account": ["MasterRecordId"],
             "Opportunity": ["AccountId"]}
HS_MERGED = "hs_merged_object_ids"
# Child objects that carry a set-valued association on the Salesforce side:
# (parent field, member field, member object, extra fields). A role can only name a Contact, not a Lead.
SF_CHILD_SETS = {"OpportunityContactRole": ("OpportunityId", "ContactId", "Contact", ("Role", "IsPrimary"))}


@dataclass(frozen=True)
class ChildValue:
    """A value a Salesforce record keeps on one child record of its own, mapped as '<child>.<field>': a product's
    price is the UnitPrice of its PricebookEntry in the standard price book. The child record is found by
    `which` (SQL over alias c), made with `create` (field -> SQL) besides the parent field and the value, and
    written apart from the record, like an association (engine/associations.py)."""

    child: str
    parent_field: str
    value_field: str
    which: str
    create: tuple[tuple[str, str], ...]
    reads: tuple[tuple[str, tuple[str, ...]], ...]  # (object, fields) to read: the child's and the lookups'


STANDARD_BOOK = ("(SELECT min(p.id) FROM raw_salesforce.\"Pricebook2_current\" p "
                 "WHERE lower(p.\"IsStandard\") = 'true' AND NOT p.deleted)")
SF_CHILD_VALUES = {
    ("Product2", "PricebookEntry.UnitPrice"): ChildValue(
        child="PricebookEntry", parent_field="Product2Id", value_field="UnitPrice",
        which=f"c.\"Pricebook2Id\" = {STANDARD_BOOK}",
        create=(("Pricebook2Id", STANDARD_BOOK), ("IsActive", "true")),
        reads=(("PricebookEntry", ("Pricebook2Id", "Product2Id", "UnitPrice", "IsActive")),
               ("Pricebook2", ("IsStandard",)))),
}


def child_value(sf_object: str, sf_field: str | None) -> ChildValue | None:
    return SF_CHILD_VALUES.get((sf_object, sf_field or ""))


def child_value_sql(value: ChildValue, parent: str, column: str | None = None) -> str:
    """The child record's value (or another of its columns) for the parent record whose id is `parent`."""
    return (f"(SELECT min(c.{quote(column or value.value_field)}) FROM raw_salesforce.{quote(value.child + '_current')}"
            f" c WHERE c.{quote(value.parent_field)} = {parent} AND NOT c.deleted AND {value.which})")
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
    salesforce_children: dict[str, tuple[str, ...]]  # child objects read -> fields: association sets, child values
    # fields of other objects the pair reads: its records' companies' fields that inclusion rules use
    related_reads: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    # per pair an association links to: its Salesforce objects (whose ids' key prefixes a polymorphic lookup names)
    linked_objects: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Salesforce fields kept on a child record (SF_CHILD_VALUES): written apart from the record
    child_values: tuple[str, ...] = ()


def load_order(config: SyncConfig) -> list[str]:
    """The pairs in the order they plan and load: companies, people, deals, then the rest, each after the pairs its
    associations link to (a custom object after its parent's), so that a parent created in a run is linked
    before its children's plan needs its id (a master-detail field cannot be left out of a create)."""
    order = {"companies": 0, "contacts": 1, "deals": 2}
    rank: dict[str, int] = {}

    def ranked(name: str, seen: frozenset[str]) -> int:
        if name not in rank:
            pair = config.pairs[name]
            parents = {m.links_to for m in pair.fields if m.links_to in config.pairs} - seen - {name}
            rank[name] = max([order.get(pair.hubspot, 9), *(ranked(p, seen | {name}) + 1 for p in parents)])
        return rank[name]

    return sorted(config.pairs, key=lambda name: (ranked(name, frozenset()), name))


def pair_specs(config: SyncConfig) -> list[PairSpec]:
    """One spec per configured pair, in load order (load_order)."""
    hs_sfid = config.connections.hubspot.salesforce_id_property
    specs = []
    for name, pair in ((n, config.pairs[n]) for n in load_order(config)):
        sf_ext = pair.external_id_field or config.connections.salesforce.external_id_field
        hs_match, sf_match, kind = MATCH_KEYS.get(pair.hubspot, (None, {}, None))
        hs_props = {m.hubspot for m in pair.fields if m.hubspot} | {hs_sfid}
        hs_props |= {f for m in pair.fields if m.to_salesforce is not None for f in m.transform("to_salesforce").fields}
        if pair.include.hubspot:
            hs_props |= set(pair.include.condition("hubspot").fields)
        if getattr(pair.create_as, "contact_if", None):
            hs_props |= set(pair.create_as.condition().fields)
        if hs_match:
            hs_props.add(hs_match)
        if pair.hubspot in ("contacts", "companies"):
            hs_props.add(HS_MERGED)
        sf_fields = {}
        children = {m.salesforce_field(o): m.salesforce_field(o) for m in pair.fields for o in pair.salesforce
                    if m.type == "association_set"}
        values = {m.salesforce_field(o): child_value(o, m.salesforce_field(o)) for m in pair.fields
                  for o in pair.salesforce if child_value(o, m.salesforce_field(o))}
        reads = {c: SF_CHILD_SETS[c][:2] + SF_CHILD_SETS[c][3] for c in children if c in SF_CHILD_SETS}
        for value in values.values():
            for obj, names in value.reads:
                reads[obj] = tuple(dict.fromkeys((*reads.get(obj, ()), *names)))
        for obj in pair.salesforce:
            names = {m.salesforce_field(obj) for m in pair.fields if m.type != "association_set"} - {None}
            names -= set(values)
            names |= {f for m in pair.fields if m.to_hubspot is not None and m.applies_to(obj)
                      for f in m.transform("to_hubspot").fields}
            if pair.include.salesforce:
                names |= set(pair.include.condition("salesforce").fields)
            names |= {sf_ext, *SF_EXTRAS.get(obj, [])}
            if obj in sf_match:
                names.add(sf_match[obj])
            sf_fields[obj] = tuple(sorted(names))
        related = tuple((system, obj, pair.include.company_fields(system))
                        for system, obj in (("hubspot", "companies"), ("salesforce", "Account"))
                        if pair.include.company_fields(system))
        specs.append(PairSpec(name=name, config=pair, hubspot_object=pair.hubspot,
                              salesforce_objects=tuple(pair.salesforce), hubspot_properties=tuple(sorted(hs_props)),
                              salesforce_fields=sf_fields, sf_external_id=sf_ext, hs_salesforce_id=hs_sfid,
                              match_kind=kind, hs_match_field=hs_match,
                              sf_match_fields={o: f for o, f in sf_match.items() if o in pair.salesforce},
                              salesforce_children=reads, child_values=tuple(sorted(values)),
                              related_reads=related,
                              linked_objects=tuple(sorted({(m.links_to, tuple(config.pairs[m.links_to].salesforce))
                                                           for m in pair.fields if m.links_to in config.pairs}))))
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
        for system, obj, names in spec.related_reads:
            cross_id = spec.hs_salesforce_id if system == "hubspot" else spec.sf_external_id
            out.setdefault((system, obj), (set(), cross_id))[0].update(names)
    return {key: (sorted(names), cross_id) for key, (names, cross_id) in sorted(out.items())}


# ---- values: canonical form, translation, the writable value -----------------------------------------------
NORMALISE = {
    "email": "NULLIF(lower(trim({x})), '')",
    "sku": "NULLIF(trim({x}), '')",  # a code as written: case may tell two products apart
    "domain": "NULLIF(regexp_replace(regexp_replace(regexp_replace(lower(trim({x})), '^[a-z]+://', ''), "
              "'^www\\.', ''), '[/:?#].*$', ''), '')",
}

OWNERS_HS = 'raw_hubspot."owners_current"'
USERS_SF = 'raw_salesforce."User_current"'


def canonical(kind: str, x: str, side: str, b: Binds, links_to: str | None = None,
              lookup: tuple[str, str] | None = None, linked_objects: tuple[str, ...] = ()) -> str:
    """Canonical text for a raw value: equal canonical text means the same value to a user.

    Associations are canonical as the HubSpot id of the associated record; an id with no link yet is kept
    as 'unlinked:<id>', which plan.py never writes (it is not known on the other side). So is one linked to a
    record that the Salesforce lookup (lookup: its object and field) cannot hold: a contact linked to a Lead,
    for Case.ContactId, which takes a Contact only.
    """
    t = f"NULLIF(trim({x}), '')"
    if kind == "reference":  # a property holding a HubSpot id compares as a single association does
        kind = "association"
    elif kind == "association" and side == "hubspot":
        t = f"NULLIF(split_part({x}, ';', 1), '')"  # stored as the sorted set; a single association is its first
    if kind == "association":
        if side == "hubspot":
            holds = f" AND {lookup_holds(*lookup, 'a.salesforce_object', b)}" if lookup else ""
            return (f"CASE WHEN {t} IS NULL THEN NULL WHEN EXISTS (SELECT 1 FROM sync.links a WHERE a.pair = "
                    f"{b(links_to)} AND a.hubspot_id = {t}{holds}) THEN {t} ELSE 'unlinked:' || {t} END")
        unlinked = f"'unlinked:' || {t}"
        if lookup:
            # A lookup that holds several objects (Task.WhatId: an Account, an Opportunity, a Case...) is this
            # association only when it names a record of the linked pair's objects (their ids' key prefix): an
            # Account in WhatId is no deal, neither a change nor one waiting for a link.
            # The objects' key prefixes come from their describe (kept in sync.metadata), or from the links made.
            targets = lookup_targets(*lookup, b)
            described = (f" UNION SELECT m.key_prefix FROM sync.metadata m WHERE m.system = 'salesforce' AND "
                         f"m.key_prefix IS NOT NULL AND m.object IN ({', '.join(b(o) for o in linked_objects)})"
                         if linked_objects else "")
            unlinked = (f"CASE WHEN COALESCE(len({targets}), 0) <= 1 OR left({t}, 3) IN (SELECT DISTINCT "
                        f"left(k.salesforce_id, 3) FROM sync.links k WHERE k.pair = {b(links_to)}{described}) "
                        f"THEN 'unlinked:' || {t} END")
        return (f"CASE WHEN {t} IS NULL THEN NULL ELSE COALESCE((SELECT min(a.hubspot_id) FROM sync.links a "
                f"WHERE a.pair = {b(links_to)} AND a.salesforce_id = {t}), {unlinked}) END")
    if kind == "number":
        return (f"CASE WHEN TRY_CAST({t} AS DOUBLE) IS NULL THEN {t} ELSE regexp_replace(regexp_replace("
                f"printf('%.6f', TRY_CAST({t} AS DOUBLE)), '0+$', ''), '\\.$', '') END")
    if kind == "date":
        return (f"CASE WHEN regexp_matches({t}, '^[0-9]{{11,}}$') THEN strftime(epoch_ms(CAST({t} AS BIGINT)), "
                f"'%Y-%m-%d') ELSE left({t}, 10) END")
    if kind == "datetime":
        return (f"CASE WHEN regexp_matches({t}, '^[0-9]{{11,}}$') THEN strftime(epoch_ms(CAST({t} AS BIGINT)), "
                f"'%Y-%m-%dT%H:%M:%S.%gZ') ELSE strftime(TRY_CAST({t} AS TIMESTAMPTZ) AT TIME ZONE 'UTC', "
                f"'%Y-%m-%dT%H:%M:%S.%gZ') END")
    if kind == "email":
        return f"lower({t})"  # HubSpot stores emails lower-cased; case is no change to a user
    if kind == "bool":
        return f"CASE lower({t}) WHEN 'true' THEN 'true' WHEN '1' THEN 'true' WHEN 'false' THEN 'false' " \
               f"WHEN '0' THEN 'false' END"
    if kind == "domain":
        return NORMALISE["domain"].format(x=x)
    if kind == "owner":
        table, col = (OWNERS_HS, "email") if side == "hubspot" else (USERS_SF, '"Email"')
        return f"(SELECT lower(trim(min(o.{col}))) FROM {table} o WHERE o.id = {t})"
    return t


def lookup_targets(sf_object: str, sf_field: str, b: Binds) -> str:
    """The objects a Salesforce lookup can hold, as the describe in sync.metadata says (referenceTo)."""
    return (f"(SELECT m.reference_to FROM sync.metadata m WHERE m.system = 'salesforce' AND m.object = {b(sf_object)} "
            f"AND m.field = {b(sf_field)})")


def lookup_holds(sf_object: str, sf_field: str, record_object: str, b: Binds) -> str:
    """Whether the lookup can hold a record of record_object; while its describe is not read, any."""
    targets = lookup_targets(sf_object, sf_field, b)
    return f"(COALESCE(len({targets}), 0) = 0 OR list_contains({targets}, {record_object}))"


def canonical_set(x: str, links_to: str, side: str, b: Binds, child: tuple[str, str, str] | None = None,
                  member_object: str | None = None) -> str:
    """A set-valued association as the sorted HubSpot ids of its members ('id;id'), NULL when empty.

    HubSpot: x holds the associated ids. Salesforce: x is the parent id; child = (child object, parent field,
    member field) rows hold the members, translated to HubSpot ids through the links of pair links_to.
    Members not linked yet (or linked to a record the other side cannot hold here, e.g. a Lead where only
    Contacts can be roles) appear as 'unlinked:<id>', so the set is left alone rather than cut down.
    """
    if side == "hubspot":
        kind = f" AND a.salesforce_object = {b(member_object)}" if member_object else ""
        member = (f"CASE WHEN EXISTS (SELECT 1 FROM sync.links a WHERE a.pair = {b(links_to)} AND a.hubspot_id = m.id"
                  f"{kind}) THEN m.id ELSE 'unlinked:' || m.id END")
        rows = f"SELECT DISTINCT {member} AS member FROM unnest(string_split({x}, ';')) AS m(id) WHERE m.id <> ''"
    else:
        obj, parent_field, member_field = child
        member = (f"COALESCE((SELECT min(a.hubspot_id) FROM sync.links a WHERE a.pair = {b(links_to)} AND "
                  f"a.salesforce_id = c.{quote(member_field)}), 'unlinked:' || c.{quote(member_field)})")
        rows = (f"SELECT DISTINCT {member} AS member FROM raw_salesforce.{quote(obj + '_current')} c "
                f"WHERE c.{quote(parent_field)} = {x} AND NOT c.deleted")
    return f"(SELECT NULLIF(string_agg(member, ';' ORDER BY member), '') FROM ({rows}))"


def translate(mapping: FieldMapping, v: str, direction: str, b: Binds) -> str:
    """A canonical value in the other side's vocabulary (value maps); direction is 'h2s' or 's2h'."""
    if mapping.type != "enum" or mapping.value_map is None:
        return v
    table = mapping.value_map.hubspot_to_salesforce if direction == "h2s" else mapping.value_map.salesforce_to_hubspot
    if not table:
        return v
    cases = " ".join(f"WHEN {b(src)} THEN {b(dst)}" for src, dst in table.items())
    return f"CASE {v} {cases} ELSE {v} END"


def writable(kind: str, v: str, side: str, b: Binds, links_to: str | None = None) -> str:
    """The value to send, from canonical text: owner emails become owner/user ids, associations and references
    linked ids."""
    if kind in ("association", "reference"):
        if side == "salesforce":
            return (f"(SELECT min(a.salesforce_id) FROM sync.links a WHERE a.pair = {b(links_to)} "
                    f"AND a.hubspot_id = {v})")
        return f"CASE WHEN {v} LIKE 'unlinked:%' THEN NULL ELSE {v} END"
    if kind == "association_set":
        if side == "salesforce":
            return (f"(SELECT string_agg(a.salesforce_id, ';' ORDER BY a.salesforce_id) FROM "
                    f"unnest(string_split({v}, ';')) AS m(v) JOIN sync.links a ON a.pair = {b(links_to)} "
                    f"AND a.hubspot_id = m.v)")
        return v
    if kind == "owner":
        if side == "salesforce":
            # An email can name an inactive user too (Salesforce refuses those as owners): the active one first.
            return (f"(SELECT u.id FROM {USERS_SF} u WHERE lower(trim(u.\"Email\")) = {v} AND NOT u.deleted "
                    f"ORDER BY COALESCE(lower(u.\"IsActive\"), 'true') = 'true' DESC, u.id LIMIT 1)")
        return f"(SELECT min(o.id) FROM {OWNERS_HS} o WHERE lower(trim(o.email)) = {v} AND NOT o.deleted)"
    return v


def json_for_salesforce(kind: str, v: str) -> str:
    """Salesforce JSON wants numbers and booleans typed; HubSpot takes strings."""
    if kind == "number":
        return f"to_json(TRY_CAST({v} AS DOUBLE))"
    if kind == "bool":
        return f"to_json(TRY_CAST({v} AS BOOLEAN))"
    return f"to_json({v})"


def col(table_alias: str, name: str) -> str:
    return f"{table_alias}.{quote(name)}"


# ---- a pair's values, side by side ------------------------------------------------------------------------
def values_sql(spec: PairSpec, linked: bool, b: Binds) -> str:
    """Long rows (hubspot_id, sf object, salesforce_id, field, canonical values, modification times)."""
    parts = []
    hs_table = f"raw_hubspot.{quote(spec.hubspot_object + '_current')}"
    for obj in spec.salesforce_objects:
        sf_table = f"raw_salesforce.{quote(obj + '_current')}"
        for m in spec.config.fields:
            sf_field = m.salesforce_field(obj)
            if not m.applies_to(obj) or m.rule == "dont_sync":
                continue
            # A transform's value, in the target's canonical form: what the source record gives the other side.
            hs_xf = sf_xf = "NULL::VARCHAR"
            if m.to_salesforce is not None:
                hs_xf = canonical(m.type, m.transform("to_salesforce").sql("h", b), "salesforce", b)
            if m.to_hubspot is not None:
                sf_xf = canonical(m.type, m.transform("to_hubspot").sql("s", b), "hubspot", b)
            if m.type == "association_set":
                child = (sf_field, *spec.salesforce_children[sf_field][:2])
                hs_val = canonical_set(col("h", m.hubspot), m.links_to, "hubspot", b,
                                       member_object=SF_CHILD_SETS[sf_field][2])
                sf_val = canonical_set("s.id", m.links_to, "salesforce", b, child)
            elif child_value(obj, sf_field):
                hs_val = canonical(m.type, col("h", m.hubspot), "hubspot", b) if m.hubspot else hs_xf
                sf_val = canonical(m.type, child_value_sql(child_value(obj, sf_field), "s.id"), "salesforce", b)
            else:
                # A side without a field of its own (a one-way field computed from it) compares as the transform
                hs_val = (canonical(m.type, col("h", m.hubspot), "hubspot", b, m.links_to,
                                    (obj, sf_field) if sf_field else None) if m.hubspot else hs_xf)
                sf_val = (canonical(m.type, col("s", sf_field), "salesforce", b, m.links_to, (obj, sf_field),
                                    dict(spec.linked_objects).get(m.links_to, ()))
                          if sf_field else sf_xf)
            select = (f"SELECT {{hid}} AS hubspot_id, {b(obj)} AS sf_object, {{sid}} AS salesforce_id, "
                      f"{b(m.name)} AS field, {_name(m.hubspot, b)} AS hs_field, {_name(sf_field, b)} AS "
                      f"sf_field, {b(m.type)} AS kind, {b(m.rule)} AS rule, {{hv}} AS hs_val, "
                      f"{{sv}} AS sf_val, {{hm}} AS hs_mod, {{sm}} AS sf_mod, {{hx}} AS hs_xf, {{sx}} AS sf_xf")
            if linked:
                parts.append(select.format(hid="l.hubspot_id", sid="l.salesforce_id", hv=hs_val, sv=sf_val,
                                           hm="h.modified_at", sm="s.modified_at", hx=hs_xf, sx=sf_xf)
                             + f" FROM _cand l JOIN {hs_table} h ON h.id = l.hubspot_id JOIN {sf_table} s ON "
                               f"s.id = l.salesforce_id WHERE l.salesforce_object = {b(obj)}")
            else:
                parts.append(select.format(hid="h.id", sid="NULL", hv=hs_val, sv="NULL", hm="h.modified_at",
                                           sm="NULL::TIMESTAMPTZ", hx=hs_xf, sx="NULL::VARCHAR")
                             + f" FROM _creates_sf c JOIN {hs_table} h ON h.id = c.id WHERE c.object = {b(obj)}")
                parts.append(select.format(hid="NULL", sid="s.id", hv="NULL", sv=sf_val, hm="NULL::TIMESTAMPTZ",
                                           sm="s.modified_at", hx="NULL::VARCHAR", sx=sf_xf)
                             + f" FROM _creates_hs c JOIN {sf_table} s ON s.id = c.id WHERE c.object = {b(obj)}")
    return " UNION ALL ".join(parts) if parts else ""


def _name(name: str | None, b: Binds) -> str:
    return b(name) if name is not None else "NULL::VARCHAR"


def translations(spec: PairSpec, b: Binds) -> tuple[str, str, str, str]:
    """CASE expressions over field name: hs_val in SF vocabulary, sf_val in HS vocabulary, and writables."""
    h2s, s2h, to_sf, to_hs = [], [], [], []
    for m in spec.config.fields:
        name = b(m.name)
        # A transform computes the other side's value from the record; a value map then still applies.
        h2s.append(f"WHEN {name} THEN {translate(m, 'hs_xf' if m.to_salesforce else 'hs_val', 'h2s', b)}")
        s2h.append(f"WHEN {name} THEN {translate(m, 'sf_xf' if m.to_hubspot else 'sf_val', 's2h', b)}")
        to_sf.append(f"WHEN {name} THEN "
                     f"{json_for_salesforce(m.type, writable(m.type, 'sf_new', 'salesforce', b, m.links_to))}")
        to_hs.append(f"WHEN {name} THEN {writable(m.type, 'hs_new', 'hubspot', b, m.links_to)}")
    wrap = lambda arms, default: f"CASE field {' '.join(arms)} ELSE {default} END"  # noqa: E731
    return wrap(h2s, "hs_val"), wrap(s2h, "sf_val"), wrap(to_sf, "to_json(sf_new)"), wrap(to_hs, "hs_new")
