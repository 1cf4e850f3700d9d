"""Mappings checked against the targets' live metadata (sync.metadata: Salesforce describe, HubSpot properties)
and the data last read, before anything is written (`crm-sync check`, and every plan).

Errors (every value would fail): a target field that does not exist or cannot be written (formula, read-only), a
value map that feeds a restricted picklist values it lacks. Warnings (some values can fail, named with samples
from the data): values outside a restricted picklist, a multi-select into a single select, values longer than
the target takes, values that are not numbers for a number field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from crm_sync.engine.db import Binds, quote, tables
from crm_sync.engine.mapping import PairSpec, canonical, col, translate

WRITES_TO = {"salesforce": ("two_way", "prefer_salesforce_unless_blank", "prefer_hubspot_unless_blank",
                            "always_hubspot"),
             "hubspot": ("two_way", "prefer_salesforce_unless_blank", "prefer_hubspot_unless_blank",
                         "always_salesforce")}
NUMBERS = ("double", "currency", "percent", "int", "number")


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


def _meta(con, system: str, obj: str) -> dict[str, dict] | None:
    cursor = con.execute("SELECT * FROM sync.metadata WHERE system = ? AND object = ?", [system, obj])
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    return {r["field"]: r for r in rows} if rows else None


def check(con: duckdb.DuckDBPyConnection, specs: list[PairSpec], samples: int = 3, data: bool = True) -> list[Finding]:
    """Every finding for the pairs' mappings, errors first. data=False: metadata only (the errors; what every
    plan checks), without reading the data for warnings (what `crm-sync check` adds)."""
    found: list[Finding] = []
    present = tables(con) if data else set()
    described: dict[tuple[str, str], dict | None] = {}
    for spec in specs:
        for m in spec.config.fields:
            if m.type in ("association", "association_set", "owner"):
                continue
            targets = []
            if m.rule in WRITES_TO["salesforce"]:
                targets += [("salesforce", o, m.salesforce_field(o), "hubspot", spec.hubspot_object, m.hubspot,
                             m.to_salesforce) for o in spec.salesforce_objects if m.salesforce_field(o)]
            if m.rule in WRITES_TO["hubspot"] and m.hubspot:
                targets += [("hubspot", spec.hubspot_object, m.hubspot, "salesforce", o, m.salesforce_field(o),
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
                table_name = (f"raw_{source}", f"{source_obj}_current")
                if table_name not in present or (source_field is None and transform is None):
                    continue
                found += _from_data(con, spec, m, spot, info, options, source, source_obj, source_field, samples)
    return sorted(found, key=lambda f: (f.level != "error", f.pair, f.mapping, f.target, f.object))


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
    base = (f"SELECT v, count(*) AS n FROM (SELECT {value} AS v FROM raw_{source}.{quote(source_obj + '_current')} "
            f"{alias} WHERE NOT {alias}.deleted) WHERE v IS NOT NULL AND {{where}} GROUP BY v ORDER BY n DESC, v")
    out = []

    def sample(where: str, params: dict | None = None) -> list:
        for k, v in (params or {}).items():
            b.values[k] = v
        return [(v, n) for v, n in b.execute(con, base.format(where=where) + f" LIMIT {int(samples)}").fetchall()]

    if info["restricted"] and options:
        bad = sample("NOT list_has_all($options, string_split(v, ';'))", {"options": options})
        if bad:
            out.append(Finding("warning", *spot, "values outside the restricted picklist are held back", bad))
    if info["type"] == "picklist" and options:  # (HubSpot enumerations may be multi-checkboxes)
        multi = sample("contains(v, ';')")
        if multi:
            out.append(Finding("warning", *spot, "several values into a single select (use first_option or "
                                                 "pick_option)", multi))
    if (info["length"] or 0) > 0:
        long = sample("length(v) > $length", {"length": int(info["length"])})
        if long:
            out.append(Finding("warning", *spot, f"values longer than {info['length']} characters are refused",
                               [(str(v)[:40] + "...", n) for v, n in long]))
    if info["type"] in NUMBERS:
        text = sample("TRY_CAST(v AS DOUBLE) IS NULL")
        if text:
            out.append(Finding("warning", *spot, "values that are not numbers are refused (parse_number converts)",
                               text))
    return out
