"""DNS resolution with Kong's caching rules, over ``twisted.names``.

:class:`DNSCache` answers ``host -> addresses`` for the balancer and the proxy
core. Like Kong's DNS client it tries record types in ``dns_order``
(``LAST,SRV,A,CNAME``: the last type that worked for the name first), keeps
answers for their TTL (or ``valid_ttl``), serves stale answers for up to
``stale_ttl`` seconds while refreshing them in the background, and caches
failures briefly (``not_found_ttl`` for names that do not exist,
``error_ttl`` for server errors and timeouts). SRV answers carry their own
port and weight; only the lowest-priority-value group is used, as Kong does.

:meth:`DNSCache.cached` is the hot-path call: a dictionary lookup, no waiting.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.names import client, dns, error
from twisted.names.hosts import searchFileForAll
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath

__all__ = ["DNSCache", "DNSError", "ResolvedAddress", "is_ip", "system_resolver"]

_log = Logger()

_MAX_CNAME_DEPTH = 8
_VALID_TYPES = frozenset({"LAST", "SRV", "A", "AAAA", "CNAME"})


class DNSError(Exception):
    """A name could not be resolved; the core answers 503 ``name resolution failed``."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"name resolution failed for {host!r}: {reason}")
        self.host = host
        self.reason = reason


@dataclass(frozen=True)
class ResolvedAddress:
    """One address a name resolves to.

    ``weight`` is the SRV weight, or ``None`` for A/AAAA answers and IP
    literals (the caller then uses its own weight). ``priority`` is the SRV
    priority (0 otherwise).
    """

    ip: str
    port: int
    weight: int | None = None
    priority: int = 0


def is_ip(host: str) -> bool:
    """Return whether ``host`` is an IPv4 or IPv6 literal (brackets allowed)."""
    if isIPAddress(host):
        return True
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return isIPv6Address(host)


def system_resolver(
    reactor: Any,
    *,
    resolv_conf: str = "/etc/resolv.conf",
    servers: list[tuple[str, int]] | None = None,
    timeout: Sequence[float] = (1, 3),
) -> client.Resolver:
    """Build a ``twisted.names`` client resolver bound to ``reactor``.

    Unlike :func:`twisted.names.client.createResolver` it never touches the
    global reactor and adds no cache of its own (:class:`DNSCache` caches).
    """
    return client.Resolver(
        resolv=resolv_conf if servers is None else None,
        servers=servers,
        timeout=tuple(timeout),
        reactor=reactor,
    )


class _NotFound(Exception):
    """The queried type has no record for the name (NXDOMAIN or empty answer)."""


# A record as stored in the cache: (ip, port or None for "caller's port", weight, priority).
_Rec = tuple[str, "int | None", "int | None", int]


class _Entry:
    """Cached answer (or failure) for one name."""

    __slots__ = ("_by_port", "error", "expires", "next_try", "records", "rtype")

    def __init__(
        self,
        records: tuple[_Rec, ...] | None,
        rtype: str | None,
        expires: float,
        err: DNSError | None = None,
    ) -> None:
        self.records = records
        self.rtype = rtype
        self.expires = expires
        self.error = err
        self.next_try = 0.0
        self._by_port: dict[int, tuple[ResolvedAddress, ...]] = {}

    def addresses(self, port: int) -> tuple[ResolvedAddress, ...]:
        """Materialise the records for ``port`` (memoised: the hot path allocates nothing)."""
        found = self._by_port.get(port)
        if found is None:
            assert self.records is not None
            found = tuple(
                ResolvedAddress(ip, port if p is None else p, weight, prio)
                for ip, p, weight, prio in self.records
            )
            self._by_port[port] = found
        return found


