"""The mapping language: an expression over one record's own fields, the value a mapping writes.

    to_salesforce: "concat_ws(' ', firstname, lastname)"
    to_hubspot: "CASE WHEN StageName = 'Closed Won' THEN 'customer' ELSE 'opportunity' END"

An expression is DuckDB SQL of a fixed shape, parsed by sqlglot and checked before use: the source record's field
names (unqualified), literals, operators, CASE, CAST / TRY_CAST and the functions in FUNCTIONS and MACROS. No
subquery, table, star, parameter or other function gets through, so a mapping can read nothing but the record it
maps. Compiled, every field becomes a column of the source table and every literal a bound parameter; the plan
evaluates it over whole tables like the rest of its SQL, never record by record in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from crm_sync.engine.db import Binds, quote

# Functions an expression may call, by the name a user writes (DuckDB's).
FUNCTIONS = (
    "lower", "upper", "trim", "ltrim", "rtrim", "concat", "concat_ws", "split_part", "replace", "regexp_replace",
    "regexp_extract", "regexp_matches", "left", "right", "substr", "substring", "length", "strpos", "lpad", "rpad",
    "coalesce", "nullif", "greatest", "least", "round", "floor", "ceil", "abs", "strftime", "strptime",
    "date_trunc", "contains", "starts_with", "ends_with", "initcap", "if",
)

# Our own functions, as DuckDB macros made on every connection (db.connect): formats HubSpot and Salesforce
# users ask for, in SQL. CALLING_CODES: the regions e164 knows (ISO 3166 alpha-2), checked when a mapping loads.
CALLING_CODES = {
    "US": "1", "CA": "1", "GB": "44", "IE": "353", "DE": "49", "AT": "43", "CH": "41", "FR": "33", "BE": "32",
    "NL": "31", "LU": "352", "ES": "34", "PT": "351", "IT": "39", "DK": "45", "SE": "46", "NO": "47", "FI": "358",
    "PL": "48", "CZ": "420", "AU": "61", "NZ": "64", "IN": "91", "SG": "65", "JP": "81", "BR": "55", "MX": "52",
    "ZA": "27", "IL": "972", "AE": "971",
}
_NO_TRUNK_ZERO = ("IT",)  # national numbers whose leading 0 is part of the number
_DIGITS = "regexp_replace(regexp_replace(x, '(?i)\\s*(x|ext\\.?)\\s*[0-9]+\\s*$', ''), '[^0-9]', '', 'g')"
_CODES = "MAP {" + ", ".join(f"'{r}': '{c}'" for r, c in CALLING_CODES.items()) + "}"
MACROS = {
    # Phone numbers to E.164 (+<country><number>, digits only): international forms (+, 00) kept, national ones
    # given the default region's calling code without their trunk prefix; an extension is dropped. No check of
    # per-country lengths: a number too short or too long is kept as written with its digits.
    "e164": ("x, region", f"""CASE
        WHEN x IS NULL OR {_DIGITS} = '' THEN NULL
        WHEN starts_with(ltrim(x), '+') THEN '+' || {_DIGITS}
        WHEN starts_with({_DIGITS}, '00') THEN '+' || substr({_DIGITS}, 3)
        WHEN {_CODES}[upper(region)] = '1' AND length({_DIGITS}) = 11 AND starts_with({_DIGITS}, '1')
            THEN '+' || {_DIGITS}
        WHEN list_contains({list(_NO_TRUNK_ZERO)}, upper(region)) THEN '+' || {_CODES}[upper(region)] || {_DIGITS}
        ELSE '+' || {_CODES}[upper(region)] || ltrim({_DIGITS}, '0') END"""),
    # A date or datetime as the calendar date it falls on in a time zone ('2024-03-01')
    "date_in_zone": ("x, zone", "strftime(timezone(zone, TRY_CAST(x AS TIMESTAMPTZ)), '%Y-%m-%d')"),
    # HubSpot date properties: midnight UTC of the date, in epoch milliseconds
    "hubspot_date": ("x", "CAST(epoch_ms(CAST(TRY_CAST(left(CAST(x AS VARCHAR), 10) AS DATE) AS TIMESTAMP)) "
                          "AS VARCHAR)"),
    # Type conversion: digits of a number written with separators or a currency; yes/no and friends to booleans
    "parse_number": ("x", "TRY_CAST(regexp_replace(CAST(x AS VARCHAR), '[^0-9.eE+-]', '', 'g') AS DOUBLE)"),
    "parse_bool": ("x", "CASE WHEN lower(trim(CAST(x AS VARCHAR))) IN ('true', 'yes', 'y', '1', 'on') THEN 'true' "
                     "WHEN lower(trim(CAST(x AS VARCHAR))) IN ('false', 'no', 'n', '0', 'off') THEN 'false' END"),
    # Multi-select (';'-separated, both CRMs) to one value: the first, or the first of a priority list it holds
    "first_option": ("x", "NULLIF(trim(split_part(x, ';', 1)), '')"),
    "pick_option": ("x, priority", "list_filter(string_split(priority, ';'), lambda p: "
                                   "list_contains(list_transform(string_split(x, ';'), lambda o: trim(o)), p))[1]"),
    # Case and whitespace: inner runs of blanks to one space, ends trimmed
    "squish": ("x", "NULLIF(trim(regexp_replace(x, '\\s+', ' ', 'g')), '')"),
}

# Node kinds an expression may hold besides function calls.
_STRUCTURE = (exp.Column, exp.Identifier, exp.Literal, exp.Null, exp.Boolean, exp.Case, exp.If, exp.Paren,
              exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.And, exp.Or, exp.Not, exp.Is, exp.In, exp.Like,
              exp.ILike, exp.DPipe, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg, exp.Cast, exp.TryCast,
              exp.DataType, exp.DataTypeParam, exp.Between, exp.Tuple)


class ExpressionError(ValueError):
    """An expression that cannot be used: unparsable, or reaching beyond the record's own fields."""


