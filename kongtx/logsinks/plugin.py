"""The base of the log plugins' handlers: one :class:`Sink` per config, fed from the ``log`` phase.

The ``log`` hook serializes the request (:func:`~kongtx.logsinks.serializer.serialize`),
applies the config's custom fields, encodes the entry into the transport's
items and puts them in the sink's bounded queue: no I/O, no Deferred, and no
exception reaches the request. A subclass only says how to build the sink of
a config (:meth:`LogPluginHandler.build_sink`).
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Iterable, Mapping
from json.encoder import encode_basestring_ascii
from typing import Any, Callable, Optional, Protocol

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger

from kongtx.cache.row_memo import RowMemo
from kongtx.logsinks.custom_fields import CustomFields
from kongtx.logsinks.queue import BatchQueue
from kongtx.logsinks.serializer import serialize
from kongtx.logsinks.stats import SINK_STATS
from kongtx.logsinks.transport_queue import TRANSPORT_QUEUE
from kongtx.plugins.base import PluginConfig, PluginHandler, PluginNode, ProxyContext

__all__ = ["LogPluginHandler", "Sink", "SinkCache", "json_line"]

log = Logger()


_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def _one_shot_encoder() -> Callable[[Any], str]:
    """``_encode`` without the encoder object ``JSONEncoder.encode`` builds on every call:
    the C encoder made once (same output; no circular-reference bookkeeping, a cyclic
    entry fails with RecursionError instead of ValueError). ``_encode`` where there is
    no C encoder (PyPy)."""
    # CPython's C encoder (None or absent where there is none: PyPy's json module has no such name)
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:
        return _encode
    iterencode = c_make_encoder(
        None, str, encode_basestring_ascii, None, ":", ",", False, False, True
    )

    def encode(value: Any) -> str:
        if type(value) is str:
            return encode_basestring_ascii(value)
        return "".join(iterencode(value, 0))

    return encode


_fast_encode = _one_shot_encoder()

#: Entry keys whose values are configuration rows, the same objects request after request
#: (the snapshot's route and service, the entity cache's consumer): encoded once each.
_ROW_KEYS = ("route", "service", "consumer")
#: Encoded configuration rows (the route, service and consumer of log entries).
_FRAGMENTS: RowMemo[str] = RowMemo()


def _fragment(row: Any) -> str:
    """The JSON of a configuration row, encoded on its first use only."""
    return _FRAGMENTS.get(row, None, None, lambda: _fast_encode(row))


def json_line(entry: Mapping[str, Any]) -> bytes:
    """Compact JSON (Kong's cjson output) of one entry, without a newline.

    The route, service and consumer rows are spliced in from their cached encodings
    (a per-request ``json.dumps`` of them was about half of the entry's encoding).
    """
    rest = dict(entry)
    parts = []
    for key in _ROW_KEYS:
        row = rest.get(key)
        if type(row) is dict:
            del rest[key]
            parts.append(f'"{key}":{_fragment(row)}')
    if not parts:
        return _fast_encode(entry).encode()
    head = _fast_encode(rest)[:-1]
    return "".join([head, "," if len(head) > 1 else "", ",".join(parts), "}"]).encode()


class Transport(Protocol):
    """Where a sink's batches go (a TCP, UDP or Unix datagram sender, a log file)."""

    def send(self, batch: list[bytes]) -> Deferred[None]:
        """Send one batch; fires once sent."""

    def close(self) -> Optional[Deferred[None]]:
        """Release the connection or file."""


class Sink:
    """What one plugin config sends to: entry encoding, a bounded queue, a transport.

    :param queue: the queue in front of the transport (its ``send`` is the transport's).
    :param encode: turns an entry into the queue's items (bytes).
    :param custom: the config's custom fields.
    :param close_transport: releases the transport once the queue is drained.
    """

    def __init__(
        self,
        queue: BatchQueue[bytes],
        encode: Callable[[dict[str, Any]], Iterable[bytes]],
        custom: CustomFields | None = None,
        close_transport: Callable[[], Any] = lambda: None,
    ) -> None:
        self.queue = queue
        self.encode = encode
        self.custom = custom
        self._close_transport = close_transport

    def put(self, entry: dict[str, Any]) -> None:
        """Encode ``entry`` and queue its items (dropped and counted if the queue is full)."""
        put = self.queue.put
        for item in self.encode(entry):
            put(item, len(item))

    def close(self) -> Deferred[Any]:
        """Send what is queued, then release the transport."""
        d = self.queue.close()
        d.addBoth(lambda _: maybeDeferred(self._close_transport))
        return d


def _key(conf: Mapping[str, Any]) -> str:
    return json.dumps(conf, sort_keys=True, default=str)


class SinkCache:
    """The sinks of one plugin in this process, one per distinct config.

    Sinks are built on first use (with the reactor of the request that needed
    one) and kept across snapshots while a config with the same content is in
    use; a sink whose config went away is closed (its queue flushed first).

    :param build: ``build(reactor, conf) -> Sink``.
    """

    def __init__(self, build: Callable[[Any, dict[str, Any]], Sink]) -> None:
        self._build = build
        self._by_key: dict[str, Sink] = {}
        # id(conf) -> (conf, sink): the hook's lookup costs no JSON encoding.
        self._by_id: dict[int, tuple[dict[str, Any], Sink]] = {}

    def get(self, conf: dict[str, Any], reactor: Any) -> Sink:
        """The sink of ``conf`` (built now if none has its content)."""
        found = self._by_id.get(id(conf))
        if found is not None and found[0] is conf:
            return found[1]
        key = _key(conf)
        sink = self._by_key.get(key)
        if sink is None:
            sink = self._by_key[key] = self._build(reactor, conf)
        self._by_id[id(conf)] = (conf, sink)
        return sink

    def reset(self, configs: Iterable[Mapping[str, Any]]) -> None:
        """Keep the sinks of ``configs`` (plugin rows or config dicts); close the others."""
        keys = set()
        for item in configs:
            inner = item.get("config")
            keys.add(_key(inner if isinstance(inner, dict) else item))
        for key in [k for k in self._by_key if k not in keys]:
            self._retire(self._by_key.pop(key))
        self._by_id = {i: pair for i, pair in self._by_id.items() if _key(pair[0]) in keys}

    def close(self) -> Deferred[Any]:
        """Flush and close every sink (node shutdown)."""
        from twisted.internet.defer import gatherResults

        sinks = list(self._by_key.values())
        self._by_key.clear()
        self._by_id.clear()
        return gatherResults([s.close() for s in sinks], consumeErrors=True)

    @staticmethod
    def _retire(sink: Sink) -> None:
        sink.close().addErrback(lambda f: log.failure("closing a log sink failed", f))


class LogPluginHandler(PluginHandler):
    """Base of the log plugins: subclasses implement :meth:`build_sink` (and may override
    :meth:`entry`)."""

    def __init__(self) -> None:
        self.sinks = SinkCache(self.build_sink)
        #: The node's reactor (set by :meth:`init_worker`); sinks send and time with it.
        self.reactor: Any = None

    def init_worker(self, node: PluginNode) -> None:
        self.reactor = node.reactor

    def build_sink(self, reactor: Any, conf: dict[str, Any]) -> Sink:
        """The sink of one config (its transport, queue and encoding)."""
        raise NotImplementedError

    def transport_sink(
        self,
        reactor: Any,
        conf: dict[str, Any],
        transport: Transport,
        encode: Callable[[dict[str, Any]], Iterable[bytes]],
        name: str | None = None,
    ) -> Sink:
        """The sink of a plugin whose Kong version has no ``queue`` record: ``encode``
        turns entries into items sent to ``transport`` through the transport queue
        (:data:`~kongtx.logsinks.transport_queue.TRANSPORT_QUEUE`), with ``conf``'s custom
        fields; ``name`` (default ``host:port``) names the queue in logs and stats."""
        queue: BatchQueue[bytes] = BatchQueue(
            reactor,
            transport.send,
            TRANSPORT_QUEUE,
            name=name if name is not None else f"{conf['host']}:{conf['port']}",
            plugin=self.name,
        )
        return Sink(queue, encode, CustomFields(conf), transport.close)

    def configure(self, configs: list[dict[str, Any]]) -> None:
        self.sinks.reset(configs)

    def entry(self, ctx: ProxyContext, conf: PluginConfig) -> dict[str, Any]:
        """The entry this plugin sends for a request (Kong's serializer by default)."""
        return serialize(ctx)

    def log(self, ctx: ProxyContext, conf: PluginConfig) -> None:
        """Queue the request's entry; never raises, never waits."""
        try:
            sink = self.sinks.get(conf, self.reactor or ctx.clock)
            entry = self.entry(ctx, conf)
            if sink.custom:
                sink.custom.apply(entry, ctx)
            sink.put(entry)
        except Exception:
            SINK_STATS.dropped(self.name)
            log.failure("{plugin}: could not log the request", plugin=self.name)

    def exit_worker(self) -> Deferred[Any]:
        """Flush and close every sink of this plugin (node shutdown, 5 s at most each)."""
        return self.sinks.close()
