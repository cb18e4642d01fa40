"""Route compilation for the router: matchers, host buckets and priorities.

Each route is split per path group (:func:`split_paths`), every group becomes
a :class:`Matcher` carrying Kong's priority (:func:`route_priority`), and matchers
are placed, as :class:`Entry` objects, into :class:`Bucket` path indexes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from kongtx.regex import LinearPattern, compile_linear


class HeadersLike(Protocol):
    def get_all(self, name: str) -> list[str]: ...


class Matcher:
    """One route restricted to one group of its paths."""

    __slots__ = (
        "headers",
        "literals",
        "methods",
        "prefixes",
        "rank",
        "regexes",
        "route",
        "service",
        "simple",
        "sni_prefixes",
        "sni_suffixes",
        "snis",
        "sort_key",
    )

    def __init__(self, route: Mapping[str, Any], service: Mapping[str, Any] | None) -> None:
        self.rank: tuple[Any, ...] = ()
        self.route = route
        self.service = service
        methods = route.get("methods")
        self.methods: frozenset[str] | None = frozenset(methods) if methods else None
        self.headers = _compile_headers(route.get("headers"))
        self.snis: frozenset[str] | None = None
        self.sni_suffixes: tuple[str, ...] = ()
        self.sni_prefixes: tuple[str, ...] = ()
        snis = route.get("snis")
        if snis:
            exact = set()
            for sni in snis:
                if len(sni) > 1 and sni[-1] == ".":
                    sni = sni[:-1]  # the FQDN dot is not used for routing
                if sni[0] == "*":
                    self.sni_suffixes += (sni[1:],)
                elif sni[-1] == "*":
                    self.sni_prefixes += (sni[:-1],)
                else:
                    exact.add(sni)
            self.snis = frozenset(exact)
        # (configured path, compiled regex) for a regex group; None otherwise.
        self.regexes: tuple[tuple[str, LinearPattern], ...] | None = None
        # configured plain prefixes of one length for a prefix group.
        self.prefixes: frozenset[str] | None = None
        # literal prefixes every regex of the group starts with (index keys), or None.
        self.literals: frozenset[str] | None = None
        self.sort_key: tuple[Any, ...] = ()
        # True when only the indexes and the path decide (no method/header/SNI check).
        self.simple = self.methods is None and self.headers is None and self.snis is None

    def accepts(self, method: str, headers: HeadersLike | None, tls: bool, sni: str | None) -> bool:
        """Check the conditions the indexes do not cover (except regex paths)."""
        if self.methods is not None and method not in self.methods:
            return False
        if self.headers is not None:
            if headers is None:
                return False
            for name, values, patterns in self.headers:
                for value in headers.get_all(name):
                    value = value.lower()
                    if value in values:
                        break
                    if patterns and any(p.search(value) for p in patterns):
                        break
                else:
                    return False
        if tls and self.snis is not None:
            if sni is None:
                return False
            if sni not in self.snis and not self._wildcard_sni(sni):
                return False
        return True

    def _wildcard_sni(self, sni: str) -> bool:
        return any(sni.endswith(s) and len(sni) > len(s) for s in self.sni_suffixes) or any(
            sni.startswith(p) and len(sni) > len(p) for p in self.sni_prefixes
        )


def _compile_headers(
    headers: Mapping[str, list[str]] | None,
) -> tuple[tuple[str, frozenset[str], tuple[LinearPattern, ...]], ...] | None:
    if not headers:
        return None
    out = []
    for name, values in headers.items():
        plain = set()
        patterns = []
        for value in values or ():
            if value.startswith("~*"):
                # Kong lower-cases both sides; ignoring case keeps \D, \S, \W intact.
                patterns.append(compile_linear(value[2:], ignore_case=True))
            else:
                plain.add(value.lower())
        out.append((name.lower(), frozenset(plain), tuple(patterns)))
    return tuple(out)


class Entry:
    """A matcher placed in one host bucket, with that bucket's port condition."""

    __slots__ = ("host", "matcher", "ports", "rank")

    def __init__(self, matcher: Matcher, host: str | None, ports: dict[int, str] | None) -> None:
        self.rank = matcher.rank
        self.matcher = matcher
        self.host = host  # configured host matched without port condition
        self.ports = ports  # or: port -> configured host (host is None then)


