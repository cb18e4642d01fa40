"""Kong's HTTP router, ``traditional_compatible`` flavour (sans-IO).

A :class:`Router` is compiled once per configuration snapshot. Each route is
split per path the way Kong 3.x does (all regex paths of a route form one
matcher, plain prefixes one matcher per length), every matcher gets Kong's
priority (proxy.md §1.3) and a rank, and matchers are indexed:

* by host: a dict per exact host, dicts per ``*.suffix`` and ``prefix.*``
  wildcard, plus one bucket for routes without hosts;
* inside a bucket, plain prefixes by length (``{len: {prefix: [entries]}}``),
  so a lookup costs one slice and one dict probe per distinct prefix length;
  regex matchers and path-less matchers are kept in rank order.

A lookup gathers the few candidate lists for the request's host and path,
checks the remaining conditions (port, method, headers, SNI, regex) and keeps
the best rank; each list is in rank order, so it stops early. A small bounded
LRU of recent requests sits in front (dropped with the router on a new snapshot).

Host ports (``example.com:8000`` in ``hosts``): compared with ``server_port``
(the port the request was received on, Kong 3.x default flavour) when the caller
passes it; otherwise with the Host header's port, or 80/443 by scheme when the
Host header has none (the traditional router's rule).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.logger import Logger

from kongtx.proxy.paths import normalize_path, sanitize_postfix

__all__ = ["HTTP_PROTOCOLS", "Match", "Router"]

log = Logger()

#: Route protocols served by the HTTP router (gRPC routes match like HTTP ones).
HTTP_PROTOCOLS = frozenset({"http", "https", "grpc", "grpcs", "ws", "wss"})
_TLS_SCHEMES = frozenset({"https", "grpcs", "wss"})
_DEFAULT_CACHE_SIZE = 4096
_MAX_CACHED_PATH = 512  # longer paths bypass the cache, bounding its memory
# PCRE/Rust named groups ``(?<name>`` -> Python ``(?P<name>``; not lookbehinds.
_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")


class _HeadersLike(Protocol):
    def get_all(self, name: str) -> list[str]: ...


@dataclass
class Match:
    """The result of routing a request.

    :ivar route: the route row.
    :ivar service: the service row, or ``None`` (the core answers 503).
    :ivar matched_path: the configured route path that matched (``~`` included),
        or ``None`` when the route has no paths.
    :ivar prefix: the matched part of the request path (the configured prefix,
        or the text the regex matched); what ``strip_path`` strips. ``None``
        when the route has no paths.
    :ivar postfix: the rest of the request path after ``prefix`` (a leading
        ``./``/``../`` removed); the whole path minus its leading ``/`` when
        the route has no paths.
    :ivar uri_captures: regex captures: ``0`` the whole match, ``1..n``
        positional groups, plus named groups (``None`` for groups that did not
        participate); empty when the path has no groups.
    :ivar matched_host: the configured host entry that matched, or ``None``.
    :ivar path: the normalized request path the route was matched against.

    Matches are cached and shared between requests: treat them as read-only.
    """

    route: Mapping[str, Any]
    service: Mapping[str, Any] | None
    matched_path: str | None
    prefix: str | None
    postfix: str
    uri_captures: dict[int | str, str | None]
    matched_host: str | None
    path: str


class _Matcher:
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

    def __init__(
        self, route: Mapping[str, Any], service: Mapping[str, Any] | None
    ) -> None:
        self.rank = 0
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
        self.regexes: tuple[tuple[str, re.Pattern[str]], ...] | None = None
        # configured plain prefixes of one length for a prefix group.
        self.prefixes: frozenset[str] | None = None
        # literal prefixes every regex of the group starts with (index keys), or None.
        self.literals: frozenset[str] | None = None
        self.sort_key: tuple[Any, ...] = ()
        # True when only the indexes and the path decide (no method/header/SNI check).
        self.simple = (
            self.methods is None and self.headers is None and self.snis is None
        )

    def accepts(
        self, method: str, headers: _HeadersLike | None, tls: bool, sni: str | None
    ) -> bool:
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
        return any(
            sni.endswith(s) and len(sni) > len(s) for s in self.sni_suffixes
        ) or any(sni.startswith(p) and len(sni) > len(p) for p in self.sni_prefixes)


def _compile_headers(
    headers: Mapping[str, list[str]] | None,
) -> tuple[tuple[str, frozenset[str], tuple[re.Pattern[str], ...]], ...] | None:
    if not headers:
        return None
    out = []
    for name, values in headers.items():
        plain = set()
        patterns = []
        for value in values or ():
            if value.startswith("~*"):
                # Kong lower-cases both sides; IGNORECASE keeps \D, \S, \W intact.
                patterns.append(re.compile(value[2:], re.IGNORECASE))
            else:
                plain.add(value.lower())
        out.append((name.lower(), frozenset(plain), tuple(patterns)))
    return tuple(out)


class _Entry:
    """A matcher placed in one host bucket, with that bucket's port condition."""

    __slots__ = ("host", "matcher", "ports", "rank")

    def __init__(
        self, matcher: _Matcher, host: str | None, ports: dict[int, str] | None
    ) -> None:
        self.rank = matcher.rank
        self.matcher = matcher
        self.host = host  # configured host matched without port condition
        self.ports = ports  # or: port -> configured host (host is None then)


