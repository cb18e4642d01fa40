"""Streaming the upstream response to the client, through ``body_filter`` hooks when any."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from kongtx.http.body import read_body
from kongtx.http.client import UpstreamResponse
from kongtx.http.gateway_io import ResponseWriter
from kongtx.http.headers import Headers
from kongtx.http.splice import splice
from kongtx.proxy.context import ProxyContext
from kongtx.proxy.phases import (
    PluginRow,
    body_filters,
    filter_chunk,
    filter_whole_body,
    wants_whole_body,
)

log = Logger()


class _Relay:
    """Body consumer writing straight to the client (the fast path)."""

    __slots__ = ("writer", "ctx", "done", "filters")

    def __init__(
        self, writer: ResponseWriter, ctx: ProxyContext, filters: list[PluginRow], waited: bool
    ) -> None:
        self.writer = writer
        self.ctx = ctx
        #: Fires after the last byte, when someone waits for it (the log phase).
        self.done: Deferred[None] | None = Deferred() if waited else None
        self.filters = filters

    def write(self, data: bytes) -> None:
        if self.filters:
            data = filter_chunk(self.ctx, self.filters, data, False)
            if not data:
                return
        self.ctx.response_size += len(data)
        self.writer.write(data)

    def finish(self) -> None:
        if self.filters:
            tail = filter_chunk(self.ctx, self.filters, b"", True)
            if tail:
                self.ctx.response_size += len(tail)
                self.writer.write(tail)
        self.writer.unregister_producer()
        self.writer.finish()
        self._done()

    def fail(self, reason: Failure) -> None:
        log.info("upstream response broke off: {reason}", reason=reason.getErrorMessage())
        self.writer.unregister_producer()
        self.writer.abort()
        self._done()

    def _done(self) -> None:
        done = self.done
        if done is not None and not done.called:
            done.callback(None)


def send_response(
    ctx: ProxyContext, writer: ResponseWriter, response: UpstreamResponse
) -> Deferred[None] | None:
    """Write ``response`` (status and headers possibly changed by header_filter) to the client.

    :returns: ``None`` once the body streams to the client, or a Deferred: when the log
        phase must wait for the last byte, or for a spliced upgrade or a whole body
        that ``body_filter`` hooks change.
    """
    headers = ctx.response_headers
    assert headers is not None
    status = ctx.response_status
    if status == 101 and response.upgraded is not None:
        writer.write_head(101, headers, response.reason)
        return splice(writer.upgrade(), response.upgraded)
    filters = body_filters(ctx)
    if filters and wants_whole_body(ctx, filters):
        return Deferred.fromCoroutine(_send_filtered_whole(ctx, writer, response, headers))
    writer.write_head(status, headers, response.reason)
    body = response.body
    # Only log hooks need to run after the last byte: otherwise don't wait for it.
    relay = _Relay(writer, ctx, filters, waited=ctx.snapshot.log_phase)
    writer.register_producer(body)
    writer.on_disconnect(body.stopProducing)
    body.start(relay)
    return relay.done


async def _send_filtered_whole(
    ctx: ProxyContext, writer: ResponseWriter, response: UpstreamResponse, headers: Headers
) -> None:
    """The whole body through the ``body_filter`` hooks, then the response with its new length."""
    try:
        data = await read_body(response.body)
    except Exception:
        writer.abort()
        return
    data = await filter_whole_body(ctx, data)
    if ctx.request.method != "HEAD":
        headers.set("Content-Length", str(len(data)))
    writer.write_head(ctx.response_status, headers, response.reason)
    if data and ctx.request.method != "HEAD":
        writer.write(data)
    ctx.response_size = len(data)
    writer.finish()
