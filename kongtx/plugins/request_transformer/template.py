"""Kong's request-transformer templates: ``$(expr)`` over a read-only environment.

Kong renders config values with Penlight templates whose inline ``$(...)``
expressions are Lua evaluated in a sandbox exposing ``headers``,
``query_params``, ``uri_captures`` and ``shared``. This is a small, safe
evaluator for the subset of Lua those templates use (no ``eval``)::

    $(headers.x_foo)  $(headers["x-foo"])  $(query_params.q)  $(uri_captures[1])
    $(uri_captures.name)  $(shared.key)  $(headers.a or "default")
    $(type(headers.a) == "table" and headers.a[1] or headers.a)  $("a" .. headers.b)

Values follow Lua: ``None`` is ``nil``; only ``nil`` and ``false`` are falsy;
tables are ``dict`` (keys) or ``list`` (1-based). A rendered value is
``tostring`` of the result (``nil`` -> ``"nil"``); a multi-valued header or
argument (a list) renders as its values joined by ``", "``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Template", "TemplateError", "compile_template", "render_value"]


class TemplateError(Exception):
    """A template that does not parse, or an expression that fails (indexing ``nil``...)."""


_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<num>0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
      | (?P<op>\.\.|==|~=|<=|>=|[.\[\](),\#<>])
    )""",
    re.VERBOSE,
)
_KEYWORDS = frozenset(("and", "or", "not", "nil", "true", "false"))
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "0": "\0",
}


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos, end = 0, len(text)
    while pos < end:
        if text[pos:].strip() == "":
            break
        m = _TOKEN_RE.match(text, pos)
        if m is None or m.end() == pos:
            raise TemplateError(f"unexpected symbol near '{text[pos:].strip()[:10]}'")
        pos = m.end()
        if m.group("num") is not None:
            raw = m.group("num")
            value: Any = int(raw, 16) if raw[:2].lower() == "0x" else float(raw)
            if (
                isinstance(value, float)
                and value.is_integer()
                and "." not in raw
                and "e" not in raw.lower()
            ):
                value = int(value)
            tokens.append(("value", value))
        elif m.group("name") is not None:
            name = m.group("name")
            if name in ("nil", "true", "false"):
                tokens.append(("value", {"nil": None, "true": True, "false": False}[name]))
            elif name in _KEYWORDS:
                tokens.append(("op", name))
            else:
                tokens.append(("name", name))
        elif m.group("str") is not None:
            tokens.append(("value", _unquote(m.group("str"))))
        else:
            tokens.append(("op", m.group("op")))
    tokens.append(("end", None))
    return tokens


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


# An expression compiles to a closure ``env -> value``.


class Lookup(Protocol):
    """What a template reads names from: anything with ``get`` (a dict, a lazy environment)."""

    def get(self, key: str, default: Any = None) -> Any: ...


Expr = Callable[[Lookup], Any]


def _truthy(value: Any) -> bool:
    return value is not None and value is not False


def _lua_type(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if callable(value):
        return "function"
    return "table"


def render_value(value: Any) -> str:
    """Lua's ``tostring`` (lists render as their values joined by ``", "``)."""
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.14g}"
    if isinstance(value, list):
        return ", ".join(render_value(v) for v in value)
    return str(value)


