"""HTTP/1.1 framing and keep-alive decisions of the native server, sans-IO.

Requests: :func:`check_head` validates a parsed head (on top of what llhttp,
strict, already refuses) and says how its body is framed;
:func:`unfinished_head_error` bounds a head still arriving. Responses:
:func:`response_body_mode` picks how a response body is framed,
:func:`keeps_alive` whether the connection serves another request after it,
:func:`connection_header` what ``Connection`` header says so, and
:func:`body_framed` whether the body sent matched its framing. After a response,
:func:`after_response` says whether the connection reads the next request,
drains the rest of an unread request body, or closes. The protocol and the
exchange only carry the bytes and follow these answers.
"""

from __future__ import annotations

from kongtx.http.server import _wire


class Reject(Exception):
    """The request must be answered with ``status`` and the connection closed; the core never sees it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


def check_head(
    raw: list[tuple[bytes, bytes]], version: str, upgrade: bool, method: str, max_body_size: int
) -> tuple[int | None, bool, bool]:
    """Validate the framing of a request head.

    :param raw: the header fields as parsed.
    :param version: ``"1.1"``, ``"1.0"`` (anything else is refused).
    :param upgrade: whether llhttp flagged the request as an upgrade (or CONNECT).
    :param max_body_size: limit for the declared Content-Length (0: none).
    :returns: ``(content_length, chunked, expect_continue)``.
    :raises Reject: with Kong's (nginx's) status for the request.
    """
    cl = te = None
    cl_count = te_count = host_count = 0
    expect = False
    for name, value in raw:
        size = len(name)
        if size == 14 and name.lower() == b"content-length":
            cl = value.rstrip(b" \t")  # trailing whitespace is OWS (RFC 9112 §5)
            cl_count += 1
        elif size == 17 and name.lower() == b"transfer-encoding":
            te = value
            te_count += 1
        elif size == 4 and name.lower() == b"host":
            host_count += 1
        elif size == 6 and name.lower() == b"expect":
            expect = value.strip().lower() == b"100-continue"
    if version != "1.1" and version != "1.0":
        if version[0] in "23456789":
            raise Reject(505, _wire.VERSION_NOT_SUPPORTED)
        raise Reject(400, _wire.BAD_REQUEST)
    # llhttp already refuses CL+TE, duplicate CL and TE without a final "chunked";
    # these checks catch what it lets through (and back it up on the others).
    if cl_count > 1 or (cl_count and te_count) or te_count > 1:
        raise Reject(400, _wire.BAD_REQUEST)
    chunked = te is not None
    if te is not None and (version == "1.0" or te.strip().lower() != b"chunked"):
        raise Reject(400, _wire.BAD_REQUEST)
    if host_count > 1 or (host_count == 0 and version == "1.1"):
        raise Reject(400, _wire.BAD_REQUEST)
    if cl is not None and not cl.isdigit():
        raise Reject(400, _wire.BAD_REQUEST)
    length = int(cl) if cl is not None else None
    has_body = chunked or bool(length)
    if upgrade:
        if method == "CONNECT":
            raise Reject(405, _wire.NOT_ALLOWED)
        if has_body:
            # llhttp hands the body of an upgrade request over as upgraded bytes.
            raise Reject(400, _wire.BAD_REQUEST)
    if max_body_size and length is not None and length > max_body_size:
        raise Reject(413, _wire.PAYLOAD_TOO_LARGE)
    return length, chunked, expect and has_body and version == "1.1"


# Response body framing modes.
NO_BODY = 0  # HEAD, 1xx, 204, 304: body bytes are dropped
LENGTH = 1  # Content-Length given by the core
CHUNKED = 2  # chunked transfer coding (added by us, or asked for by the core)
UNTIL_CLOSE = 3  # HTTP/1.0 without Content-Length: the close ends the body


def response_body_mode(
    status: int, method: str, http10: bool, transfer_encoding: str | None, length: str | None
) -> int:
    """How the body of a (final) response is framed, from its status and headers."""
    if status < 200 or status == 204 or status == 304 or method == "HEAD":
        return NO_BODY
    if transfer_encoding is not None:
        return CHUNKED
    if length is not None:
        return LENGTH
    return CHUNKED if not http10 else UNTIL_CLOSE


def keeps_alive(
    requested: bool,
    connection_close: bool,
    mode: int,
    closing: bool,
    upgrade_refused: bool,
    request_read: bool,
) -> bool:
    """Whether the connection serves another request after this response.

    :param requested: the request allows it (HTTP/1.1, or keep-alive asked for).
    :param connection_close: the response says ``Connection: close``.
    :param mode: the response body's framing (:func:`response_body_mode`).
    :param closing: the server is closing the connection anyway.
    :param upgrade_refused: an upgrade request answered with something else than 101.
    :param request_read: the request body was read or will be (else the
        unread bytes would be taken for the next request).
    """
    return (
        requested
        and not connection_close
        and mode != UNTIL_CLOSE
        and not closing
        and not upgrade_refused
        and request_read
    )


def body_framed(mode: int, length_left: int) -> bool:
    """Whether a finished response body ended where its framing says (else only a close
    tells the client where it ends).

    :param mode: the response body's framing (:func:`response_body_mode`).
    :param length_left: Content-Length bytes not sent (``LENGTH`` mode).
    """
    return mode != UNTIL_CLOSE and (mode != LENGTH or length_left == 0)


# What the connection does once a response is finished.
NEXT = 0  # go on with the next request
DRAIN = 1  # read and drop the rest of the request body, then go on
CLOSE = 2  # close the connection

#: Unread request body (Content-Length) drained after an early response, instead of closing.
DRAIN_LIMIT = 65536


def after_response(
    keep_alive: bool,
    closing: bool,
    body_unread: bool,
    body_left: int | None,
    continue_pending: bool,
) -> int:
    """What the connection does after a response: :data:`NEXT`, :data:`DRAIN` or :data:`CLOSE`.

    :param keep_alive: the response kept the connection alive (:func:`keeps_alive`).
    :param closing: the server is closing the connection anyway.
    :param body_unread: the request has a body whose end was not read yet.
    :param body_left: how many of its bytes are still to come (``None``: chunked).
    :param continue_pending: the client waits for ``100 Continue`` that was never sent
        (it may send the body or not: the bytes that follow cannot be trusted).
    """
    if not keep_alive or closing:
        return CLOSE
    if not body_unread:
        return NEXT
    if body_left is not None and body_left <= DRAIN_LIMIT and not continue_pending:
        return DRAIN
    return CLOSE


def unfinished_head_error(
    head_bytes: int, limit: int, read: bytes, has_url: bool, version: str
) -> str | None:
    """Why a request head still unfinished after a read must be refused (with 400), if it must.

    :param head_bytes: the bytes read since the head began (they may include the
        tail of the previous message's read: up to :data:`READ_SLACK` more are allowed).
    :param limit: the server's ``max_header_size``.
    :param read: the last read.
    :param has_url: the request line's target was seen.
    :param version: the parser's HTTP version so far (``"0.0"``: none yet).
    """
    if head_bytes > limit + READ_SLACK:
        # llhttp accumulates an unfinished header line on its own: bound it.
        return _wire.HEADER_TOO_LARGE
    if read[-1:] == b"\n" and has_url and version == "0.0":
        # The request line ended without a version (HTTP/0.9): llhttp would wait for a
        # header section that never comes; nginx answers at once.
        return _wire.BAD_REQUEST
    return None


#: Slack over ``max_header_size`` for the raw count of an unfinished header section.
READ_SLACK = 65536


def connection_header(status: int, keep: bool, connection_close: bool, http10: bool) -> str | None:
    """The ``Connection`` header line to add to a response head, if any."""
    if status == 101:
        return None
    if not keep:
        return None if connection_close else "Connection: close\r\n"
    return "Connection: keep-alive\r\n" if http10 else None
