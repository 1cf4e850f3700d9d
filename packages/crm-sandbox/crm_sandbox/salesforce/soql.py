"""SOQL for the Salesforce sandbox: parse a query and compile it to SQLite SQL over the sandbox tables.

Supported: ``SELECT <fields | parent paths | COUNT() | COUNT(Id)> FROM <Type> [alias] [WHERE ...]
[ORDER BY ...] [LIMIT n] [OFFSET m]``. Everything else is rejected with ``SoqlError('MALFORMED_QUERY')``
rather than answered approximately.

Layout of ``select_sql`` rows: ``rowid, t0."Id", <"Id" of each joined parent, in join_paths order>,
<SELECT columns in order>``. The hidden ids let ``record_json`` build ``attributes.url`` even when the
query does not select ``Id``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, date, datetime, timedelta, timezone

from crm_sandbox.ids import normalize_id
from crm_sandbox.salesforce.model import ID_TYPES, NUMBER_TYPES, STRING_TYPES, Field, SObject

MALFORMED = "MALFORMED_QUERY"
INVALID_FIELD = "INVALID_FIELD"
INVALID_TYPE = "INVALID_TYPE"
OUT_OF_RANGE = "NUMBER_OUTSIDE_VALID_RANGE"

MAX_OFFSET = 2000
MAX_INT = 2**31 - 1  # Salesforce parses LIMIT and N in LAST_N_DAYS:N as Java ints
MAX_PARENT_DEPTH = 5  # Salesforce's limit on child-to-parent hops
MAX_NESTING = 100  # parentheses/NOT; keeps recursion far from Python's and SQLite's limits

_CUSTOM_FIELD_HINT = ("If you are attempting to use a custom field, be sure to append the '__c' after the "
                      "custom field name. Please reference your WSDL or the describe call for the "
                      "appropriate names.")
_CUSTOM_REL_HINT = ("If you are attempting to use a custom relationship, be sure to append the '__r' after "
                    "the custom relationship name. Please reference your WSDL or the describe call for the "
                    "appropriate names.")
_CUSTOM_TYPE_HINT = ("If you are attempting to use a custom object, be sure to append the '__c' after "
                     "the entity name. Please reference your WSDL or the describe call for the "
                     "appropriate names.")

# Words that can follow the FROM type, or never name anything, so they are not taken as an alias.
_CLAUSE_WORDS = {"WHERE", "ORDER", "LIMIT", "OFFSET", "GROUP", "HAVING", "WITH", "FOR", "USING", "UPDATE",
                 "ALL", "AND", "OR", "NOT", "SELECT", "FROM", "BY", "IN", "LIKE", "NULL", "TRUE", "FALSE"}
_UNSUPPORTED = {"GROUP": "GROUP BY", "HAVING": "HAVING", "WITH": "WITH", "FOR": "FOR VIEW/REFERENCE/UPDATE",
                "USING": "USING SCOPE", "UPDATE": "UPDATE", "ALL": "ALL ROWS", "TYPEOF": "TYPEOF",
                "ROLLUP": "ROLLUP", "CUBE": "CUBE"}
_RELATIVE_N = {"LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO"}
_RELATIVE = _RELATIVE_N | {"TODAY", "YESTERDAY", "TOMORROW", "THIS_WEEK", "LAST_WEEK", "NEXT_WEEK",
                           "THIS_MONTH", "LAST_MONTH", "NEXT_MONTH", "THIS_YEAR", "LAST_YEAR", "NEXT_YEAR"}
_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}

_TOKEN_RE = re.compile(r"""
      (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),.:])
