"""The parser errors, shared by both parsers so that callers catch one set of classes.

They are httptools' own classes where httptools is installed (the pure-Python
parser raises them too), else classes of the same names and hierarchy.
"""

from __future__ import annotations

try:
    from httptools import (
        HttpParserCallbackError,
        HttpParserError,
        HttpParserInvalidMethodError,
        HttpParserInvalidStatusError,
        HttpParserInvalidURLError,
        HttpParserUpgrade,
    )
except ImportError:  # pragma: no cover - httptools is installed everywhere kongtx's tests run

    class HttpParserError(Exception):  # type: ignore[no-redef]
        """The stream is not HTTP/1.x as the parser accepts it."""

    class HttpParserCallbackError(HttpParserError):  # type: ignore[no-redef]
        """A callback raised; its exception is this error's ``__context__``."""

    class HttpParserInvalidStatusError(HttpParserError):  # type: ignore[no-redef]
        """A response's status line is malformed."""

    class HttpParserInvalidMethodError(HttpParserError):  # type: ignore[no-redef]
        """A request's method is not one the parser knows."""

    class HttpParserInvalidURLError(HttpParserError):  # type: ignore[no-redef]
        """A request's target is malformed."""

    class HttpParserUpgrade(Exception):  # type: ignore[no-redef]
        """The message upgraded the connection; ``args[0]`` is where the other protocol starts."""


__all__ = [
    "HttpParserCallbackError",
    "HttpParserError",
    "HttpParserInvalidMethodError",
    "HttpParserInvalidStatusError",
    "HttpParserInvalidURLError",
    "HttpParserUpgrade",
]