class DNSCache:
    """Resolve and cache names with Kong's TTL, stale and negative-caching rules.

    :param resolver: any ``twisted.names`` ``IResolver`` (e.g. from
        :func:`system_resolver`).
    :param clock: an ``IReactorTime`` used for every TTL decision.
    :param valid_ttl: when set, overrides the records' TTL (``dns_valid_ttl``).
    :param stale_ttl: seconds an expired answer may still be served while it is
        refreshed in the background (``dns_stale_ttl``).
    :param not_found_ttl: seconds a "name does not exist" answer is cached.
    :param error_ttl: seconds a server error / timeout is cached.
    :param order: record types to try, Kong's ``dns_order``.
    :param hosts_file: a hosts(5) file consulted before any query (``/etc/hosts``).
    :param hosts_ttl: TTL given to hosts-file answers.
    """

    def __init__(
        self,
        resolver: Any,
        clock: IReactorTime,
        *,
        valid_ttl: float | None = None,
        stale_ttl: float = 3600,
        not_found_ttl: float = 30,
        error_ttl: float = 1,
        order: Iterable[str] = ("LAST", "SRV", "A", "CNAME"),
        hosts_file: str | None = None,
        hosts_ttl: float = 3600,
    ) -> None:
        order = tuple(t.upper() for t in order)
        bad = [t for t in order if t not in _VALID_TYPES]
        if bad or not order:
            raise ValueError(f"invalid dns_order {order!r}")
        self._resolver = resolver
        self._clock = clock
        self._valid_ttl = valid_ttl
        self._stale_ttl = stale_ttl
        self._not_found_ttl = not_found_ttl
        self._error_ttl = error_ttl
        self._order = order
        self._hosts = FilePath(hosts_file) if hosts_file else None
        self._hosts_ttl = hosts_ttl
        self._cache: dict[str, _Entry] = {}
        self._last_type: dict[str, str] = {}
        self._inflight: dict[str, list[Deferred[_Entry]]] = {}
        self.queries = 0  # DNS queries sent (observability and tests)

    @classmethod
    def system(cls, reactor: Any, clock: IReactorTime | None = None, **kwargs: Any) -> DNSCache:
        """A cache over the system's ``/etc/resolv.conf`` servers honouring ``/etc/hosts``."""
        kwargs.setdefault("hosts_file", "/etc/hosts")
        return cls(system_resolver(reactor), clock if clock is not None else reactor, **kwargs)

    # -- hot path -------------------------------------------------------

    def cached(self, host: str, port: int = 0) -> tuple[ResolvedAddress, ...] | None:
        """Return the cached addresses for ``host`` without waiting, or ``None``.

        Fresh answers and IP literals are returned as is. An expired answer
        still inside ``stale_ttl`` is returned too, and a background refresh
        is started. ``None`` means: call :meth:`resolve`. The returned tuple is
        shared; do not mutate it.
        """
        entry = self._cache.get(host)
        if entry is None:
            if not is_ip(host):
                return None
            entry = self._literal(host)
        if entry.records is None:
            return None
        if entry.expires <= self._clock.seconds():
            if not self._usable_stale(entry):
                return None
            self._background_refresh(host, entry)
        return entry.addresses(port)

    # -- resolution -----------------------------------------------------

    async def resolve(self, host: str, port: int = 0) -> tuple[ResolvedAddress, ...]:
        """Resolve ``host``; ``port`` fills in for A/AAAA answers (SRV has its own).

        :raises DNSError: the name does not resolve (possibly a cached failure).
        """
        entry = self._cache.get(host)
        if entry is None and is_ip(host):
            entry = self._literal(host)
        if entry is not None:
            if entry.expires > self._clock.seconds():
                if entry.error is not None:
                    raise entry.error
                return entry.addresses(port)
            if entry.records is not None and self._usable_stale(entry):
                self._background_refresh(host, entry)
                return entry.addresses(port)
        entry = await self._refresh(host)
        if entry.records is None:
            assert entry.error is not None
            raise entry.error
        return entry.addresses(port)

    def expires_at(self, host: str) -> float | None:
        """When the cached answer for ``host`` expires (``None`` if not cached)."""
        entry = self._cache.get(host)
        return None if entry is None else entry.expires

    def clear(self) -> None:
        """Forget every cached answer."""
        self._cache.clear()
        self._last_type.clear()

    # -- internals ------------------------------------------------------

    def _literal(self, host: str) -> _Entry:
        ip = host[1:-1] if host.startswith("[") else host
        entry = _Entry(((ip, None, None, 0),), "A" if isIPAddress(ip) else "AAAA", float("inf"))
        self._cache[host] = entry
        return entry

    def _usable_stale(self, entry: _Entry) -> bool:
        return self._clock.seconds() < entry.expires + self._stale_ttl

    def _background_refresh(self, host: str, entry: _Entry) -> None:
        if host in self._inflight or entry.next_try > self._clock.seconds():
            return
        self._start(host, [])

    def _refresh(self, host: str) -> Deferred[_Entry]:
        waiter: Deferred[_Entry] = Deferred()
        waiters = self._inflight.get(host)
        if waiters is None:
            self._start(host, [waiter])  # may complete synchronously
        else:
            waiters.append(waiter)
        return waiter

    def _start(self, host: str, waiters: list[Deferred[_Entry]]) -> None:
        self._inflight[host] = waiters
        task = Deferred.fromCoroutine(self._query(host))
        task.addBoth(self._finish, host)

    def _finish(self, result: _Entry | Failure, host: str) -> None:
        waiters = self._inflight.pop(host, [])
        if isinstance(result, Failure):  # _query catches everything; belt and braces
            _log.failure("DNS refresh of {host} crashed", result, host=host)
            result = _Entry(
                None,
                None,
                self._clock.seconds() + self._error_ttl,
                DNSError(host, result.getErrorMessage()),
            )
        for waiter in waiters:
            waiter.callback(result)

    async def _query(self, host: str) -> _Entry:
        """Query ``host`` and store the outcome in the cache (never raises)."""
        now = self._clock.seconds()
        old = self._cache.get(host)
        try:
            records, rtype, ttl = await self._lookup_host(host)
        except _NotFound as e:
            return self._failed(
                host, old, DNSError(host, str(e) or "name not found"), self._not_found_ttl
            )
        except DNSError as e:
            return self._failed(host, old, e, self._error_ttl)
        except Exception as e:  # noqa: BLE001 - any resolver failure is a DNS error
            return self._failed(host, old, DNSError(host, _describe(e)), self._error_ttl)
        if self._valid_ttl is not None:
            ttl = self._valid_ttl
        entry = _Entry(records, rtype, self._clock.seconds() + max(0.0, ttl))
        self._cache[host] = entry
        if rtype is not None:
            self._last_type[host] = rtype
        _log.debug(
            "resolved {host} ({rtype}) in {elapsed:.3f}s",
            host=host,
            rtype=rtype,
            elapsed=self._clock.seconds() - now,
        )
        return entry

    def _failed(self, host: str, old: _Entry | None, err: DNSError, ttl: float) -> _Entry:
        now = self._clock.seconds()
        if old is not None and old.records is not None and now < old.expires + self._stale_ttl:
            # Kong keeps serving the stale answer when a refresh fails.
            old.next_try = now + self._error_ttl
            return old
        entry = _Entry(None, None, now + ttl, err)
        self._cache[host] = entry
        return entry

    async def _lookup_host(self, host: str) -> tuple[tuple[_Rec, ...], str | None, float]:
        if self._hosts is not None:
            found = [a for a in searchFileForAll(self._hosts, host.encode("idna")) if is_ip(a)]
            if found:
                return tuple((ip, None, None, 0) for ip in found), None, self._hosts_ttl
        return await self._lookup_name(host, self._order, 0)

    async def _lookup_name(
        self, name: str, order: Sequence[str], depth: int
    ) -> tuple[tuple[_Rec, ...], str | None, float]:
        if depth > _MAX_CNAME_DEPTH:
            raise DNSError(name, "CNAME chain too long")
        tried: list[str] = []
        errors: list[str] = []
        not_found: list[str] = []
        for rtype in order:
            if rtype == "LAST":
                rtype = self._last_type.get(name, "")
                if not rtype:
                    continue
            if rtype in tried:
                continue
            tried.append(rtype)
            try:
                records, ttl = await self._lookup_type(name, rtype, depth)
            except _NotFound as e:
                not_found.append(f"{rtype}: {e}")
                continue
            except DNSError as e:
                errors.append(f"{rtype}: {e.reason}")
                continue
            except Exception as e:  # noqa: BLE001 - server failure, timeout, refused
                errors.append(f"{rtype}: {_describe(e)}")
                continue
            return records, rtype, ttl
        if errors:
            raise DNSError(name, "; ".join(errors + not_found))
        raise _NotFound("; ".join(not_found) or "no record types to query")

    async def _lookup_type(
        self, name: str, rtype: str, depth: int
    ) -> tuple[tuple[_Rec, ...], float]:
        if rtype == "SRV":
            return await self._lookup_srv(name, depth)
        if rtype == "CNAME":
            answers = await self._ask("lookupCanonicalName", name)
            targets = [rr for rr in answers if rr.type == dns.CNAME]
            if not targets:
                raise _NotFound("empty answer")
            target = targets[0].payload.name.name.decode("ascii")
            records, _rtype, ttl = await self._lookup_name(
                target, [t for t in self._order if t != "LAST"], depth + 1
            )
            return records, min(ttl, targets[0].ttl)
        return await self._lookup_addr(name, rtype, depth)

    async def _lookup_addr(
        self, name: str, rtype: str, depth: int
    ) -> tuple[tuple[_Rec, ...], float]:
        qtype = dns.A if rtype == "A" else dns.AAAA
        method = "lookupAddress" if rtype == "A" else "lookupIPV6Address"
        answers = await self._ask(method, name)
        records: tuple[_Rec, ...] = tuple(
            (rr.payload.dottedQuad(), None, None, 0)
            if qtype == dns.A
            else (_aaaa(rr.payload), None, None, 0)
            for rr in answers
            if rr.type == qtype
        )
        if records:
            return records, min(rr.ttl for rr in answers if rr.type in (qtype, dns.CNAME))
        cnames = [rr for rr in answers if rr.type == dns.CNAME]
        if cnames:  # the server answered a CNAME without following it
            target = cnames[-1].payload.name.name.decode("ascii")
            records, ttl = await self._lookup_addr(target, rtype, depth + 1)
            return records, min(ttl, min(rr.ttl for rr in cnames))
        raise _NotFound("empty answer")

    async def _lookup_srv(self, name: str, depth: int) -> tuple[tuple[_Rec, ...], float]:
        answers, _auth, additional = await self._ask_full("lookupService", name)
        srvs = [rr for rr in answers if rr.type == dns.SRV]
        if not srvs:
            raise _NotFound("empty answer")
        best = min(rr.payload.priority for rr in srvs)
        srvs = [rr for rr in srvs if rr.payload.priority == best]
        glue: dict[str, list[tuple[str, int]]] = {}
        for rr in additional:
            if rr.type == dns.A:
                glue.setdefault(rr.name.name.decode("ascii").lower(), []).append(
                    (rr.payload.dottedQuad(), rr.ttl)
                )
            elif rr.type == dns.AAAA:
                glue.setdefault(rr.name.name.decode("ascii").lower(), []).append(
                    (_aaaa(rr.payload), rr.ttl)
                )
        records: list[_Rec] = []
        ttl = float(min(rr.ttl for rr in srvs))
        failures: list[str] = []
        for rr in srvs:
            srv = rr.payload
            target = srv.target.name.decode("ascii")
            if target in ("", "."):  # "service decidedly not available"
                continue
            if is_ip(target):
                ips = [target]
            elif target.lower() in glue:
                found = glue[target.lower()]
                ips = [ip for ip, _ in found]
                ttl = min(ttl, min(t for _, t in found))
            else:
                try:
                    sub, _rtype, sub_ttl = await self._lookup_name(target, ("A", "AAAA"), depth + 1)
                except (_NotFound, DNSError) as e:
                    failures.append(f"{target}: {e}")
                    continue
                ips = [r[0] for r in sub]
                ttl = min(ttl, sub_ttl)
            for ip in ips:
                records.append((ip, srv.port, srv.weight, srv.priority))
        if not records:
            if failures:
                raise DNSError(name, "SRV targets did not resolve: " + "; ".join(failures))
            raise _NotFound("SRV answer has no usable target")
        return tuple(records), ttl

    async def _ask(self, method: str, name: str) -> list[Any]:
        answers, _auth, _add = await self._ask_full(method, name)
        return list(answers)

    async def _ask_full(self, method: str, name: str) -> tuple[Any, Any, Any]:
        self.queries += 1
        try:
            return await getattr(self._resolver, method)(name)
        except error.DNSNameError as e:
            raise _NotFound("3 name error") from e
        except (error.AuthoritativeDomainError, error.DomainError) as e:
            if type(e) not in (error.AuthoritativeDomainError, error.DomainError):
                raise  # DNSServerError, DNSQueryRefusedError, ...: a real error
            raise _NotFound("name not found") from e  # e.g. the hosts resolver has no entry
        except NotImplementedError as e:
            raise _NotFound("record type not supported by resolver") from e


def _aaaa(payload: Any) -> str:
    return socket.inet_ntop(socket.AF_INET6, payload.address)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, error.DNSServerError):
        return "2 server failure"
    if isinstance(exc, error.DNSQueryRefusedError):
        return "5 refused"
    if isinstance(exc, (error.DNSQueryTimeoutError, error.TimeoutError)):
        return "timeout"
    return str(exc) or type(exc).__name__
