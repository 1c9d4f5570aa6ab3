"""A recursive-descent parser for the SOQL subset a sync client sends, and its evaluation over records.

Grammar: ``SELECT items FROM Object [WHERE cond] [ORDER BY key [ASC|DESC] [NULLS FIRST|LAST], ...]
[LIMIT n] [OFFSET n]``; items are fields, ``Parent.Field`` paths, ``COUNT()``, ``MAX(f)``/``MIN(f)``;
conditions combine ``=, !=, <>, <, <=, >, >=, LIKE, IN, NOT IN`` with ``AND``/``OR``/``NOT`` and
parentheses over string, number, boolean, ``null``, date and datetime literals. Anything else is a
:class:`SoqlSyntaxError` (``MALFORMED_QUERY``), so a client cannot quietly depend on unsupported syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\dT])
  | (?P<number>-?\d+(?:\.\d+)?)(?![\w.])
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
""", re.VERBOSE)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\",
            "%": "\\%", "_": "\\_"}  # \% and \_ stay escaped: they mean a literal % or _ inside LIKE
_KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC", "NULLS",
             "FIRST", "LAST", "LIMIT", "OFFSET", "NULL", "TRUE", "FALSE", "GROUP", "HAVING", "WITH", "FOR",
             "INCLUDES", "EXCLUDES", "USING", "TYPEOF"}


class SoqlSyntaxError(Exception):
    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    column: int

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass(frozen=True)
class Literal:
    kind: str  # string | number | boolean | null | date | datetime
    value: Any
    column: int


@dataclass(frozen=True)
class Path:
    parts: tuple[str, ...]
    column: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Compare:
    path: Path
    op: str  # = != < <= > >= LIKE
    value: Literal


@dataclass(frozen=True)
class InList:
    path: Path
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND | OR
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = Compare | InList | BoolOp | Not


@dataclass(frozen=True)
class Aggregate:
    function: str  # COUNT | MAX | MIN
    path: Path | None
    alias: str


@dataclass(frozen=True)
class OrderKey:
    path: Path
    descending: bool
    nulls_last: bool


@dataclass
class Query:
    fields: list[Path] = field(default_factory=list)
    aggregates: list[Aggregate] = field(default_factory=list)
    count_only: bool = False
    object_name: str = ""
    object_column: int = 0
    where: Condition | None = None
    order: list[OrderKey] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise SoqlSyntaxError(f"unexpected token: '{text[pos:pos + 10].split()[0]}'", pos + 1)
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos + 1))
        pos = match.end()
    return tokens