""", re.X | re.A)


class SoqlError(Exception):
    """A query Salesforce would reject; ``error_code`` is the Salesforce errorCode."""

    def __init__(self, error_code: str, message: str):
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message


@dataclass
class Column:
    """One output column of the SELECT list."""

    path: tuple[str, ...]  # canonical names: relationship names, then the field
    field: Field  # the leaf field
    sobjects: tuple[str, ...]  # sObject type reached by each relationship in path[:-1]


@dataclass
class CompiledQuery:
    sobject: SObject
    columns: list[Column]
    count_only: bool
    select_sql: str
    count_sql: str
    params: list
    count_params: list
    limit: int | None
    offset: int | None
    join_paths: list[tuple[str, ...]] = dc_field(default_factory=list)  # hidden parent-id columns, in order
    count_field: str | None = None  # "Id" for COUNT(Id) (an aggregate query), None for COUNT()


@dataclass(frozen=True)
class _Tok:
    kind: str  # datetime, date, number, ident, op, punct, string, relative, eof
    text: str
    pos: int
    value: object = None


def _error(code: str, msg: str, src: str, pos: int) -> SoqlError:
    """Salesforce's layout: the offending line, a caret under the position, then Row/Column and the text."""
    start = src.rfind("\n", 0, pos) + 1
    end = src.find("\n", pos)
    line = src[start:] if end < 0 else src[start:end]
    col = pos - start + 1
    row = src.count("\n", 0, pos) + 1
    return SoqlError(code, f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{msg}")


def _like_char(c: str) -> str:
    return "\\" + c if c in "%_\\" else c


def _datetime_storage(text: str) -> str:
    """A datetime literal in the storage form: UTC, millisecond precision, '+0000'."""
    body, frac, zone = text[:19], "", text[19:]
    if zone.startswith("."):
        m = re.match(r"\.(\d+)", zone)
        frac, zone = m.group(1), zone[m.end():]
    tz = UTC
    if zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        hh, mm = int(zone[1:3]), int(zone[-2:])
        tz = timezone(sign * timedelta(hours=hh, minutes=mm))
    dt = datetime.fromisoformat(body).replace(tzinfo=tz).astimezone(UTC)
    # isoformat, not strftime: it zero-pads years below 1000, keeping the fixed storage width.
    return dt.replace(tzinfo=None).isoformat(timespec="seconds") + "." + (frac + "000")[:3] + "+0000"


def _tokenize(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(src)
    while i < n:
        ch = src[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "'":
            # Keep two readings: the plain value, and a LIKE pattern in which \% and \_ stay literal.
            start, plain, like = i, [], []
            i += 1
            while True:
                if i >= n:
                    raise _error(MALFORMED, "unterminated string literal", src, start)
                ch = src[i]
                if ch == "'":
                    i += 1
                    break
                if ch == "\\":
                    esc = src[i + 1:i + 2]
                    if esc in ("%", "_"):
                        plain.append(esc)
                        like.append("\\" + esc)
                    elif esc in _ESCAPES:
                        plain.append(_ESCAPES[esc])
                        like.append(_like_char(_ESCAPES[esc]))
                    else:
                        raise _error(MALFORMED, "Invalid string literal: illegal escape sequence", src, i)
                    i += 2
                    continue
                plain.append(ch)
                like.append(ch)  # unescaped % and _ are wildcards
                i += 1
            toks.append(_Tok("string", src[start:i], start, ("".join(plain), "".join(like))))
            continue
        m = _TOKEN_RE.match(src, i)
        if not m:
            raise _error(MALFORMED, f"unexpected character: '{ch}'", src, i)
        kind, text, value = m.lastgroup, m.group(), None
        try:
            if kind == "date":
                if src[m.end():m.end() + 1] in ("T", "t"):  # a datetime without a zone, or worse
                    raise ValueError
                value = date.fromisoformat(text).isoformat()
            elif kind == "datetime":
                value = _datetime_storage(text)
        except (ValueError, OverflowError):
            raise _error(MALFORMED, f"invalid {kind} literal: {text}", src, i) from None
        toks.append(_Tok(kind, text, i, value))
        i = m.end()
    toks.append(_Tok("eof", "<EOF>", n))
    return toks


def _balanced(parts: list[str], op: str) -> str:
    """Join with AND/OR as a balanced tree: SQLite limits expression depth to 1000, not width."""
    if len(parts) == 1:
        return parts[0]
    mid = len(parts) // 2
    return f"({_balanced(parts[:mid], op)} {op} {_balanced(parts[mid:], op)})"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 + months, 12)
    return date(y, m + 1, 1)


def _relative_range(word: str, n: int, today: date) -> tuple[date, date]:
    """[start, end) dates of a relative date literal (weeks start on Sunday, as in the en_US locale)."""
    one = timedelta(days=1)
    if word in ("TODAY", "YESTERDAY", "TOMORROW"):
        start = today + one * {"TODAY": 0, "YESTERDAY": -1, "TOMORROW": 1}[word]
        return start, start + one
    if word == "LAST_N_DAYS":  # includes today
        return today - one * n, today + one
    if word == "NEXT_N_DAYS":  # starts tomorrow
        return today + one, today + one * (n + 1)
    if word == "N_DAYS_AGO":
        return today - one * n, today - one * (n - 1)
    shift = {"THIS": 0, "LAST": -1, "NEXT": 1}[word.split("_")[0]]
    if word.endswith("_WEEK"):
        start = today - one * ((today.weekday() + 1) % 7) + timedelta(weeks=shift)
        return start, start + timedelta(weeks=1)
    if word.endswith("_MONTH"):
        start = _add_months(today, shift)
        return start, _add_months(start, 1)
    start = date(today.year + shift, 1, 1)
    return start, date(start.year + 1, 1, 1)


class _Compiler:
    """Recursive-descent parser that emits SQL as it goes; bind parameters are appended in text order."""

    def __init__(self, src: str, schema: Mapping[str, SObject], include_deleted: bool, today: date):
        self.src = src
        self.toks = _tokenize(src)
        self.i = 0
        self.schema: dict[str, SObject] = {}
        for key, obj in schema.items():
            self.schema[key.lower()] = obj
            self.schema[obj.name.lower()] = obj
        self.include_deleted = include_deleted
        self.today = today
        self.params: list = []
        self.joins: dict[tuple[str, ...], tuple[str, tuple[str, ...]]] = {}  # lowered path -> alias, path
        self.join_sql: list[str] = []
        self.root: SObject | None = None
        self.alias: str | None = None
        self.depth = 0

    # -- token helpers

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def advance(self) -> _Tok:
        t = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return t

    def at(self, *words: str, ahead: int = 0) -> bool:
        """Is the token a keyword (any case) or punctuation among ``words``?"""
        t = self.toks[min(self.i + ahead, len(self.toks) - 1)]
        return t.kind in ("ident", "punct") and t.text.upper() in words

    def accept(self, word: str) -> bool:
        if self.at(word):
            self.advance()
            return True
        return False

    def fail(self, msg: str | None = None, tok: _Tok | None = None, code: str = MALFORMED) -> SoqlError:
        tok = tok or self.tok
        if msg is None:
            word = tok.text.upper() if tok.kind == "ident" else ""
            if word in _UNSUPPORTED:
                msg = f"{_UNSUPPORTED[word]} is not supported by the sandbox"
            elif tok.kind == "eof":
                msg = "unexpected token: <EOF>"
            else:
                msg = f"unexpected token: '{tok.text}'"
        return _error(code, msg, self.src, tok.pos)

    def expect(self, word: str) -> None:
        if not self.accept(word):
            raise self.fail()

    # -- query

    def compile(self) -> CompiledQuery:
        self.expect("SELECT")
        items = self.select_list()
        self.expect("FROM")
        t = self.tok
        if t.kind != "ident":
            raise self.fail()
        self.root = self.schema.get(t.text.lower())
        if self.root is None:
            raise self.fail(f"sObject type '{t.text}' is not supported. {_CUSTOM_TYPE_HINT}", t, INVALID_TYPE)
        self.advance()
        if self.tok.kind == "ident" and not self.at(*_CLAUSE_WORDS):
            self.alias = self.advance().text.lower()

        count_field: str | None = None
        count_only = items[0][0] == "count"
        columns: list[Column] = []
        exprs: list[str] = []
        if count_only:
            count_field = "Id" if items[0][1] else None
        else:
            seen: set[tuple[str, ...]] = set()
            for _, segs, _ in items:
                sql, col = self.resolve(segs)
                key = tuple(p.lower() for p in col.path)
                if key in seen:
                    raise self.fail(f"duplicate field selected: {'.'.join(col.path)}", segs[0])
                seen.add(key)
                columns.append(col)
                exprs.append(sql)

        where = self.condition() if self.accept("WHERE") else None
        order: list[str] = []
        if self.at("ORDER"):
            if count_only:
                raise self.fail("ORDER BY is not allowed with COUNT()")
            self.advance()
            self.expect("BY")
            order = self.order_list()
        limit = self.integer() if self.accept("LIMIT") else None
        offset = None
        if self.at("OFFSET"):
            self.advance()
            t = self.tok
            offset = self.integer()
            if offset > MAX_OFFSET:
                raise self.fail(f"Maximum SOQL offset allowed is {MAX_OFFSET}", t, OUT_OF_RANGE)
        if self.tok.kind != "eof":
            raise self.fail()

        from_sql = " ".join([f"{_q(self.root.name)} AS t0", *self.join_sql])
        conds = [] if self.include_deleted else ['t0."IsDeleted" = 0']
        if where:
            conds.append(where)
        where_sql = f" WHERE {' AND '.join(conds)}" if conds else ""
        page = ""
        if limit is not None or offset is not None:
            page = f" LIMIT {-1 if limit is None else limit}" + (f" OFFSET {offset}" if offset else "")
        hidden = ["t0.rowid", 't0."Id"'] + [f'{alias}."Id"' for alias, _ in self.joins.values()]
        select_sql = (f"SELECT {', '.join(hidden + exprs)} FROM {from_sql}{where_sql} "
                      f"ORDER BY {', '.join([*order, 't0.rowid'])}{page}")
        if page:
            count_sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {from_sql}{where_sql}{page})"
        else:
            count_sql = f"SELECT COUNT(*) FROM {from_sql}{where_sql}"
        return CompiledQuery(
            sobject=self.root, columns=columns, count_only=count_only, select_sql=select_sql,
            count_sql=count_sql, params=list(self.params), count_params=list(self.params), limit=limit,
            offset=offset, join_paths=[path for _, path in self.joins.values()], count_field=count_field)

    def select_list(self) -> list[tuple[str, object, _Tok]]:
        """Items are ('field', path tokens, tok) or ('count', Id token or None, tok); resolved after FROM."""
        items: list[tuple[str, object, _Tok]] = []
        while True:
            t = self.tok
            if self.at("FROM"):
                raise self.fail()
            if self.at("COUNT") and self.at("(", ahead=1):
                self.advance()
                self.advance()
                arg = self.advance() if self.tok.kind == "ident" else None
                if arg is not None and arg.text.lower() != "id":
                    raise self.fail("only COUNT() and COUNT(Id) are supported by the sandbox", arg)
                self.expect(")")
                items.append(("count", arg, t))
            else:
                items.append(("field", self.path(), t))
            if not self.accept(","):
                break
        for kind, _, t in items:
            if kind == "count" and len(items) > 1:
                raise self.fail("COUNT() must be the only element in the SELECT list", t)
        return items

    def path(self) -> list[_Tok]:
        t = self.tok
        if self.at("("):
            raise self.fail("nested SELECT (subqueries) are not supported by the sandbox")
        if t.kind != "ident" or t.text.upper() == "TYPEOF":
            raise self.fail()
        segs = [self.advance()]
        if self.at("("):
            raise self.fail(f"function {t.text}() is not supported by the sandbox", t)
        while self.accept("."):
            if self.tok.kind != "ident":
                raise self.fail()
            segs.append(self.advance())
        return segs

    def resolve(self, segs: list[_Tok]) -> tuple[str, Column]:
        """Field path -> SQL column expression, joining parents as needed."""
        obj = self.root
        assert obj is not None
        first = segs[0].text.lower()
        if len(segs) > 1 and (first == self.alias
                              or (first == obj.name.lower() and obj.relationship(first) is None)):
            segs = segs[1:]
        if len(segs) > MAX_PARENT_DEPTH + 1:
            raise self.fail(f"SOQL statements cannot query more than {MAX_PARENT_DEPTH} levels of "
                            "child-to-parent relationships", segs[0])
        alias, rels, types = "t0", (), ()
        for seg in segs[:-1]:
            ref = obj.relationship(seg.text)
            target = self.schema.get(ref.reference_to[0].lower()) if ref and ref.reference_to else None
            if ref is None or target is None:
                msg = f"Didn't understand relationship '{seg.text}' in field path. {_CUSTOM_REL_HINT}"
                raise self.fail(msg, segs[0], INVALID_FIELD)
            rels += (ref.relationship_name,)
            types += (target.name,)
            key = tuple(r.lower() for r in rels)
            if key not in self.joins:
                new = f"t{len(self.joins) + 1}"
                self.joins[key] = (new, rels)
                self.join_sql.append(
                    f'LEFT JOIN {_q(target.name)} AS {new} ON {new}."Id" = {alias}.{_q(ref.name)}')
            alias = self.joins[key][0]
            obj = target
        f = obj.field(segs[-1].text)
        if f is None:
            raise self.fail(f"No such column '{segs[-1].text}' on entity '{obj.name}'. {_CUSTOM_FIELD_HINT}",
                            segs[0], INVALID_FIELD)
        return f"{alias}.{_q(f.name)}", Column(rels + (f.name,), f, types)

    def integer(self) -> int:
        t = self.tok
        if t.kind != "number" or not t.text.isdigit():
            raise self.fail("expected a non-negative integer")
        if int(t.text) > MAX_INT:
            raise self.fail(f"number too large: {t.text}", t, OUT_OF_RANGE)
        self.advance()
        return int(t.text)

    def order_list(self) -> list[str]:
        keys = []
        while True:
            segs = self.path()
            sql, col = self.resolve(segs)
            f = col.field
            if f.type == "multipicklist" or (f.type == "textarea" and f.length > 255):
                raise self.fail(f"field '{f.name}' can not be sorted in a query call", segs[0], INVALID_FIELD)
            desc = self.accept("DESC")
            if not desc:
                self.accept("ASC")
            nulls_first = not desc
            if self.accept("NULLS"):
                nulls_first = self.accept("FIRST")
                if not nulls_first:
                    self.expect("LAST")
            # Ids sort by exact ASCII; other text sorts case-insensitively as in Salesforce.
            if f.type in STRING_TYPES:
                sql += " COLLATE NOCASE"
            keys.append(f"{sql} {'DESC' if desc else 'ASC'} NULLS {'FIRST' if nulls_first else 'LAST'}")
            if not self.accept(","):
                return keys

    # -- WHERE: every emitted expression is TRUE or FALSE, never NULL, so NOT and != behave as in SOQL

    def condition(self) -> str:
        parts = [self.unary()]
        conn = None
        while self.at("AND", "OR"):
            word = self.tok.text.upper()
            if conn and word != conn:
                raise self.fail(f"unexpected token: '{self.tok.text}' "
                                "(use parentheses when mixing AND and OR)")
            conn = word
            self.advance()
            parts.append(self.unary())
        return _balanced(parts, conn or "AND")

    def unary(self) -> str:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.fail("WHERE clause is nested too deeply")
        if self.accept("NOT"):
            out = f"(NOT {self.unary()})"
        elif self.accept("("):
            if self.at("SELECT"):
                raise self.fail("nested SELECT (subqueries) are not supported by the sandbox")
            out = self.condition()
            self.expect(")")
        else:
            out = self.comparison()
        self.depth -= 1
        return out

    def comparison(self) -> str:
        segs = self.path()
        col, column = self.resolve(segs)
        f = column.field
        if f.type == "textarea" and f.length > 255:
            raise self.fail(f"field '{f.name}' can not be filtered in a query call", segs[0], INVALID_FIELD)
        t = self.tok
        if t.kind == "op":
            self.advance()
            op, lits = ("!=" if t.text == "<>" else t.text), [self.literal()]
        elif self.at("LIKE"):
            self.advance()
            op, lits = "LIKE", [self.literal()]
        elif self.at("IN", "INCLUDES", "EXCLUDES"):
            self.advance()
            op, lits = t.text.upper(), self.literal_list()
        elif self.at("NOT") and self.at("IN", ahead=1):
            self.advance()
            self.advance()
            op, lits = "NOT IN", self.literal_list()
        else:
            raise self.fail()
        return self.compare(col, f, op, lits, segs[0])

    def literal_list(self) -> list[_Tok]:
        self.expect("(")
        if self.at("SELECT"):
            raise self.fail("semi-join subqueries (IN (SELECT ...)) are not supported by the sandbox")
        lits = [self.literal()]
        while self.accept(","):
            lits.append(self.literal())
        self.expect(")")
        return lits

    def literal(self) -> _Tok:
        t = self.tok
        if t.kind in ("string", "number", "date", "datetime") or self.at("TRUE", "FALSE", "NULL"):
            return self.advance()
        word = t.text.upper()
        if t.kind == "ident" and word in _RELATIVE:
            self.advance()
            n = 0
            if word in _RELATIVE_N:
                self.expect(":")
                n = self.integer()
            return _Tok("relative", t.text, t.pos, (word, n))
        if self.at(":"):
            raise self.fail("bind variables are not supported by the sandbox")
        raise self.fail()

    def coerce(self, f: Field, lit: _Tok) -> tuple | None:
        """Literal -> None (null), ('value', v) or ('range', lo, hi) for relative dates; type-checked."""
        word = lit.text.upper() if lit.kind == "ident" else ""
        if word == "NULL":
            return None
        quoted = False
        if f.type == "boolean":
            if word in ("TRUE", "FALSE"):
                return ("value", int(word == "TRUE"))
            expected = "boolean"
        elif f.type in NUMBER_TYPES:
            if lit.kind == "number":
                v = float(lit.text) if "." in lit.text else int(lit.text)
                return ("value", v if abs(v) < 2**63 else float(v))  # SQLite integers are 64-bit
            expected = "integer" if f.type == "int" else "double"
        elif f.type in ("date", "datetime"):
            is_date = f.type == "date"
            if lit.kind == f.type:
                return ("value", lit.value)
            if lit.kind == "relative":
                try:
                    lo, hi = _relative_range(lit.value[0], lit.value[1], self.today)
                except (ValueError, OverflowError):
                    msg = f"relative date literal out of range: {lit.text}"
                    raise self.fail(msg, lit, OUT_OF_RANGE) from None
                if is_date:
                    return ("range", lo.isoformat(), hi.isoformat())
                return ("range", lo.isoformat() + "T00:00:00.000+0000", hi.isoformat() + "T00:00:00.000+0000")
            expected = "date" if is_date else "dateTime"
        elif f.type in ID_TYPES:
            if lit.kind == "string":
                # A malformed id is bound as typed: it can never equal a stored canonical id.
                return ("value", normalize_id(lit.value[0]) or lit.value[0])
            expected, quoted = "id", True
        else:
            if lit.kind == "string":
                return ("value", lit.value[0])
            expected, quoted = "string", True
        how = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
        msg = f"value of filter criterion for field '{f.name}' must be of type {expected} and {how}"
        raise self.fail(msg, lit, INVALID_FIELD)

    def compare(self, col: str, f: Field, op: str, lits: list[_Tok], at: _Tok) -> str:
        lhs = f"{col} COLLATE NOCASE" if f.type in STRING_TYPES else col
        if op in ("INCLUDES", "EXCLUDES"):
            if f.type != "multipicklist":
                msg = "includes or excludes operator only valid on multipicklist field"
                raise self.fail(msg, at, INVALID_FIELD)
            return self.includes(col, f, lits, negate=op == "EXCLUDES")
        allowed = {"boolean": ("=", "!=", "IN", "NOT IN"), "multipicklist": ("=", "!=")}.get(f.type)
        if (op == "LIKE" and f.type not in STRING_TYPES) or (allowed and op not in allowed):
            raise self.fail(f"invalid operator on {f.type} field", at, INVALID_FIELD)
        if op == "LIKE":
            if lits[0].kind != "string":
                self.coerce(f, lits[0])  # raises the type message
                raise self.fail("LIKE needs a string value", lits[0])
            self.params.append(lits[0].value[1])
            return f"({col} LIKE ? ESCAPE '\\' AND {col} IS NOT NULL)"
        values = [self.coerce(f, lit) for lit in lits]
        if op in ("=", "!=", "IN", "NOT IN"):
            parts = []
            if any(v is None for v in values):
                parts.append(f"{col} IS NULL")
            exact = [v[1] for v in values if v is not None and v[0] == "value"]
            if exact:
                rhs = "= ?" if len(exact) == 1 else f"IN ({', '.join('?' * len(exact))})"
                parts.append(f"({lhs} {rhs} AND {col} IS NOT NULL)")
                self.params.extend(exact)
            for v in values:
                if v is not None and v[0] == "range":
                    parts.append(f"({col} >= ? AND {col} < ? AND {col} IS NOT NULL)")
                    self.params.extend(v[1:])
            expr = _balanced(parts, "OR")
            return f"(NOT {expr})" if op in ("!=", "NOT IN") else expr
        v = values[0]
        if v is None:
            raise self.fail(f"null can only be compared with = or != (not {op})", lits[0])
        if v[0] == "value":
            self.params.append(v[1])
            return f"({lhs} {op} ? AND {col} IS NOT NULL)"
        # Relative dates are [lo, hi) ranges: "> TODAY" means on or after tomorrow.
        bound, sql_op = {"<": (v[1], "<"), "<=": (v[2], "<"), ">": (v[2], ">="), ">=": (v[1], ">=")}[op]
        self.params.append(bound)
        return f"({col} {sql_op} ? AND {col} IS NOT NULL)"

    def includes(self, col: str, f: Field, lits: list[_Tok], negate: bool) -> str:
        # Each string is 'a;b' (all of a and b); the list is OR'ed. Stored values are ';'-joined.
        groups = []
        for lit in lits:
            if lit.kind != "string":
                self.coerce(f, lit)
                raise self.fail("INCLUDES and EXCLUDES need string values", lit)
            items = [s.strip() for s in lit.value[0].split(";") if s.strip()]
            conds = []
            for item in items:
                conds.append(f"instr(';' || lower({col}) || ';', lower(?)) > 0")
                self.params.append(f";{item};")
            groups.append(_balanced(conds, "AND") if conds else "0")
        expr = f"({_balanced(groups, 'OR')} AND {col} IS NOT NULL)"
        return f"(NOT {expr})" if negate else expr


def compile_soql(soql: str, schema: Mapping[str, SObject], include_deleted: bool = False, *,
                 today: date | None = None) -> CompiledQuery:
    """Compile one SOQL query. ``today`` (UTC date) anchors relative date literals; tests pin it."""
    if not isinstance(soql, str):
        raise SoqlError(MALFORMED, "query must be a string")
    today = today or datetime.now(UTC).date()
    return _Compiler(soql, schema, include_deleted, today).compile()


def _json_value(f: Field, v: object) -> object:
    if v is None:
        return None
    if f.type == "boolean":
        return bool(v)
    if f.type == "int":
        return int(v)
    if f.type in NUMBER_TYPES:
        return float(v)
    return v


def record_json(q: CompiledQuery, row: Sequence, api_version: str = "59.0") -> dict:
    """One REST query record: attributes, then the selected fields nested under their relationships."""
    base = f"/services/data/v{api_version}/sobjects/"
    out: dict = {"attributes": {"type": q.sobject.name, "url": f"{base}{q.sobject.name}/{row[1]}"}}
    parent_ids = {path: row[2 + i] for i, path in enumerate(q.join_paths)}
    first = 2 + len(q.join_paths)
    for i, col in enumerate(q.columns):
        target = out
        for depth in range(1, len(col.path)):
            rel = col.path[depth - 1]
            if rel not in target:
                pid = parent_ids[col.path[:depth]]
                kind = col.sobjects[depth - 1]
                url = f"{base}{kind}/{pid}"
                target[rel] = None if pid is None else {"attributes": {"type": kind, "url": url}}
            target = target[rel]
            if target is None:
                break
        else:
            target[col.path[-1]] = _json_value(col.field, row[first + i])
    return out


def csv_header(q: CompiledQuery) -> list[str]:
    return [".".join(col.path) for col in q.columns]


def _csv_value(f: Field, v: object) -> str:
    if v is None:
        return ""
    if f.type == "boolean":
        return "true" if v else "false"
    if f.type == "int":
        return str(int(v))
    if f.type in NUMBER_TYPES:
        x = float(v)
        return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)
    if f.type == "datetime" and isinstance(v, str) and v.endswith("+0000"):
        return v[:-5] + "Z"  # Bulk API CSV writes UTC datetimes with 'Z'
    return str(v)


def csv_values(q: CompiledQuery, row: Sequence) -> list[str]:
    """One Bulk API CSV row; a null parent makes its fields empty."""
    first = 2 + len(q.join_paths)
    return [_csv_value(col.field, row[first + i]) for i, col in enumerate(q.columns)]
