"""Linear-time regular expressions (RE2) for patterns that client input is matched against.

Python's ``re`` backtracks: a route regex such as ``~/(a+)+$`` and a 29-byte
path held the reactor for seconds. Kong 3.x's router runs Rust's ``regex``
crate, which never backtracks and so has no look-around and no
back-references; RE2 (``google-re2``) has the same model. :func:`compile_linear`
compiles a pattern for RE2 and :func:`router_regex_error` gives the Admin API's
message for one it cannot run.
"""

from __future__ import annotations

import re

# google-re2's RE2 class (anchored matches with spans, no Python-level wrapper per call)
# is only reachable through its binding module, _re2.
from re2 import Options, _re2

__all__ = [
    "LinearMatch",
    "LinearPattern",
    "RegexError",
    "compile_linear",
    "router_regex_error",
]

_ANCHOR_START = _re2.RE2.Anchor.ANCHOR_START
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
_NO_SPAN = (-1, -1)

# PCRE/Rust named groups ``(?<name>`` -> ``(?P<name>`` (RE2 builds differ on the short form).
_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")

#: RE2 complaints about what PCRE has and the Rust crate refuses, and the crate's words for them.
_UNSUPPORTED = (
    (
        # (RE2 builds before 2023 stop at "(?<" for a look-behind.)
        re.compile(r"invalid perl operator: \(\?(?:<[=!]|<$|[=!])"),
        "look-around, including look-ahead and look-behind, is not supported",
    ),
    (re.compile(r"invalid escape sequence: \\[1-9]"), "backreferences are not supported"),
)


class RegexError(ValueError):
    """A pattern the linear-time engine cannot compile (the message is RE2's)."""


class LinearMatch:
    """The part of ``re.Match`` the router uses: ``group(0)``, ``groups()``, ``groupdict()``."""

    __slots__ = ("_names", "_spans", "_text")

    def __init__(self, text: str, spans: list[tuple[int, int]], names: dict[str, int]) -> None:
        self._text = text
        self._spans = spans
        self._names = names

    def _get(self, index: int) -> str | None:
        span = self._spans[index]
        return None if span == _NO_SPAN else self._text[span[0] : span[1]]

    def group(self, index: int = 0) -> str | None:
        """The text of group ``index`` (0: the whole match), ``None`` if it did not take part."""
        return self._get(index)

    def end(self) -> int:
        """Where the match ends in the text."""
        return self._spans[0][1]

    def groups(self) -> tuple[str | None, ...]:
        """Every capturing group's text, in order."""
        return tuple(self._get(i) for i in range(1, len(self._spans)))

    def groupdict(self) -> dict[str, str | None]:
        """Named groups by name."""
        return {name: self._get(index) for name, index in self._names.items()}


class LinearPattern:
    """A compiled RE2 pattern with ``match`` (anchored at the start) and ``search``."""

    __slots__ = ("_names", "_regexp", "pattern")

    def __init__(self, pattern: str, regexp: _re2.RE2) -> None:
        self.pattern = pattern
        self._regexp = regexp
        self._names = {name.decode(): index for name, index in regexp.NamedCapturingGroups()}

    def _run(self, anchor: object, text: str) -> LinearMatch | None:
        if text.isascii():
            data = text.encode("ascii")
            spans = self._regexp.Match(anchor, data, 0, len(data))
            if spans[0] == _NO_SPAN:
                return None
            return LinearMatch(text, spans, self._names)
        # Byte offsets of UTF-8 text are not character offsets: map them back.
        data = text.encode("utf-8", "surrogatepass")
        spans = self._regexp.Match(anchor, data, 0, len(data))
        if spans[0] == _NO_SPAN:
            return None
        chars = [
            span
            if span == _NO_SPAN
            else (
                len(data[: span[0]].decode("utf-8", "surrogatepass")),
                len(data[: span[1]].decode("utf-8", "surrogatepass")),
            )
            for span in spans
        ]
        return LinearMatch(text, chars, self._names)

    def match(self, text: str) -> LinearMatch | None:
        """Match at the start of ``text`` (like ``re.match``)."""
        return self._run(_ANCHOR_START, text)

    def search(self, text: str) -> LinearMatch | None:
        """Match anywhere in ``text`` (like ``re.search``)."""
        return self._run(_UNANCHORED, text)


def compile_linear(pattern: str, ignore_case: bool = False) -> LinearPattern:
    """Compile ``pattern`` (PCRE-style named groups accepted) for RE2.

    :raises RegexError: the pattern is invalid or needs backtracking (look-around,
        back-references), or its program would be too large.
    """
    options = Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    regexp = _re2.RE2(_NAMED_GROUP.sub("(?P<", pattern).encode("utf-8", "surrogatepass"), options)
    if not regexp.ok():
        raise RegexError(regexp.error().decode("utf-8", "replace"))
    return LinearPattern(pattern, regexp)


def router_regex_error(pattern: str) -> str | None:
    """Kong's Admin API message for a router regex its engine cannot run, or ``None``."""
    try:
        compile_linear(pattern)
    except RegexError as exc:
        reason = str(exc)
        for complaint, message in _UNSUPPORTED:
            if complaint.match(reason):
                reason = message
                break
        return "Router Expression failed validation: regex parse error: %s: %s" % (pattern, reason)
    return None