class Bucket:
    """Matchers sharing one host key, indexed by path; every list kept in rank order."""

    __slots__ = ("always", "by_length", "lengths")

    def __init__(self) -> None:
        # Plain prefixes, and regexes by their literal prefix: {len: {prefix: entries}}.
        self.by_length: dict[int, dict[str, list[Entry]]] = {}
        self.lengths: tuple[int, ...] = ()
        # Path-less matchers and regexes without a literal prefix: always checked.
        self.always: list[Entry] = []

    def _lists(self, entry: Entry, create: bool) -> list[list[Entry]]:
        m = entry.matcher
        keys = m.prefixes if m.prefixes is not None else m.literals
        if keys is None:
            return [self.always]
        out = []
        for prefix in keys:
            table = self.by_length.get(len(prefix))
            if table is None:
                if not create:
                    continue
                table = self.by_length[len(prefix)] = {}
                self.lengths = tuple(sorted(self.by_length))
            entries = table.get(prefix)
            if entries is None:
                if not create:
                    continue
                entries = table[prefix] = []
            out.append(entries)
        return out

    def add(self, entry: Entry) -> None:
        """Place ``entry`` (unsorted: call :meth:`freeze` once every entry is in)."""
        for entries in self._lists(entry, True):
            entries.append(entry)

    def insert(self, entry: Entry) -> None:
        """Place ``entry`` at its rank (one route added to a built router)."""
        for entries in self._lists(entry, True):
            _insort(entries, entry)

    def discard(self, entry: Entry) -> None:
        """Take ``entry`` out (its empty lists and lengths too)."""
        m = entry.matcher
        keys = m.prefixes if m.prefixes is not None else m.literals
        if keys is None:
            _remove(self.always, entry)
            return
        for prefix in keys:
            table = self.by_length.get(len(prefix))
            entries = table.get(prefix) if table is not None else None
            if entries is None or table is None:
                continue
            _remove(entries, entry)
            if not entries:
                del table[prefix]
                if not table:
                    del self.by_length[len(prefix)]
                    self.lengths = tuple(sorted(self.by_length))

    def empty(self) -> bool:
        """No entry left."""
        return not self.always and not self.by_length

    def freeze(self) -> None:
        """Sort every list by rank (once, after bulk :meth:`add` calls)."""
        for _ in self.freezing():
            pass

    def freezing(self) -> Iterator[None]:
        """:meth:`freeze` one list per step (a generator, for a build sliced on the reactor)."""
        key = _rank_of
        for table in self.by_length.values():
            for entries in table.values():
                entries.sort(key=key)
                yield None
        self.always.sort(key=key)
        self.lengths = tuple(sorted(self.by_length))


def _rank_of(entry: Entry) -> Any:
    return entry.rank


def _insort(entries: list[Entry], entry: Entry) -> None:
    """Insert ``entry`` after the entries of lower or equal rank (binary search)."""
    rank = entry.rank
    lo, hi = 0, len(entries)
    while lo < hi:
        mid = (lo + hi) // 2
        if rank < entries[mid].rank:
            hi = mid
        else:
            lo = mid + 1
    entries.insert(lo, entry)


def _remove(entries: list[Entry], entry: Entry) -> None:
    for i, other in enumerate(entries):
        if other is entry:
            del entries[i]
            return


def split_host_port(value: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` (also ``[v6]:port``); a non-numeric port stays in host."""
    if value.startswith("["):
        end = value.find("]")
        if end != -1 and value[end + 1 : end + 2] == ":" and value[end + 2 :].isdigit():
            return value[: end + 1], int(value[end + 2 :])
        return value, None
    head, sep, tail = value.rpartition(":")
    if sep and tail.isdigit() and ":" not in head:
        return head, int(tail)
    return value, None


def compile_regex(path: str) -> LinearPattern:
    return compile_linear(path[1:])


_META = frozenset(".^$*+?{}[]|()\\")


def literal_prefix(pattern: str) -> str:
    """The literal text every match of ``pattern`` (anchored) starts with; may be ''."""
    if "|" in pattern:
        return ""  # alternation: no common prefix worth proving
    pattern = pattern.removeprefix("^")
    end = 0
    for char in pattern:
        if char in _META:
            if char in "*+?{" and end:
                end -= 1  # the quantifier makes the previous character optional
            break
        end += 1
    return pattern[:end]


def split_paths(paths: list[str]) -> list[tuple[str, list[str]]]:
    """Group a route's paths as traditional_compatible does: regex / per length."""
    groups: list[tuple[str, list[str]]] = []
    regex = [p for p in paths if p.startswith("~")]
    if regex:
        groups.append(("regex", regex))
    by_len: dict[int, list[str]] = {}
    for p in paths:
        if not p.startswith("~"):
            by_len.setdefault(len(p), []).append(p)
    for length in sorted(by_len, reverse=True):
        groups.append(("prefix", by_len[length]))
    return groups


def route_priority(route: Mapping[str, Any], kind: str | None, paths: list[str]) -> tuple[Any, ...]:
    """Sort key (ascending = tried first) for one matcher, per proxy.md §1.3."""
    hosts = route.get("hosts") or ()
    headers = route.get("headers") or {}
    weight = sum(1 for f in ("methods", "hosts", "snis", "paths") if route.get(f))
    if headers:
        weight += 1
    plain_host_only = bool(hosts) and not any("*" in h for h in hosts)
    regex = kind == "regex"
    regex_priority = (route.get("regex_priority") or 0) if regex else 0
    uri_length = len(paths[0]) if kind == "prefix" else 0
    return (
        -weight,
        -int(plain_host_only),
        -min(len(headers), 255),
        -int(regex),
        -regex_priority,
        -uri_length,
        # Kong: ties are unspecified; we use the traditional router's (oldest first).
        route.get("created_at") or 0,
        str(route.get("id") or ""),
    )
