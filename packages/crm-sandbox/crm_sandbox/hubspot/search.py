"""The CRM search endpoint compiled to SQL: filter groups, operators by property type, sorts and HubSpot's caps."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from crm_sandbox.hubspot.catalog import ObjectType
from crm_sandbox.hubspot.errors import bad_request
from crm_sandbox.hubspot.properties import Prop
from crm_sandbox.hubspot.store import LIVE, HubSpotStore, q
from crm_sandbox.hubspot.values import MAX_ID, canonical_date, canonical_datetime, canonical_number

MAX_LIMIT = 200
RESULT_CAP = 10_000
OPERATORS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY",
             "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
_COMPARE = {"EQ": "=", "NEQ": "!=", "LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}
_WORDS = re.compile(r"[^0-9a-z]+")


def token_match(value: str | None, token: str | None) -> int:
    """CONTAINS_TOKEN without a wildcard: the token is the whole value, one of its words, or all its words are."""
    if value is None or not token:
        return 0
    lowered, wanted = value.lower(), token.lower().strip()
    words = set(_WORDS.split(lowered)) | set(lowered.split())
    parts = [p for p in _WORDS.split(wanted) if p]
    return int(wanted == lowered or wanted in words or (bool(parts) and all(p in words for p in parts)))


def register(conn: sqlite3.Connection) -> None:
    conn.create_function("hs_token", 2, token_match, deterministic=True)


@dataclass
class CompiledSearch:
    where: str
    params: list
    order: str
    offset: int
    limit: int
    properties: list[str] | None

    def page_sql(self) -> tuple[str, list]:
        return (f"WHERE {self.where} ORDER BY {self.order} LIMIT ? OFFSET ?",
                [*self.params, self.limit, self.offset])

    def count_sql(self, otype: ObjectType) -> tuple[str, list]:
        return f"SELECT COUNT(*) FROM {q(otype.table)} WHERE {self.where}", list(self.params)


def _int(value, name: str, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(str(value))
    except ValueError:
        raise bad_request(f"Invalid {name}: {value}") from None


def compile_search(store: HubSpotStore, otype: ObjectType, body: dict) -> CompiledSearch:
    if not isinstance(body, dict):
        raise bad_request("Invalid search request body")
    limit = _int(body.get("limit"), "limit", 10)
    if not 0 <= limit <= MAX_LIMIT:
        raise bad_request(f"limit must be between 0 and {MAX_LIMIT}; got {limit}")
    offset = _int(body.get("after"), "after", 0)
    if offset < 0:
        raise bad_request(f"Invalid after: {offset}")
    if offset >= RESULT_CAP:
        raise bad_request(f"The search endpoints are limited to {RESULT_CAP} total results for any given query. "
                          f"Paging beyond {RESULT_CAP} (after={offset}) is not allowed.",
                          context={"after": [str(offset)]})
    limit = min(limit, RESULT_CAP - offset)
    groups = body.get("filterGroups") or []
    settings = store.settings
    if not isinstance(groups, list) or not all(isinstance(g, dict) and isinstance(g.get("filters") or [], list)
                                               and all(isinstance(f, dict) for f in g.get("filters") or [])
                                               for g in groups):
        raise bad_request("filterGroups must be a list of {\"filters\": [filter objects]}")
    if len(groups) > settings["search_max_groups"]:
        raise bad_request(f"Too many filter groups: {len(groups)}. The maximum is {settings['search_max_groups']}.")
    total = 0
    group_sql: list[str] = []
    params: list = []
    for group in groups:
        filters = (group or {}).get("filters") or []
        if len(filters) > settings["search_max_filters_per_group"]:
            raise bad_request(f"Too many filters in a filter group: {len(filters)}. The maximum is "
                              f"{settings['search_max_filters_per_group']}.")
        total += len(filters)
        parts = []
        for flt in filters:
            sql, values = _filter(store, otype, flt or {})
            parts.append(sql)
            params += values
        if parts:
            group_sql.append("(" + " AND ".join(parts) + ")")
    if total > settings["search_max_filters"]:
        raise bad_request(f"Too many filters: {total}. The maximum across all filter groups is "
                          f"{settings['search_max_filters']}.")
    sort = body.get("sorts")
    dates = {otype.created_prop, otype.modified_prop}
    named = {str((f or {}).get("propertyName")) for g in groups for f in (g or {}).get("filters") or []}
    sorted_by = _sort_name(sort)
    # The live flag leads the (_state, date) indexes; elsewhere "+_state" keeps SQLite on the primary key.
    where = [f"_state = {LIVE}" if (named | {sorted_by}) & dates else f"+_state = {LIVE}"]
    if group_sql:
        where.append("(" + " OR ".join(group_sql) + ")")
    query = str(body.get("query") or "").strip()
    if query:
        sql, values = _free_text(store, otype, query)
        where.append(sql)
        params += values
    properties = body.get("properties")
    return CompiledSearch(" AND ".join(where), params, _order(store, otype, sort), offset, limit,
                          [str(p) for p in properties] if properties else None)


def _prop(store: HubSpotStore, otype: ObjectType, name) -> Prop:
    prop = store.props[otype.name].get(str(name))
    if prop is None or prop.archived:
        raise bad_request(f"Property '{name}' does not exist on {otype.name}",
                          [{"message": f"Property '{name}' does not exist", "code": "PROPERTY_DOESNT_EXIST",
                            "context": {"propertyName": [str(name)]}}])
    return prop


def _converter(prop: Prop):
    """(column expression, value converter) for comparisons in the property's type."""
    if prop.name == "hs_object_id":
        return "id", _record_id
    col = q(prop.name)
    if prop.type == "number":
        return f"CAST({col} AS REAL)", lambda x: float(canonical_number(x) or "x")
    if prop.type == "datetime":
        return col, lambda x: canonical_datetime(x) or _fail(x)
    if prop.type == "date":
        def as_date(x: str) -> str:
            out, _ = canonical_date(x)
            if out:
                return out
            moment = canonical_datetime(x)  # a filter may name any instant; compare its UTC day
            return moment[:10] if moment else _fail(x)
        return col, as_date
    return f"{col} COLLATE NOCASE", str