class _Bucket:
    """Matchers sharing one host key, indexed by path."""

    __slots__ = ("always", "by_length", "lengths")

    def __init__(self) -> None:
        # Plain prefixes, and regexes by their literal prefix: {len: {prefix: entries}}.
        self.by_length: dict[int, dict[str, list[_Entry]]] = {}
        self.lengths: tuple[int, ...] = ()
        # Path-less matchers and regexes without a literal prefix: always checked.
        self.always: list[_Entry] = []

    def add(self, entry: _Entry) -> None:
        m = entry.matcher
        keys = m.prefixes if m.prefixes is not None else m.literals
        if keys is None:
            self.always.append(entry)
            return
        for prefix in keys:
            table = self.by_length.setdefault(len(prefix), {})
            table.setdefault(prefix, []).append(entry)

    def freeze(self) -> None:
        key = _rank_of
        for table in self.by_length.values():
            for entries in table.values():
                entries.sort(key=key)
        self.always.sort(key=key)
        self.lengths = tuple(sorted(self.by_length))


def _rank_of(entry: _Entry) -> int:
    return entry.rank


def _split_host(value: str) -> tuple[str, int | None]:
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


def _compile_regex(path: str) -> re.Pattern[str]:
    return re.compile(_NAMED_GROUP.sub("(?P<", path[1:]))


_META = frozenset(".^$*+?{}[]|()\\")


def _literal_prefix(pattern: str) -> str:
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


def _split_paths(paths: list[str]) -> list[tuple[str, list[str]]]:
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


def _priority(
    route: Mapping[str, Any], kind: str | None, paths: list[str]
) -> tuple[Any, ...]:
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


