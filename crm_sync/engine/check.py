"""Mappings checked against the targets' live metadata (sync.metadata: Salesforce describe, HubSpot properties)
and the data last read, before anything is written (`crm-sync check`, and every plan).

Errors (every value would fail): a target field that does not exist or cannot be written (formula, read-only), a
value map that feeds a restricted picklist values it lacks, a type that cannot convert (a number, boolean or date
into a field of another of those kinds, with no transform), and a test below that every value read fails (at
least REFUSE_FROM records), named with samples. Warnings (some values can fail): from the metadata,
a source field declared longer than its target and free text into a number, boolean or date field; from the
data, named with samples: values outside a restricted picklist, a multi-select into a single select, values
longer than the target takes, values that are not numbers, booleans or dates for such a field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from crm_sync.engine.db import Binds, quote, tables
from crm_sync.engine.mapping import PairSpec, canonical, child_value, col, translate

WRITES_TO = {"salesforce": ("two_way", "prefer_salesforce_unless_blank", "prefer_hubspot_unless_blank",
                            "always_hubspot"),
             "hubspot": ("two_way", "prefer_salesforce_unless_blank", "prefer_hubspot_unless_blank",
                         "always_salesforce")}
NUMBERS = ("double", "currency", "percent", "int", "number")
BOOLEANS = ("boolean", "bool")
DATES = ("date", "datetime")
# Every value read failing a test makes it an error (the mapping cannot work) once this many records were read;
# below it a stray value or two says little about the mapping, and stays a warning.
REFUSE_FROM = 10
TEXTS = ("string", "textarea", "text", "email", "phone", "url", "picklist", "multipicklist", "enumeration",
         "combobox", "encryptedstring")


def kind_of(field_type: str | None) -> str | None:
    """A field type as what its values are: number, boolean, date, text (None: something else, e.g. an id)."""
    for kind, types in (("number", NUMBERS), ("boolean", BOOLEANS), ("date", DATES), ("text", TEXTS)):
        if field_type in types:
            return kind
    return None


@dataclass
class Finding:
    level: str  # "error" | "warning"
    pair: str
    mapping: str
    target: str
    object: str
    field: str
    problem: str
    samples: list = field(default_factory=list)  # [(value, records)]

    def __str__(self) -> str:
        shown = ", ".join(f"{v!r} ({n:,})" for v, n in self.samples)
        return (f"{self.level}: pairs.{self.pair} field {self.mapping!r} -> {self.target} {self.object}.{self.field}: "
                f"{self.problem}" + (f"; e.g. {shown}" if shown else ""))


def _held_on(sf_object: str, sf_field: str) -> tuple[str, str]:
    """The object and field a Salesforce value is written to: a price goes to its PricebookEntry's UnitPrice."""
    value = child_value(sf_object, sf_field)
    return (value.child, value.value_field) if value else (sf_object, sf_field)


def _meta(con, system: str, obj: str) -> dict[str, dict] | None:
    cursor = con.execute("SELECT * FROM sync.metadata WHERE system = ? AND object = ?", [system, obj])
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    return {r["field"]: r for r in rows} if rows else None


def check(con: duckdb.DuckDBPyConnection, specs: list[PairSpec], samples: int = 3, data: bool = True) -> list[Finding]:
    """Every finding for the pairs' mappings, errors first. data=False: from the metadata only, without reading
    the data last read (plans read it once per configuration; `crm-sync check` always)."""
    found: list[Finding] = []
    present = tables(con) if data else set()
    described: dict[tuple[str, str], dict | None] = {}
    for spec in specs:
        for m in spec.config.fields:
            if m.type in ("association", "association_set", "reference", "owner"):
                continue
            targets = []
            if m.rule in WRITES_TO["salesforce"]:
                targets += [("salesforce", *_held_on(o, m.salesforce_field(o)), "hubspot", spec.hubspot_object,
                             m.hubspot, m.to_salesforce) for o in spec.salesforce_objects if m.salesforce_field(o)]
            if m.rule in WRITES_TO["hubspot"] and m.hubspot:
                # a value read off a child record (a price) has no column of its own to look at in the data
                targets += [("hubspot", spec.hubspot_object, m.hubspot, "salesforce", o,
                             None if child_value(o, m.salesforce_field(o)) else m.salesforce_field(o),
                             m.to_hubspot) for o in spec.salesforce_objects if m.applies_to(o)]
            for target, obj, target_field, source, source_obj, source_field, transform in targets:
                if (target, obj) not in described:
                    described[(target, obj)] = _meta(con, target, obj)
                meta = described[(target, obj)]
                if meta is None:
                    continue  # not described yet: validation checks each value once it is
                spot = (spec.name, m.name, target, obj, target_field)
                info = meta.get(target_field)
                if info is None:
                    found.append(Finding("error", *spot, "no such field"))
                    continue
                if not info["updateable"] and not info["createable"]:
                    found.append(Finding("error", *spot, f"cannot be written ({info['type']}, read-only or formula)"))
                    continue
                options = list(info["options"] or [])
                if m.value_map is not None and info["restricted"]:
                    table = (m.value_map.hubspot_to_salesforce if target == "salesforce"
                             else m.value_map.salesforce_to_hubspot)
                    missing = sorted({v for v in table.values() if v not in options})
                    if missing:
                        found.append(Finding("error", *spot, f"the value map writes {missing}, which the restricted "
                                             f"picklist lacks (it has {options})"))
                if (source, source_obj) not in described:
                    described[(source, source_obj)] = _meta(con, source, source_obj)
                source_info = (described[(source, source_obj)] or {}).get(source_field) if source_field else None
                if transform is None and source_info is not None:
                    found += _types(m, spot, info, source_info, source)
                table_name = (f"raw_{source}", f"{source_obj}_current")
                if table_name not in present or (source_field is None and transform is None):
                    continue
                found += _from_data(con, spec, m, spot, info, options, source, source_obj, source_field, samples)
    return sorted(found, key=lambda f: (f.level != "error", f.pair, f.mapping, f.target, f.object))


