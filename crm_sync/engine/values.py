"""SQL expressions that put each side's values in canonical form and translate them for the other side."""

from __future__ import annotations

from crm_sync.config.models import FieldMapping
from crm_sync.engine.db import quote
from crm_sync.engine.link import NORMALISE

OWNERS_HS = 'raw_hubspot."owners_current"'
USERS_SF = 'raw_salesforce."User_current"'


def canonical(kind: str, x: str, side: str, links_to: str | None = None) -> str:
    """Canonical text for a raw value: equal canonical text means the same value to a user.

    Associations are canonical as the HubSpot id of the associated record; an id with no link yet is kept
    as 'unlinked:<id>', which plan.py never writes (it is not known on the other side).
    """
    t = f"NULLIF(trim({x}), '')"
    if kind == "association" and side == "hubspot":
        t = f"NULLIF(split_part({x}, ';', 1), '')"  # stored as the sorted set; a single association is its first
    if kind == "association":
        if side == "hubspot":
            return (f"CASE WHEN {t} IS NULL THEN NULL WHEN EXISTS (SELECT 1 FROM sync.links a WHERE a.pair = "
                    f"'{links_to}' AND a.hubspot_id = {t}) THEN {t} ELSE 'unlinked:' || {t} END")
        return (f"CASE WHEN {t} IS NULL THEN NULL ELSE COALESCE((SELECT min(a.hubspot_id) FROM sync.links a "
                f"WHERE a.pair = '{links_to}' AND a.salesforce_id = {t}), 'unlinked:' || {t}) END")
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


def canonical_set(x: str, links_to: str, side: str, child: tuple[str, str, str] | None = None,
                  member_object: str | None = None) -> str:
    """A set-valued association as the sorted HubSpot ids of its members ('id;id'), NULL when empty.

    HubSpot: x holds the associated ids. Salesforce: x is the parent id; child = (child object, parent field,
    member field) rows hold the members, translated to HubSpot ids through the links of pair links_to.
    Members not linked yet (or linked to a record the other side cannot hold here, e.g. a Lead where only
    Contacts can be roles) appear as 'unlinked:<id>', so the set is left alone rather than cut down.
    """
    if side == "hubspot":
        kind = f" AND a.salesforce_object = '{member_object}'" if member_object else ""
        member = (f"CASE WHEN EXISTS (SELECT 1 FROM sync.links a WHERE a.pair = '{links_to}' AND a.hubspot_id = m.id"
                  f"{kind}) THEN m.id ELSE 'unlinked:' || m.id END")
        rows = f"SELECT DISTINCT {member} AS member FROM unnest(string_split({x}, ';')) AS m(id) WHERE m.id <> ''"
    else:
        obj, parent_field, member_field = child
        member = (f"COALESCE((SELECT min(a.hubspot_id) FROM sync.links a WHERE a.pair = '{links_to}' AND "
                  f"a.salesforce_id = c.{quote(member_field)}), 'unlinked:' || c.{quote(member_field)})")
        rows = (f"SELECT DISTINCT {member} AS member FROM raw_salesforce.{quote(obj + '_current')} c "
                f"WHERE c.{quote(parent_field)} = {x} AND NOT c.deleted")
    return f"(SELECT NULLIF(string_agg(member, ';' ORDER BY member), '') FROM ({rows}))"


def translate(mapping: FieldMapping, v: str, direction: str) -> str:
    """A canonical value in the other side's vocabulary (value maps); direction is 'h2s' or 's2h'."""
    if mapping.type != "enum" or mapping.value_map is None:
        return v
    table = mapping.value_map.hubspot_to_salesforce if direction == "h2s" else mapping.value_map.salesforce_to_hubspot
    if not table:
        return v
    cases = " ".join(f"WHEN {sql_str(src)} THEN {sql_str(dst)}" for src, dst in table.items())
    return f"CASE {v} {cases} ELSE {v} END"


def writable(kind: str, v: str, side: str, links_to: str | None = None) -> str:
    """The value to send, from canonical text: owner emails become owner/user ids, associations linked ids."""
    if kind == "association":
        if side == "salesforce":
            return f"(SELECT min(a.salesforce_id) FROM sync.links a WHERE a.pair = '{links_to}' AND a.hubspot_id = {v})"
        return f"CASE WHEN {v} LIKE 'unlinked:%' THEN NULL ELSE {v} END"
    if kind == "association_set":
        if side == "salesforce":
            return (f"(SELECT string_agg(a.salesforce_id, ';' ORDER BY a.salesforce_id) FROM "
                    f"unnest(string_split({v}, ';')) AS m(v) JOIN sync.links a ON a.pair = '{links_to}' "
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


def sql_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def col(table_alias: str, name: str) -> str:
    return f"{table_alias}.{quote(name)}"