class Router:
    """Routes compiled for matching; immutable once built.

    :param routes: route rows (Kong JSON). Routes whose protocols are not HTTP
        ones (tcp, tls, udp, tls_passthrough) or whose service has
        ``enabled: false`` are left out; a route with a bad regex is left out
        and listed in :attr:`errors`.
    :param services: service rows by id.
    :param cache_size: entries in the recent-request cache (0 disables it).
    """

    def __init__(
        self,
        routes: Iterable[Mapping[str, Any]],
        services: Mapping[str, Mapping[str, Any]],
        cache_size: int = _DEFAULT_CACHE_SIZE,
    ) -> None:
        self.errors: list[tuple[Any, str]] = []
        matchers = self._build_matchers(routes, services)
        matchers.sort(key=lambda m: m.sort_key)
        for rank, m in enumerate(matchers):
            m.rank = rank
        self._matchers = matchers
        self._exact: dict[str, _Bucket] = {}
        self._suffix: dict[str, _Bucket] = {}  # ".example.com" for "*.example.com"
        self._prefix: dict[str, _Bucket] = {}  # "example." for "example.*"
        self._any = _Bucket()
        header_names: set[str] = set()
        for m in matchers:
            self._place(m)
            if m.headers is not None:
                header_names.update(name for name, _, _ in m.headers)
        for bucket in self._buckets():
            bucket.freeze()
        self._header_names = tuple(sorted(header_names))
        self._cache: OrderedDict[tuple[Any, ...], Match | None] = OrderedDict()
        self._cache_size = cache_size

    def __len__(self) -> int:
        """Number of compiled matchers (routes split per path group)."""
        return len(self._matchers)

    def _buckets(self) -> Iterable[_Bucket]:
        yield self._any
        yield from self._exact.values()
        yield from self._suffix.values()
        yield from self._prefix.values()

    def _build_matchers(
        self,
        routes: Iterable[Mapping[str, Any]],
        services: Mapping[str, Mapping[str, Any]],
    ) -> list[_Matcher]:
        matchers: list[_Matcher] = []
        for route in routes:
            protocols = route.get("protocols") or ("http", "https")
            if not HTTP_PROTOCOLS.intersection(protocols):
                continue
            ref = route.get("service")
            service = services.get(ref["id"]) if ref else None
            if service is not None and service.get("enabled") is False:
                continue
            paths = route.get("paths") or []
            groups: list[tuple[str | None, list[str]]] = (
                list(_split_paths(paths)) if paths else [(None, [])]
            )
            try:
                built = []
                for kind, group in groups:
                    m = _Matcher(route, service)
                    if kind == "regex":
                        m.regexes = tuple((p, _compile_regex(p)) for p in group)
                        literals = {_literal_prefix(p[1:]) for p in group}
                        if "" not in literals:
                            m.literals = frozenset(literals)
                    elif kind == "prefix":
                        m.prefixes = frozenset(group)
                    m.sort_key = _priority(route, kind, group)
                    built.append(m)
            except re.error as exc:
                log.error(
                    "route {id} skipped: invalid regex: {err}",
                    id=route.get("id"),
                    err=str(exc),
                )
                self.errors.append((route.get("id"), str(exc)))
                continue
            matchers.extend(built)
        return matchers

    def _place(self, m: _Matcher) -> None:
        hosts = m.route.get("hosts")
        if not hosts:
            self._any.add(_Entry(m, None, None))
            return
        # Per bucket: a host entry without port wins over ported ones.
        plain: dict[tuple[str, str], str] = {}
        ported: dict[tuple[str, str], dict[int, str]] = {}
        for configured in hosts:
            name, port = _split_host(configured)
            if name.startswith("*"):
                key = ("suffix", name[1:])
            elif name.endswith("*"):
                key = ("prefix", name[:-1])
            else:
                key = ("exact", name)
            if port is None:
                plain.setdefault(key, configured)
            else:
                ported.setdefault(key, {}).setdefault(port, configured)
        tables = {"exact": self._exact, "suffix": self._suffix, "prefix": self._prefix}
        for key in set(plain) | set(ported):
            bucket = tables[key[0]].get(key[1])
            if bucket is None:
                bucket = tables[key[0]][key[1]] = _Bucket()
            if key in plain:
                bucket.add(_Entry(m, plain[key], None))
            else:
                bucket.add(_Entry(m, None, ported[key]))

    def match(
        self,
        method: str,
        host_header: str | None,
        path: str,
        headers: _HeadersLike | None,
        scheme: str,
        sni: str | None = None,
        server_port: int | None = None,
    ) -> Match | None:
        """Find the route for a request.

        :param method: request method.
        :param host_header: the Host header as received (may carry a port).
        :param path: the raw request path, without query; normalized here.
        :param headers: the request headers (``get_all(name)``).
        :param scheme: ``"http"`` or ``"https"``; only decides whether SNIs count.
        :param sni: TLS server name, if any.
        :param server_port: the port the request was received on.
        :returns: the best :class:`Match`, or ``None``.
        """
        cache_size = self._cache_size
        if cache_size and len(path) <= _MAX_CACHED_PATH:
            key: tuple[Any, ...] = (method, host_header, path, scheme, sni, server_port)
            if self._header_names and headers is not None:
                key += tuple(tuple(headers.get_all(n)) for n in self._header_names)
            cache = self._cache
            try:
                result = cache[key]
            except KeyError:
                pass
            else:
                cache.move_to_end(key)
                return result
            result = self._find(
                method, host_header, path, headers, scheme, sni, server_port
            )
            cache[key] = result
            if len(cache) > cache_size:
                cache.popitem(last=False)
            return result
        return self._find(method, host_header, path, headers, scheme, sni, server_port)

    def _candidate_buckets(self, host: str | None) -> list[_Bucket]:
        buckets = [self._any]
        if host is None:
            return buckets
        bucket = self._exact.get(host)
        if bucket is not None:
            buckets.append(bucket)
        if self._suffix:
            i = host.find(".", 1)
            while i != -1:
                bucket = self._suffix.get(host[i:])
                if bucket is not None:
                    buckets.append(bucket)
                i = host.find(".", i + 1)
        if self._prefix:
            last = len(host) - 1
            i = host.find(".")
            while 0 <= i < last:
                bucket = self._prefix.get(host[: i + 1])
                if bucket is not None:
                    buckets.append(bucket)
                i = host.find(".", i + 1)
        return buckets

    def _find(
        self,
        method: str,
        host_header: str | None,
        raw_path: str,
        headers: _HeadersLike | None,
        scheme: str,
        sni: str | None,
        server_port: int | None,
    ) -> Match | None:
        path = normalize_path(raw_path)
        if host_header is not None:
            host, host_port = _split_host(host_header)
        else:
            host, host_port = None, None
        if server_port is not None:
            port = server_port
        elif host_port is not None:
            port = host_port
        else:
            port = 443 if scheme in _TLS_SCHEMES else 80
        tls = scheme in _TLS_SCHEMES
        if sni is not None and len(sni) > 1 and sni[-1] == ".":
            sni = sni[:-1]

        best: _Entry | None = None
        best_rank = len(self._matchers)
        best_re: re.Match[str] | None = None
        best_re_path: str | None = None
        path_len = len(path)

        for bucket in self._candidate_buckets(host):
            lists: list[list[_Entry]] = []
            by_length = bucket.by_length
            for length in bucket.lengths:
                if length > path_len:
                    break
                entries = by_length[length].get(path[:length])
                if entries is not None:
                    lists.append(entries)
            if bucket.always:
                lists.append(bucket.always)
            for entries in lists:
                for entry in entries:
                    if entry.rank >= best_rank:
                        break
                    if entry.ports is not None and port not in entry.ports:
                        continue
                    m = entry.matcher
                    if not m.simple and not m.accepts(method, headers, tls, sni):
                        continue
                    if m.regexes is None:
                        best, best_rank, best_re = entry, entry.rank, None
                        break
                    for configured, regex in m.regexes:
                        found = regex.match(path)
                        if found is not None:
                            best, best_rank = entry, entry.rank
                            best_re, best_re_path = found, configured
                            break
                    else:
                        continue
                    break

        if best is None:
            return None
        return self._build(best, path, host, port, best_re, best_re_path)

    @staticmethod
    def _build(
        entry: _Entry,
        path: str,
        host: str | None,
        port: int,
        found: re.Match[str] | None,
        regex_path: str | None,
    ) -> Match:
        m = entry.matcher
        matched_host = entry.host if entry.ports is None else entry.ports[port]
        captures: dict[int | str, str | None] = {}
        if found is not None:
            prefix = found.group(0)
            matched_path = regex_path
            groups = found.groups()
            if groups:
                captures[0] = prefix
                for index, value in enumerate(groups, 1):
                    captures[index] = value
                captures.update(found.groupdict())
        elif m.prefixes is not None:
            length = len(next(iter(m.prefixes)))
            prefix = matched_path = path[:length]
        else:
            prefix = matched_path = None
        postfix = path[len(prefix) :] if prefix is not None else path[1:]
        return Match(
            route=m.route,
            service=m.service,
            matched_path=matched_path,
            prefix=prefix,
            postfix=sanitize_postfix(postfix),
            uri_captures=captures,
            matched_host=matched_host,
            path=path,
        )