def _types(m, spot, info, source_info, source) -> list[Finding]:
    """What the two fields' declared types and lengths say of a plain mapping (no transform)."""
    out = []
    have, want = kind_of(source_info["type"]), kind_of(info["type"])
    plain = m.value_map is None
    if plain and have in ("number", "boolean", "date") and want in ("number", "boolean", "date") and have != want:
        out.append(Finding("error", *spot, f"a {have} ({source} {source_info['field']}, {source_info['type']}) "
                                           f"cannot convert to a {want} ({info['type']}); add a transform"))
    elif plain and have == "text" and want in ("number", "boolean", "date") and m.type in ("string", "enum"):
        helper = {"number": "parse_number", "boolean": "parse_bool", "date": "strptime or date_in_zone"}[want]
        out.append(Finding("warning", *spot, f"free text ({source} {source_info['field']}, {source_info['type']}) "
                                             f"into a {want} field: values that do not convert are refused "
                                             f"({helper} converts)"))
    source_length, length = source_info["length"] or 0, info["length"] or 0
    if m.type in ("string", "email", "phone", "domain") and 0 < length < source_length:
        out.append(Finding("warning", *spot, f"{source} {source_info['field']} takes up to {source_length} "
                                             f"characters, the target {length}: longer values are refused"))
    return out


def _from_data(con, spec, m, spot, info, options, source, source_obj, source_field, samples) -> list[Finding]:
    """Warnings from the values last read on the source side, as the mapping would write them."""
    b = Binds()
    alias = "h" if source == "hubspot" else "s"
    direction, side = ("h2s", "salesforce") if source == "hubspot" else ("s2h", "hubspot")
    expression = m.transform("to_salesforce" if source == "hubspot" else "to_hubspot")
    raw = (canonical(m.type, expression.sql(alias, b), side, b) if expression is not None
           else canonical(m.type, col(alias, source_field), source, b))
    value = translate(m, raw, direction, b)
    cols = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                                      "AND table_name = ?", [f"raw_{source}", f"{source_obj}_current"]).fetchall()}
    wanted = set(expression.fields) if expression is not None else {source_field}
    if not wanted <= cols:
        return []
    # The values as the mapping would write them, counted once; each test below reads this table.
    b.execute(con, f"""CREATE OR REPLACE TEMP TABLE _check_values AS SELECT v, count(*) AS n FROM (SELECT {value} AS v
        FROM raw_{source}.{quote(source_obj + '_current')} {alias} WHERE NOT {alias}.deleted) WHERE v IS NOT NULL
        GROUP BY v""")
    total = con.execute("SELECT COALESCE(sum(n), 0) FROM _check_values").fetchone()[0]
    out = []

    def test(where: str, problem: str, params: dict | None = None, shown=lambda v: v) -> None:
        """A finding where values fail `where`: a warning, or an error when every value read fails it (the
        mapping cannot work: a plan refuses it)."""
        for k, v in (params or {}).items():
            b.values[k] = v
        rows = b.execute(con, f"SELECT v, n, sum(n) OVER () FROM _check_values WHERE {where} "
                              f"ORDER BY n DESC, v LIMIT {int(samples)}").fetchall()
        if rows:
            every = rows[0][2] == total >= REFUSE_FROM
            out.append(Finding("error" if every else "warning", *spot,
                               (f"every value read ({total:,}): " if every else "") + problem,
                               [(shown(v), n) for v, n, _ in rows]))

    if info["restricted"] and options:
        test("NOT list_has_all($options, string_split(v, ';'))", "values outside the restricted picklist are held "
             "back", {"options": options})
    if info["type"] == "picklist" and options:  # (HubSpot enumerations may be multi-checkboxes)
        test("contains(v, ';')", "several values into a single select (use first_option or pick_option)")
    if (info["length"] or 0) > 0:
        test("length(v) > $length", f"values longer than {info['length']} characters are refused",
             {"length": int(info["length"])}, shown=lambda v: str(v)[:40] + "...")
    if info["type"] in NUMBERS:
        test("TRY_CAST(v AS DOUBLE) IS NULL", "values that are not numbers are refused (parse_number converts)")
    if info["type"] in BOOLEANS:
        test("lower(v) NOT IN ('true', 'false')", "values that are not true or false are refused (parse_bool "
                                                  "converts)")
    if info["type"] in DATES:  # ISO dates and datetimes, or HubSpot's epoch milliseconds
        test("TRY_CAST(v AS TIMESTAMPTZ) IS NULL AND NOT regexp_full_match(v, $epoch_ms)", "values that are not "
             "dates are refused (strptime or date_in_zone convert)", {"epoch_ms": "[0-9]{10,13}"})
    return out
