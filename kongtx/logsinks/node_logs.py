"""Kong's own logs of a node: ``proxy_access_log``, ``admin_access_log``, ``status_access_log``,
``proxy_error_log``, ``admin_error_log``, ``status_error_log`` and ``log_level``.

Relative paths are under the prefix (Kong's defaults: ``logs/access.log``,
``logs/admin_access.log``, ``logs/error.log``); ``off`` disables a log. Every
file is written through the same bounded queue and thread writer as file-log
(:mod:`kongtx.logsinks.file`), so the reactor never waits on the disk, and is
reopened on SIGUSR1 for rotation. Error logs receive kongtx's log events at
``log_level`` or above (Twisted's ``info`` is ``info``, ``warn`` is ``warn``,
``error`` is ``error``, ``critical`` is ``crit``); events of the Admin API
(namespace ``kongtx.admin``) go to the admin error log, the others to the
proxy error log.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, cast

from twisted.internet.defer import Deferred, gatherResults
from twisted.logger import ILogObserver, LogLevel, formatEvent, globalLogPublisher
from twisted.python import threadable

from kongtx.logsinks.file import FileWriter, Runner, in_thread_pool
from kongtx.logsinks.nginx_format import LEVELS, access_line, error_line
from kongtx.logsinks.queue import BatchQueue
from kongtx.logsinks.transport_queue import TRANSPORT_QUEUE

if TYPE_CHECKING:
    from kongtx.proxy.context import ProxyContext

__all__ = ["NodeLogs"]

_TWISTED_LEVELS = {
    LogLevel.debug: "debug",
    LogLevel.info: "info",
    LogLevel.warn: "warn",
    LogLevel.error: "error",
    LogLevel.critical: "crit",
}


class NodeLogs:
    """The access and error logs of one node.

    :param reactor: the node's reactor (time, thread pool).
    :param config: the node's ``Config``.
    :param run: runs blocking writes (default: the reactor's thread pool).
    """

    def __init__(self, reactor: Any, config: Any, run: Runner | None = None) -> None:
        self.reactor = reactor
        self.prefix = config.prefix
        self._run = run or in_thread_pool(reactor)
        self._queues: dict[str, BatchQueue[bytes]] = {}
        self._writers: list[FileWriter] = []
        self.proxy_access = self._opened(config.proxy_access_log)
        self.admin_access = self._opened(config.admin_access_log)
        self.status_access = self._opened(config.status_access_log)
        self._proxy_error = self._opened(config.proxy_error_log)
        self._admin_error = self._opened(config.admin_error_log)
        level = (config.log_level or "notice").lower()
        self._min_level = LEVELS.index(level) if level in LEVELS else LEVELS.index("notice")
        self._pid = os.getpid()
        self._observing = False
        # Twisted takes any callable as an observer; the stubs want the interface.
        self._observer = cast(ILogObserver, self._observe)

    def _opened(self, setting: str | None) -> BatchQueue[bytes] | None:
        if not setting or setting.strip().lower() == "off":
            return None
        path = setting.strip()
        if not os.path.isabs(path):
            path = os.path.join(self.prefix, path)
        queue = self._queues.get(path)
        if queue is None:
            directory = os.path.dirname(path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            writer = FileWriter(path, self._run)
            self._writers.append(writer)
            queue = self._queues[path] = BatchQueue(
                self.reactor, writer.send, TRANSPORT_QUEUE, name=path, plugin="kongtx-logs"
            )
        return queue

    # -- access logs -------------------------------------------------------------------
    def log_proxy_request(self, ctx: ProxyContext) -> None:
        """The proxy access log line of a finished request (Kong's ``kong_log_format``)."""
        queue = self.proxy_access
        if queue is None:
            return
        request = ctx.request
        headers = request.headers
        line = access_line(
            ctx.client_ip,
            ctx.started_at,
            f"{request.method} {request.target} HTTP/{request.version}",
            ctx.response_status,
            ctx.response_size,
            headers.get("referer"),
            headers.get("user-agent"),
            ctx.request_id,
        )
        data = line.encode("latin-1", "replace") + b"\n"
        queue.put(data, len(data))

    def site_logger(self, kind: str) -> Callable[[Any], None] | None:
        """The access logger of the ``admin`` or ``status`` listeners' Site (None when off)."""
        queue = self.admin_access if kind == "admin" else self.status_access
        if queue is None:
            return None

        def log(request: Any) -> None:
            headers = request.requestHeaders
            line = access_line(
                request.getClientAddress().host,
                self.reactor.seconds(),
                f"{request.method.decode('latin-1')} {request.uri.decode('latin-1')} "
                f"{request.clientproto.decode('latin-1')}",
                request.code,
                request.sentLength,
                (headers.getRawHeaders(b"referer") or [b""])[0].decode("latin-1"),
                (headers.getRawHeaders(b"user-agent") or [b""])[0].decode("latin-1"),
            )
            data = line.encode("latin-1", "replace") + b"\n"
            queue.put(data, len(data))

        return log

    # -- error logs --------------------------------------------------------------------
    def start(self) -> None:
        """Begin writing log events to the error logs."""
        if not self._observing and (self._proxy_error is not None or self._admin_error is not None):
            globalLogPublisher.addObserver(self._observer)
            self._observing = True

    def _observe(self, event: dict[str, Any]) -> None:
        level = _TWISTED_LEVELS.get(event.get("log_level"), "info")
        if LEVELS.index(level) < self._min_level:
            return
        namespace = event.get("log_namespace") or ""
        if namespace.startswith("kongtx.logsinks"):
            return  # the log writers' own troubles must not feed themselves
        queue = self._admin_error if namespace.startswith("kongtx.admin") else self._proxy_error
        if queue is None:
            return
        message = formatEvent(event)
        failure = event.get("log_failure")
        if failure is not None:
            message = f"{message}\n{failure.getTraceback()}".rstrip()
        line = error_line(
            event.get("log_time") or self.reactor.seconds(), level, self._pid, message
        )
        data = line.encode("utf-8", "replace") + b"\n"
        if threadable.isInIOThread():
            queue.put(data, len(data))
        else:
            self.reactor.callFromThread(queue.put, data, len(data))

    def stop(self) -> Deferred[Any]:
        """Stop observing, write what is queued, close the files."""
        if self._observing:
            globalLogPublisher.removeObserver(self._observer)
            self._observing = False
        # Twisted takes any callable as an observer; the stubs want the interface.
        self._observer = cast(ILogObserver, self._observe)
        queues = list(self._queues.values())
        d = gatherResults([q.close() for q in queues], consumeErrors=True)

        def close_files(_: Any) -> Deferred[Any]:
            return gatherResults([w.close() for w in self._writers], consumeErrors=True)

        return d.addCallback(close_files)