def _record_id(value: str) -> int:
    """An hs_object_id filter value as an id, clamped to a long: no record has an id past it (and SQLite could not
    bind one), so comparisons keep their meaning."""
    try:
        number = int(float(value))
    except OverflowError:
        number = MAX_ID if float(value) > 0 else -MAX_ID
    return max(-MAX_ID, min(MAX_ID, number))


def _fail(value):
    raise ValueError(value)


def _filter(store: HubSpotStore, otype: ObjectType, flt: dict) -> tuple[str, list]:
    prop = _prop(store, otype, flt.get("propertyName"))
    op = str(flt.get("operator") or "EQ").upper()
    if op not in OPERATORS:
        raise bad_request(f"Unknown filter operator {op}")
    col = "id" if prop.name == "hs_object_id" else q(prop.name)
    if op == "HAS_PROPERTY":
        return f"{col} IS NOT NULL", []
    if op == "NOT_HAS_PROPERTY":
        return f"{col} IS NULL", []
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(flt.get("value") or "")
        if "*" in token:
            pattern = token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "%")
            sql, params = f"{col} LIKE ? ESCAPE '\\'", [pattern]
        else:
            sql, params = f"hs_token({col}, ?) = 1", [token]
        return (sql, params) if op == "CONTAINS_TOKEN" else (f"({col} IS NULL OR NOT ({sql}))", params)
    expr, convert = _converter(prop)

    def conv(raw) -> object:
        if raw is None:
            raise bad_request(f"Filter on {prop.name} with operator {op} needs a value")
        try:
            return convert(str(raw))
        except (ValueError, TypeError):
            raise bad_request(f"{raw} is not a valid {prop.type} value for {prop.name}") from None

    if prop.multi and op in ("EQ", "NEQ", "IN", "NOT_IN"):
        wanted = flt.get("values") if op in ("IN", "NOT_IN") else [flt.get("value")]
        wanted = [str(w) for w in wanted or []]
        contains = " OR ".join(f"(';' || {col} || ';') LIKE ?" for _ in wanted) or "0"
        params = [f"%;{w};%" for w in wanted]
        return (f"({contains})", params) if op in ("EQ", "IN") else (f"({col} IS NULL OR NOT ({contains}))", params)
    if op in _COMPARE:
        sql = f"{expr} {_COMPARE[op]} ?"
        return (f"({col} IS NULL OR {sql})" if op == "NEQ" else sql), [conv(flt.get("value"))]
    if op == "BETWEEN":
        return f"{expr} BETWEEN ? AND ?", [conv(flt.get("value")), conv(flt.get("highValue"))]
    values = flt.get("values")
    if not isinstance(values, list) or not values:
        raise bad_request(f"Filter on {prop.name} with operator {op} needs a non-empty values list")
    marks = ", ".join("?" for _ in values)
    converted = [conv(x) for x in values]
    if op == "IN":
        return f"{expr} IN ({marks})", converted
    return f"({col} IS NULL OR {expr} NOT IN ({marks}))", converted


def _free_text(store: HubSpotStore, otype: ObjectType, query: str) -> tuple[str, list]:
    columns = [c for c in otype.searchable if c in store.props[otype.name]] or [otype.modified_prop]
    clauses, params = [], []
    for token in query.split():
        pattern = "%" + token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "%") + "%"
        clauses.append("(" + " OR ".join(f"{q(c)} LIKE ? ESCAPE '\\'" for c in columns) + ")")
        params += [pattern] * len(columns)
    return "(" + " AND ".join(clauses) + ")", params


def _sort_rule(sorts) -> tuple[str, bool] | None:
    """(property, descending) of the first sort rule (only one is honoured), string or object form."""
    if not sorts:
        return None
    first = sorts[0] if isinstance(sorts, list) else sorts
    if isinstance(first, str):
        return first.lstrip("-"), first.startswith("-")
    if isinstance(first, dict):
        return str(first.get("propertyName")), str(first.get("direction") or "ASCENDING").upper() == "DESCENDING"
    raise bad_request("Invalid sort")


def _sort_name(sorts) -> str:
    rule = _sort_rule(sorts)
    return rule[0] if rule else "hs_object_id"


def _order(store: HubSpotStore, otype: ObjectType, sorts) -> str:
    rule = _sort_rule(sorts)
    if rule is None:
        return "id ASC"
    name, descending = rule
    prop = _prop(store, otype, name)
    direction = "DESC" if descending else "ASC"
    if prop.name == "hs_object_id":
        return f"id {direction}"
    col = q(prop.name)
    if prop.name in (otype.created_prop, otype.modified_prop):
        return f"{col} {direction}, id {direction}"  # matches the (_state, date) index: no sort step
    expr = {"number": f"CAST({col} AS REAL)", "datetime": col, "date": col}.get(prop.type, f"{col} COLLATE NOCASE")
    return f"({col} IS NULL) ASC, {expr} {direction}, id {direction}"
