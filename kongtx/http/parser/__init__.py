"""HTTP/1.1 parsing for the native server and the upstream client, chosen in one place.

Two parsers with httptools' interface: httptools itself (llhttp, a C
extension) and :mod:`kongtx.http.parser._pure` (pure Python, as strict, and
fast under PyPy's JIT where httptools goes through the slow cpyext layer). The
default is httptools on CPython and the pure-Python parser on PyPy (or where
httptools is not installed); the environment variable ``KONGTX_HTTP_PARSER``
(``httptools`` or ``python``) overrides it when the process starts, and
:func:`use` changes it for the connections made after (tests). Both raise the
classes of :mod:`kongtx.http.parser.errors`.
"""

from __future__ import annotations

import os
import platform
from typing import Any

from kongtx.http.parser import _pure
from kongtx.http.parser.errors import (
    HttpParserCallbackError,
    HttpParserError,
    HttpParserUpgrade,
)

HTTPTOOLS = "httptools"
PYTHON = "python"
#: The environment variable that picks the parser.
ENV_VAR = "KONGTX_HTTP_PARSER"


def default_parser() -> str:
    """The parser this process uses unless told otherwise: ``"httptools"`` or ``"python"``."""
    chosen = os.environ.get(ENV_VAR, "").strip().lower()
    if chosen:
        if chosen not in (HTTPTOOLS, PYTHON):
            raise ValueError(f"{ENV_VAR} must be {HTTPTOOLS!r} or {PYTHON!r}, not {chosen!r}")
        return chosen
    if platform.python_implementation() == "PyPy":
        return PYTHON
    try:
        import httptools  # noqa: F401
    except ImportError:
        return PYTHON
    return HTTPTOOLS


def _classes(name: str) -> tuple[Any, Any]:
    if name == HTTPTOOLS:
        import httptools

        return httptools.HttpRequestParser, httptools.HttpResponseParser
    if name == PYTHON:
        return _pure.HttpRequestParser, _pure.HttpResponseParser
    raise ValueError(f"unknown HTTP parser {name!r} (expected {HTTPTOOLS!r} or {PYTHON!r})")


_selected = default_parser()
_request_class, _response_class = _classes(_selected)


def use(name: str) -> None:
    """Build the parsers of connections made from now on with ``name`` (``httptools``/``python``)."""
    global _selected, _request_class, _response_class
    _request_class, _response_class = _classes(name)
    _selected = name


def selected() -> str:
    """The name of the parser new connections get."""
    return _selected


def new_request_parser(callbacks: object) -> Any:
    """A request parser calling back into ``callbacks`` (httptools' ``HttpRequestParser`` API)."""
    return _request_class(callbacks)


def new_response_parser(callbacks: object) -> Any:
    """A response parser calling back into ``callbacks`` (httptools' ``HttpResponseParser`` API)."""
    return _response_class(callbacks)


__all__ = [
    "ENV_VAR",
    "HTTPTOOLS",
    "PYTHON",
    "HttpParserCallbackError",
    "HttpParserError",
    "HttpParserUpgrade",
    "default_parser",
    "new_request_parser",
    "new_response_parser",
    "selected",
    "use",
]
