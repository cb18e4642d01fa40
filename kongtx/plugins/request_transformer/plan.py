"""A request-transformer config compiled once: parsed entries and compiled templates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kongtx.plugins.request_transformer.template import Lookup, Template, compile_template
from kongtx.plugins.transformations import split_entry

__all__ = ["Ops", "Plan"]

_OPS = ("remove", "rename", "replace", "add", "append")


def _render(template: Template | None, env: Lookup) -> str | None:
    """Kong's ``param_value``: an empty value is ``nil``, otherwise the rendered template."""
    if template is None:
        return None
    constant = template.constant
    return constant if constant is not None else template.render(env)


class Ops:
    """The five operations of one target (headers, querystring or body), in Kong's order.

    :ivar remove: names to remove.
    :ivar rename: ``(old_name, new_name template)``.
    :ivar replace / add / append: ``(name, value template)``; a template is
        ``None`` when the entry has no value.
    """

    __slots__ = ("add", "any", "append", "remove", "rename", "replace")

    def __init__(self, conf: Mapping[str, Any], key: str) -> None:
        self.remove = [split_entry(e)[0] or e for e in _entries(conf, "remove", key)]
        self.rename = self._pairs(conf, "rename", key)
        self.replace = self._pairs(conf, "replace", key)
        self.add = self._pairs(conf, "add", key)
        self.append = self._pairs(conf, "append", key)
        self.any = bool(self.remove or self.rename or self.replace or self.add or self.append)

    @staticmethod
    def _pairs(conf: Mapping[str, Any], op: str, key: str) -> list[tuple[str, Template | None]]:
        out = []
        for entry in _entries(conf, op, key):
            name, value = split_entry(entry)
            if name is None:
                continue
            out.append((name, compile_template(value) if value != "" else None))
        return out

    def render(self, op: str, env: Lookup) -> list[tuple[str, str]]:
        """``(name, rendered value)`` of ``op``'s entries that have a value."""
        out = []
        for name, template in getattr(self, op):
            value = _render(template, env)
            if value is not None:
                out.append((name, value))
        return out

    def render_rename(self, env: Lookup) -> list[tuple[str, str]]:
        """``(old, new)`` pairs with the new name rendered."""
        return self.render("rename", env)


def _entries(conf: Mapping[str, Any], op: str, key: str) -> list[str]:
    section = conf.get(op) or {}
    return list(section.get(key) or ())


class Plan:
    """Everything request-transformer needs from one config, computed once."""

    __slots__ = ("body", "headers", "http_method", "querystring", "uri")

    def __init__(self, conf: Mapping[str, Any]) -> None:
        method = conf.get("http_method")
        self.http_method = method.upper() if method else None
        uri = (conf.get("replace") or {}).get("uri")
        self.uri = compile_template(uri) if uri else None
        self.headers = Ops(conf, "headers")
        self.querystring = Ops(conf, "querystring")
        self.body = Ops(conf, "body")