def _tonumber(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return None
    return None


_BUILTINS: dict[str, Callable[..., Any]] = {
    "type": lambda v=None: _lua_type(v),
    "tostring": lambda v=None: render_value(v),
    "tonumber": lambda v=None: _tonumber(v),
}


def _index(container: Any, key: Any) -> Any:
    if container is None or isinstance(container, (bool, int, float)):
        raise TemplateError(f"attempt to index a {_lua_type(container)} value")
    if isinstance(container, str):
        return None
    if isinstance(container, list):
        if isinstance(key, (int, float)) and not isinstance(key, bool) and float(key).is_integer():
            i = int(key)
            return container[i - 1] if 1 <= i <= len(container) else None
        return None
    getter = getattr(container, "get", None)
    if getter is None:
        return None
    return getter(key)


def _length(value: Any) -> int:
    if isinstance(value, (str, list)):
        return len(value)
    if isinstance(value, dict):
        n = 0
        while (n + 1) in value:
            n += 1
        return n
    raise TemplateError(f"attempt to get length of a {_lua_type(value)} value")


def _concat_part(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return render_value(value)
    raise TemplateError(f"attempt to concatenate a {_lua_type(value)} value")


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "==":
        return (
            left == right
            and type(left) is type(right)
            or (_lua_type(left) == "number" and _lua_type(right) == "number" and left == right)
        )
    if op == "~=":
        return not _compare("==", left, right)
    if _lua_type(left) != _lua_type(right) or _lua_type(left) not in ("number", "string"):
        raise TemplateError(f"attempt to compare {_lua_type(left)} with {_lua_type(right)}")
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


def _or(left: Expr, right: Expr) -> Expr:
    def run(env: Lookup) -> Any:
        value = left(env)
        return value if _truthy(value) else right(env)

    return run


def _and(left: Expr, right: Expr) -> Expr:
    def run(env: Lookup) -> Any:
        value = left(env)
        return right(env) if _truthy(value) else value

    return run


def _cmp(op: str, left: Expr, right: Expr) -> Expr:
    return lambda env: _compare(op, left(env), right(env))


def _field(container: Expr, name: str) -> Expr:
    return lambda env: _index(container(env), name)


def _subscript(container: Expr, key: Expr) -> Expr:
    return lambda env: _index(container(env), key(env))


def _invoke(func: Expr, args: list[Expr]) -> Expr:
    return lambda env: _call(func(env), [arg(env) for arg in args])


class _Parser:
    """Recursive descent over the Lua expression subset; builds closures."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, Any]:
        return self.tokens[self.pos]

    def take(self) -> tuple[str, Any]:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expect(self, op: str) -> None:
        kind, value = self.take()
        if kind != "op" or value != op:
            raise TemplateError(f"'{op}' expected near '{value}'")

    def parse(self) -> Expr:
        expr = self.or_expr()
        if self.peek()[0] != "end":
            raise TemplateError(f"unexpected symbol near '{self.peek()[1]}'")
        return expr

    def or_expr(self) -> Expr:
        left = self.and_expr()
        while self.peek() == ("op", "or"):
            self.take()
            right = self.and_expr()
            left = _or(left, right)
        return left

    def and_expr(self) -> Expr:
        left = self.cmp_expr()
        while self.peek() == ("op", "and"):
            self.take()
            right = self.cmp_expr()
            left = _and(left, right)
        return left

    def cmp_expr(self) -> Expr:
        left = self.concat_expr()
        while self.peek()[0] == "op" and self.peek()[1] in ("==", "~=", "<", "<=", ">", ">="):
            op = self.take()[1]
            right = self.concat_expr()
            left = _cmp(op, left, right)
        return left

    def concat_expr(self) -> Expr:
        left = self.unary()
        if self.peek() == ("op", ".."):
            self.take()
            right = self.concat_expr()
            return lambda env: _concat_part(left(env)) + _concat_part(right(env))
        return left

    def unary(self) -> Expr:
        if self.peek() == ("op", "not"):
            self.take()
            inner = self.unary()
            return lambda env: not _truthy(inner(env))
        if self.peek() == ("op", "#"):
            self.take()
            inner = self.unary()
            return lambda env: _length(inner(env))
        return self.postfix()

    def postfix(self) -> Expr:
        expr = self.primary()
        while True:
            kind, value = self.peek()
            if kind != "op":
                return expr
            if value == ".":
                self.take()
                kind, name = self.take()
                if kind != "name":
                    raise TemplateError(f"<name> expected near '{name}'")
                expr = _field(expr, name)
            elif value == "[":
                self.take()
                key = self.or_expr()
                self.expect("]")
                expr = _subscript(expr, key)
            elif value == "(":
                self.take()
                args: list[Expr] = []
                if self.peek() != ("op", ")"):
                    args.append(self.or_expr())
                    while self.peek() == ("op", ","):
                        self.take()
                        args.append(self.or_expr())
                self.expect(")")
                expr = _invoke(expr, args)
            else:
                return expr

    def primary(self) -> Expr:
        kind, value = self.take()
        if kind == "value":
            return lambda env: value
        if kind == "name":
            if value in _BUILTINS:
                builtin = _BUILTINS[value]
                return lambda env: builtin
            return lambda env: env.get(value)
        if kind == "op" and value == "(":
            inner = self.or_expr()
            self.expect(")")
            return inner
        raise TemplateError(f"unexpected symbol near '{value if value is not None else '<eof>'}'")


def _call(func: Any, args: list[Any]) -> Any:
    if not callable(func) or func not in _BUILTINS.values():
        raise TemplateError(f"attempt to call a {_lua_type(func)} value")
    return func(*args[:1])


def compile_expression(text: str) -> Expr:
    """Compile one Lua expression; raises :class:`TemplateError`."""
    return _Parser(text).parse()


def _find_close(text: str, start: int) -> int:
    """Index of the ``)`` balancing the ``(`` at ``start`` (Lua's ``%b()``), or -1."""
    depth = 0
    for i in range(start, len(text)):
        char = text[i]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


class Template:
    """A compiled template: literal text and ``$(expr)`` parts.

    :ivar constant: the rendered text when the template has no expression, else ``None``.
    """

    __slots__ = ("constant", "parts", "source")

    def __init__(self, source: str, parts: list[str | Expr]) -> None:
        self.source = source
        self.parts = parts
        self.constant = source if all(isinstance(p, str) for p in parts) else None

    def render(self, env: Lookup) -> str:
        """Render against ``env``; raises :class:`TemplateError` when an expression fails."""
        if self.constant is not None:
            return self.constant
        out = []
        for part in self.parts:
            out.append(part if isinstance(part, str) else render_value(part(env)))
        return "".join(out)


def compile_template(source: str) -> Template:
    """Compile ``source``; text without ``$(`` renders as itself.

    :raises TemplateError: for an unbalanced ``$(`` or a bad expression.
    """
    parts: list[str | Expr] = []
    pos = 0
    while True:
        start = source.find("$(", pos)
        if start < 0:
            break
        close = _find_close(source, start + 1)
        if close < 0:
            raise TemplateError("unbalanced '$(' in template")
        if start > pos:
            parts.append(source[pos:start])
        parts.append(compile_expression(source[start + 2 : close]))
        pos = close + 1
    if pos < len(source) or not parts:
        parts.append(source[pos:])
    return Template(source, parts)