@dataclass(frozen=True)
class Expression:
    text: str
    fields: tuple[str, ...]  # the source record's fields it reads
    related: str | None = None  # the one qualifier it may use ('company': fields of the record's company)
    related_fields: tuple[str, ...] = ()  # the fields it reads through that qualifier

    def sql(self, alias: str, b: Binds, related_alias: str | None = None) -> str:
        """DuckDB SQL over the source table `alias` (and the related record's table `related_alias`): fields as
        their columns, literals as bound parameters."""
        tree = _parse(self.text).copy()
        for column in list(tree.find_all(exp.Column)):
            table = related_alias if column.table else alias
            if table is None:
                raise ExpressionError(f"{self.text!r}: {column.sql()} needs the {self.related} record, which "
                                      "this use of the expression has not got")
            column.replace(exp.column(column.name, table=table, quoted=True))
        for literal in list(tree.find_all(exp.Literal)):
            if _in_type(literal):
                continue
            value = literal.this if literal.is_string else _number(literal.this)
            literal.replace(exp.Placeholder(this=b(value).lstrip("$")))
        return f"CAST(({tree.sql(dialect='duckdb')}) AS VARCHAR)"


def _in_type(node: exp.Expression) -> bool:
    """A literal inside a type (VARCHAR(20), DECIMAL(10, 2)) stays as written."""
    return node.find_ancestor(exp.DataType) is not None


def _number(text: str) -> int | float:
    return int(text) if text.lstrip("-").isdigit() else float(text)


@cache
def _allowed_functions() -> frozenset[type]:
    """The sqlglot node classes of FUNCTIONS (sqlglot parses many into typed nodes: Upper, ConcatWs, ...)."""
    classes = set()
    for name in FUNCTIONS:
        for arity in (1, 2, 3):
            try:
                node = sqlglot.parse_one(f"{name}({', '.join(['x'] * arity)})", read="duckdb")
            except ParseError:
                continue
            if not isinstance(node, exp.Anonymous):
                classes.add(type(node))
            break
    return frozenset(classes)


@cache
def _parse(text: str) -> exp.Expression:
    try:
        return sqlglot.parse_one(text, read="duckdb")
    except ParseError as err:
        raise ExpressionError(f"cannot parse {text!r}: {str(err).splitlines()[0]}") from None


def parse(text: str, side: str, related: str | None = None) -> Expression:
    """Parse and check an expression over a `side` ('HubSpot' or 'Salesforce') record; ExpressionError names
    what is not allowed. related: a qualifier the expression may also read through (`company.industry`)."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("an expression must be a non-empty string")
    tree = _parse(text)
    anonymous = {n.lower() for n in FUNCTIONS} | set(MACROS)
    fields: list[str] = []
    related_fields: list[str] = []
    for node in tree.walk():
        if isinstance(node, exp.Column):
            if node.name == "*":
                raise ExpressionError(f"{text!r}: * is not a field")
            if related and node.table.lower() == related and not node.args.get("db"):
                related_fields.append(node.name)
                continue
            if node.table or node.args.get("db") or node.args.get("catalog"):
                also = f" (or {related}.<field> for its {related}'s)" if related else ""
                raise ExpressionError(f"{text!r}: {node.sql()} names another table; an expression reads only the "
                                      f"{side} record's own fields, unqualified{also}")
            fields.append(node.name)
        elif isinstance(node, exp.Anonymous):
            if node.name.lower() not in anonymous:
                raise ExpressionError(f"{text!r}: unknown function {node.name}(); allowed: "
                                      f"{', '.join(sorted(anonymous))}")
            if node.name.lower() == "e164":
                _check_region(text, node)
        elif isinstance(node, exp.Func) and not isinstance(node, _STRUCTURE):
            if type(node) not in _allowed_functions():
                raise ExpressionError(f"{text!r}: {node.sql_name().lower()}() is not allowed; "
                                      f"allowed: {', '.join(sorted(anonymous))}")
        elif not isinstance(node, _STRUCTURE):
            raise ExpressionError(f"{text!r}: {type(node).__name__.lower()} is not allowed in a mapping (only "
                                  f"the record's fields, literals, operators, CASE, CAST and functions)")
    return Expression(text=text, fields=tuple(dict.fromkeys(fields)), related=related,
                      related_fields=tuple(dict.fromkeys(related_fields)))


def _check_region(text: str, node: exp.Anonymous) -> None:
    args = node.expressions
    if len(args) != 2 or not isinstance(args[1], exp.Literal) or not args[1].is_string:
        raise ExpressionError(f"{text!r}: e164(phone, 'REGION') takes the default region as a literal, e.g. "
                              "e164(phone, 'US')")
    if args[1].this.upper() not in CALLING_CODES:
        raise ExpressionError(f"{text!r}: e164 does not know region {args[1].this!r}; known: "
                              f"{', '.join(sorted(CALLING_CODES))}")


def macro_ddl() -> list[str]:
    """CREATE TEMP MACRO statements for MACROS (one connection's)."""
    return [f"CREATE OR REPLACE TEMP MACRO {quote(name)}({params}) AS {body}"
            for name, (params, body) in MACROS.items()]
