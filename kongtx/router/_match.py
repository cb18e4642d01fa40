"""Route lookup: :class:`Router` builds the host indexes and matches requests."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from twisted.logger import Logger

from kongtx.proxy.paths import normalize_path, sanitize_postfix
from kongtx.regex import LinearMatch, RegexError
from kongtx.router._index import (
    Bucket,
    Entry,
    HeadersLike,
    Matcher,
    compile_regex,
    literal_prefix,
    route_priority,
    split_host_port,
    split_paths,
)

__all__ = ["HTTP_PROTOCOLS", "Match", "Router"]

log = Logger(namespace="kongtx.router")

#: Route protocols served by the HTTP router (gRPC routes match like HTTP ones).
HTTP_PROTOCOLS = frozenset({"http", "https", "grpc", "grpcs", "ws", "wss"})
_TLS_SCHEMES = frozenset({"https", "grpcs", "wss"})
_DEFAULT_CACHE_SIZE = 4096
_MAX_CACHED_PATH = 512  # longer paths bypass the cache, bounding its memory


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


#: Greater than every matcher's rank (ranks are sort keys whose first item is <= 0).
_NO_RANK: tuple[Any, ...] = (1,)


class Router:
    """Routes compiled for matching, updated one route at a time.

    :param routes: route rows (Kong JSON). Routes whose protocols are not HTTP
        ones (tcp, tls, udp, tls_passthrough) or whose service has
        ``enabled: false`` are left out; a route with a bad regex is left out
        and listed in :attr:`errors`.
    :param services: service rows by id.
    :param cache_size: entries in the recent-request cache (0 disables it).

    :meth:`add` and :meth:`remove` change one route's index entries only (a
    binary-search insert per list it appears in) and empty the recent-request
    cache; a matcher's rank is its priority key itself, so nothing else moves.
    """

    def __init__(
        self,
        routes: Iterable[Mapping[str, Any]],
        services: Mapping[str, Mapping[str, Any]],
        cache_size: int = _DEFAULT_CACHE_SIZE,
    ) -> None:
        self._errors: dict[Any, str] = {}
        self._placed: dict[Any, list[tuple[Bucket, Entry]]] = {}
        self._count = 0
        self._exact: dict[str, Bucket] = {}
        self._suffix: dict[str, Bucket] = {}  # ".example.com" for "*.example.com"
        self._prefix: dict[str, Bucket] = {}  # "example." for "example.*"
        self._any = Bucket()
        self._header_counts: dict[str, int] = {}
        self._header_names: tuple[str, ...] = ()
        self._cache: OrderedDict[tuple[Any, ...], Match | None] = OrderedDict()
        self._cache_size = cache_size
        for _ in self.fill(routes, services):
            pass

    def fill(
        self, routes: Iterable[Mapping[str, Any]], services: Mapping[str, Mapping[str, Any]]
    ) -> Iterator[None]:
        """Index ``routes`` in bulk, one step per route then one per host bucket sorted.

        A generator, so a caller may pause between steps (a full build sliced on the
        reactor); the router must not serve lookups until it is exhausted.
        """
        for route in routes:
            self._add(route, _service_of(route, services), sort=False)
            yield None
        for bucket in list(self._buckets()):
            yield from bucket.freezing()
        self._cache.clear()

    def __len__(self) -> int:
        """Number of compiled matchers (routes split per path group)."""
        return self._count

    @property
    def errors(self) -> list[tuple[Any, str]]:
        """``(route id, message)`` of the routes left out for an invalid regex."""
        return list(self._errors.items())

    def add(self, route: Mapping[str, Any], service: Mapping[str, Any] | None) -> None:
        """Index ``route`` (whose service row is ``service``), replacing any older
        version of it."""
        self.remove(route.get("id"))
        self._add(route, service, sort=True)
        self._cache.clear()

    def remove(self, route_id: Any) -> None:
        """Take the route ``route_id`` out (nothing happens if it is not indexed)."""
        self._errors.pop(route_id, None)
        placed = self._placed.pop(route_id, None)
        if placed is None:
            return
        matchers: dict[int, Matcher] = {}
        for bucket, entry in placed:
            bucket.discard(entry)
            matchers[id(entry.matcher)] = entry.matcher
            if bucket.empty():
                self._drop_bucket(bucket, entry)
        self._count -= len(matchers)
        for m in matchers.values():
            self._count_headers(m, -1)
        self._cache.clear()

    def _buckets(self) -> Iterable[Bucket]:
        yield self._any
        yield from self._exact.values()
        yield from self._suffix.values()
        yield from self._prefix.values()

    def _add(self, route: Mapping[str, Any], service: Mapping[str, Any] | None, sort: bool) -> None:
        matchers = self._compile(route, service)
        if not matchers:
            return
        placed: list[tuple[Bucket, Entry]] = []
        for m in matchers:
            m.rank = m.sort_key
            placed.extend(self._place(m, sort))
            self._count_headers(m, 1)
        self._count += len(matchers)
        self._placed[route.get("id")] = placed

    def _count_headers(self, m: Matcher, delta: int) -> None:
        if m.headers is None:
            return
        counts = self._header_counts
        for name, _, _ in m.headers:
            counts[name] = counts.get(name, 0) + delta
            if counts[name] <= 0:
                del counts[name]
        self._header_names = tuple(sorted(counts))

    def _drop_bucket(self, bucket: Bucket, entry: Entry) -> None:
        """Forget an emptied host bucket (``entry`` was its last one)."""
        if bucket is self._any:
            return
        for configured in entry.matcher.route.get("hosts") or ():
            name, _ = split_host_port(configured)
            if name.startswith("*"):
                table, key = self._suffix, name[1:]
            elif name.endswith("*"):
                table, key = self._prefix, name[:-1]
            else:
                table, key = self._exact, name
            if table.get(key) is bucket:
                del table[key]
                return

    def _compile(
        self, route: Mapping[str, Any], service: Mapping[str, Any] | None
    ) -> list[Matcher]:
        protocols = route.get("protocols") or ("http", "https")
        if not HTTP_PROTOCOLS.intersection(protocols):
            return []
        if service is not None and service.get("enabled") is False:
            return []
        paths = route.get("paths") or []
        groups: list[tuple[str | None, list[str]]] = (
            list(split_paths(paths)) if paths else [(None, [])]
        )
        built = []
        try:
            for kind, group in groups:
                m = Matcher(route, service)
                if kind == "regex":
                    m.regexes = tuple((p, compile_regex(p)) for p in group)
                    literals = {literal_prefix(p[1:]) for p in group}
                    if "" not in literals:
                        m.literals = frozenset(literals)
                elif kind == "prefix":
                    m.prefixes = frozenset(group)
                m.sort_key = route_priority(route, kind, group)
                built.append(m)
        except RegexError as exc:
            log.error(
                "route {id} skipped: invalid regex: {err}",
                id=route.get("id"),
                err=str(exc),
            )
            self._errors[route.get("id")] = str(exc)
            return []
        return built

    def _place(self, m: Matcher, sort: bool) -> list[tuple[Bucket, Entry]]:
        hosts = m.route.get("hosts")
        if not hosts:
            entry = Entry(m, None, None)
            self._put(self._any, entry, sort)
            return [(self._any, entry)]
        # Per bucket: a host entry without port wins over ported ones.
        plain: dict[tuple[str, str], str] = {}
        ported: dict[tuple[str, str], dict[int, str]] = {}
        for configured in hosts:
            name, port = split_host_port(configured)
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
        placed = []
        for key in set(plain) | set(ported):
            bucket = tables[key[0]].get(key[1])
            if bucket is None:
                bucket = tables[key[0]][key[1]] = Bucket()
            if key in plain:
                entry = Entry(m, plain[key], None)
            else:
                entry = Entry(m, None, ported[key])
            self._put(bucket, entry, sort)
            placed.append((bucket, entry))
        return placed

    @staticmethod
    def _put(bucket: Bucket, entry: Entry, sort: bool) -> None:
        if sort:
            bucket.insert(entry)
        else:
            bucket.add(entry)

    def match(
        self,
        method: str,
        host_header: str | None,
        path: str,
        headers: HeadersLike | None,
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
            result = self._find(method, host_header, path, headers, scheme, sni, server_port)
            cache[key] = result
            if len(cache) > cache_size:
                cache.popitem(last=False)
            return result
        return self._find(method, host_header, path, headers, scheme, sni, server_port)

    def _candidate_buckets(self, host: str | None) -> list[Bucket]:
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
        headers: HeadersLike | None,
        scheme: str,
        sni: str | None,
        server_port: int | None,
    ) -> Match | None:
        path = normalize_path(raw_path)
        if host_header is not None:
            host, host_port = split_host_port(host_header)
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

        best: Entry | None = None
        best_rank = _NO_RANK
        best_re: LinearMatch | None = None
        best_re_path: str | None = None
        path_len = len(path)

        for bucket in self._candidate_buckets(host):
            lists: list[list[Entry]] = []
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
        entry: Entry,
        path: str,
        host: str | None,
        port: int,
        found: LinearMatch | None,
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


def _service_of(
    route: Mapping[str, Any], services: Mapping[str, Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    ref = route.get("service")
    return services.get(ref["id"]) if ref else None