def _unquote(raw: str, column: int) -> str:
    out: list[str] = []
    body = raw[1:-1]
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt not in _ESCAPES:
                raise SoqlSyntaxError(f"Invalid string literal '{raw}'. Illegal character sequence '\\{nxt}' in "
                                      "string literal.", column)
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.end_column = len(text) + 1

    def peek(self, offset: int = 0) -> Token | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise SoqlSyntaxError("unexpected end of query", self.end_column)
        self.pos += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "name" and token.upper in words:
            self.pos += 1
            return True
        return False

    def expect_keyword(self, word: str) -> Token:
        token = self.take()
        if token.kind != "name" or token.upper != word:
            raise SoqlSyntaxError(f"unexpected token: '{token.text}'", token.column)
        return token

    def expect_punct(self, char: str) -> None:
        token = self.take()
        if token.text != char:
            raise SoqlSyntaxError(f"unexpected token: '{token.text}'", token.column)

    def name(self) -> Token:
        token = self.take()
        if token.kind != "name" or token.upper in _KEYWORDS:
            raise SoqlSyntaxError(f"unexpected token: '{token.text}'", token.column)
        return token

    def parse(self) -> Query:
        query = Query()
        self.expect_keyword("SELECT")
        self._select_list(query)
        self.expect_keyword("FROM")
        obj = self.name()
        if "." in obj.text:
            raise SoqlSyntaxError(f"unexpected token: '{obj.text}'", obj.column)
        query.object_name, query.object_column = obj.text, obj.column
        if self.keyword("WHERE"):
            query.where = self._or()
        if self.keyword("ORDER"):
            self.expect_keyword("BY")
            query.order = self._order_keys()
        if self.keyword("LIMIT"):
            query.limit = self._integer()
        if self.keyword("OFFSET"):
            query.offset = self._integer()
        leftover = self.peek()
        if leftover is not None:
            raise SoqlSyntaxError(f"unexpected token: '{leftover.text}'", leftover.column)
        return query

    def _integer(self) -> int:
        token = self.take()
        if token.kind != "number" or not token.text.isdigit():
            raise SoqlSyntaxError(f"unexpected token: '{token.text}'", token.column)
        return int(token.text)

    def _select_list(self, query: Query) -> None:
        while True:
            token = self.name()
            nxt = self.peek()
            if nxt is not None and nxt.text == "(":
                self.pos += 1
                function = token.upper
                if function == "COUNT" and self.peek() is not None and self.peek().text == ")":  # type: ignore[union-attr]
                    self.pos += 1
                    query.count_only = True
                elif function in ("MAX", "MIN", "COUNT"):
                    arg = self.name()
                    self.expect_punct(")")
                    alias = f"expr{len(query.aggregates)}"
                    query.aggregates.append(Aggregate(function, Path(tuple(arg.text.split(".")), arg.column), alias))
                else:
                    raise SoqlSyntaxError(f"unexpected token: '{token.text}('", token.column)
            else:
                query.fields.append(Path(tuple(token.text.split(".")), token.column))
            if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.pos += 1
                continue
            break
        if query.count_only and (query.fields or query.aggregates):
            raise SoqlSyntaxError("COUNT() cannot be combined with other fields", 8)
        if query.aggregates and query.fields:
            raise SoqlSyntaxError("Field must be grouped or aggregated: " + query.fields[0].text,
                                  query.fields[0].column)

    def _order_keys(self) -> list[OrderKey]:
        keys: list[OrderKey] = []
        while True:
            token = self.name()
            descending = False
            if self.keyword("DESC"):
                descending = True
            else:
                self.keyword("ASC")
            nulls_last = descending
            if self.keyword("NULLS"):
                which = self.take()
                if which.upper not in ("FIRST", "LAST"):
                    raise SoqlSyntaxError(f"unexpected token: '{which.text}'", which.column)
                nulls_last = which.upper == "LAST"
            keys.append(OrderKey(Path(tuple(token.text.split(".")), token.column), descending, nulls_last))
            if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.pos += 1
                continue
            return keys

    def _or(self) -> Condition:
        items = [self._and()]
        while self.keyword("OR"):
            items.append(self._and())
        return items[0] if len(items) == 1 else BoolOp("OR", tuple(items))

    def _and(self) -> Condition:
        items = [self._not()]
        while self.keyword("AND"):
            items.append(self._not())
        return items[0] if len(items) == 1 else BoolOp("AND", tuple(items))

    def _not(self) -> Condition:
        if self.keyword("NOT"):
            return Not(self._not())
        token = self.peek()
        if token is not None and token.text == "(":
            self.pos += 1
            inner = self._or()
            self.expect_punct(")")
            return inner
        return self._comparison()

    def _comparison(self) -> Condition:
        field_token = self.name()
        path = Path(tuple(field_token.text.split(".")), field_token.column)
        if self.keyword("NOT"):
            self.expect_keyword("IN")
            return InList(path, self._list(), True)
        if self.keyword("IN"):
            return InList(path, self._list(), False)
        if self.keyword("LIKE"):
            value = self._literal()
            if value.kind != "string":
                raise SoqlSyntaxError("LIKE needs a string", value.column)
            return Compare(path, "LIKE", value)
        op = self.take()
        if op.kind != "op":
            raise SoqlSyntaxError(f"unexpected token: '{op.text}'", op.column)
        return Compare(path, "!=" if op.text == "<>" else op.text, self._literal())

    def _list(self) -> tuple[Literal, ...]:
        self.expect_punct("(")
        token = self.peek()
        if token is not None and token.kind == "name" and token.upper == "SELECT":
            raise SoqlSyntaxError("semi-join sub-selects are not supported by this emulator", token.column)
        values = [self._literal()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.pos += 1
            values.append(self._literal())
        self.expect_punct(")")
        return tuple(values)

    def _literal(self) -> Literal:
        token = self.take()
        if token.kind == "string":
            return Literal("string", _unquote(token.text, token.column), token.column)
        if token.kind == "number":
            return Literal("number", float(token.text), token.column)
        if token.kind in ("date", "datetime"):
            return Literal(token.kind, token.text, token.column)
        if token.kind == "name" and token.upper in ("TRUE", "FALSE"):
            return Literal("boolean", token.upper == "TRUE", token.column)
        if token.kind == "name" and token.upper == "NULL":
            return Literal("null", None, token.column)
        raise SoqlSyntaxError(f"unexpected token: '{token.text}'", token.column)


def parse(text: str) -> Query:
    """The parsed query; :class:`SoqlSyntaxError` for anything outside the subset."""
    return _Parser(text).parse()


def like_regex(pattern: str) -> re.Pattern[str]:
    """SOQL LIKE: ``%`` any run, ``_`` one character, ``\\%``/``\\_`` literal; case-insensitive."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("^" + "".join(out) + "$", re.IGNORECASE | re.DOTALL)
