"""The Admin API's URL dispatcher: Kong-style path patterns to verb tables (static beats :param)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Dispatcher"]

Endpoint = Callable[..., Any]


class _Node:
    __slots__ = ("methods", "param", "param_name", "pattern", "static")

    def __init__(self) -> None:
        self.static: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.param_name: str | None = None
        self.methods: dict[str, Endpoint] | None = None
        self.pattern: str | None = None


class Dispatcher:
    """Map Kong-style patterns (``/services/:services/routes``) to verb tables."""

    def __init__(self) -> None:
        self._root = _Node()
        self.patterns: list[str] = []

    def add(self, pattern: str, methods: dict[str, Endpoint]) -> None:
        """Register ``methods`` for ``pattern``; later registrations override verbs."""
        node = self._root
        for seg in [s for s in pattern.split("/") if s]:
            if seg.startswith(":"):
                if node.param is None:
                    node.param = _Node()
                    node.param_name = seg[1:]
                node = node.param
            else:
                node = node.static.setdefault(seg, _Node())
        if node.methods is None:
            node.methods = {}
            node.pattern = pattern
            self.patterns.append(pattern)
        node.methods.update(methods)

    def match(self, segments: list[str]) -> tuple[str, dict[str, Endpoint], dict[str, str]] | None:
        """Find the verb table for decoded path segments.

        :returns: ``(pattern, methods, params)`` or ``None``.
        """
        params: dict[str, str] = {}
        node = self._walk(self._root, segments, 0, params)
        if node is None or node.methods is None or node.pattern is None:
            return None
        return node.pattern, node.methods, params

    def _walk(self, node: _Node, segs: list[str], i: int, params: dict[str, str]) -> _Node | None:
        if i == len(segs):
            return node if node.methods is not None else None
        child = node.static.get(segs[i])
        if child is not None:
            found = self._walk(child, segs, i + 1, params)
            if found is not None:
                return found
        if node.param is not None and node.param_name is not None:
            params[node.param_name] = segs[i]
            found = self._walk(node.param, segs, i + 1, params)
            if found is not None:
                return found
            del params[node.param_name]
        return None
