"""Response parsing for an upstream connection: the httptools (llhttp) callbacks.

The callbacks only record state on the connection; ``dataReceived`` in
:mod:`kongtx.http.client._connection` acts on it once ``feed_data`` returns.
"""

from __future__ import annotations

from kongtx.http.body import StreamBody
from kongtx.http.client._types import ACTIVE, UpstreamResponse
from kongtx.http.headers import Headers
from kongtx.http.raw_channel import RawChannel

#: Kong's ``proxy_buffer_size`` (160k): the largest response head relayed.
DEFAULT_MAX_HEAD_SIZE = 160 * 1024
#: Response header fields accepted (nginx has no count of its own: the buffer bounds it).
DEFAULT_MAX_HEADERS = 1000


class SkipBody(Exception):
    """Raised from ``on_headers_complete`` to end a HEAD response at its headers."""


class HeadTooLarge(Exception):
    """The upstream's response head is over the pool's limits (nginx: "upstream sent too
    big header")."""


def _ended_body() -> StreamBody:
    body = StreamBody(0)
    body.end()
    return body


class ResponseParsing:
    """The parsing half of :class:`~kongtx.http.client.UpstreamConnection` (a mixin).

    ``HttpResponseParser(connection)`` calls the ``on_*`` methods.
    """

    # httptools callbacks --------------------------------------------------------
    def on_message_begin(self) -> None:
        if self._message_done:
            # Bytes after the response we asked for: the connection cannot be trusted.
            self._keep_alive = False

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        owner = self._owner
        if self._head_size > owner.max_head_size or len(self._raw) >= owner.max_headers:
            raise HeadTooLarge("upstream sent too big header")
        self._raw.append((name, value))
        # Note the framing fields on the way (cheaper than a lookup afterwards).
        size = len(name)
        if size == 14:
            if name.lower() == b"content-length":
                self._length = value
        elif size == 17 and name.lower() == b"transfer-encoding":
            self._te = value

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        raw = self._raw
        reason = self._reason.decode("latin-1")
        self._reason = b""
        length_value = self._length
        te = self._te
        self._length = self._te = None
        if status < 200 and status != 101:
            self._interim = True
            raw.clear()
            return
        self._in_head = False
        headers = Headers.from_raw(raw)
        raw.clear()
        version = parser.get_http_version()
        if status == 101:
            self._channel = RawChannel(
                self.transport, pause_reading=self.pause_reading, resume_reading=self.resume_reading
            )
            self._response = UpstreamResponse(
                status, reason, headers, version, _ended_body(), self._channel
            )
            return
        self._keep_alive = parser.should_keep_alive()
        self._until_close = False
        if self._head or status == 204 or status == 304:
            body = self._body = StreamBody(0)
            self._response = UpstreamResponse(status, reason, headers, version, body)
            if self._head:
                # llhttp cannot be told the request was HEAD: stop it here.
                self._message_done = True
                raise SkipBody()
            return
        if length_value is None:
            length = None
            self._until_close = te is None or not te.rstrip().lower().endswith(b"chunked")
        else:
            length = int(length_value)
        body = self._body = StreamBody(length, self._pause_cb, self._resume_cb, self._stop_cb)
        self._response = UpstreamResponse(status, reason, headers, version, body)

    def on_body(self, data: bytes) -> None:
        body = self._body
        if body is not None and self.state is ACTIVE:
            body.feed(data)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
        elif self._channel is None:
            self._message_done = True
