"""Sans-IO checks of a parsed request head, on top of what llhttp (strict) already refuses."""

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
    if chunked and (version == "1.0" or te.strip().lower() != b"chunked"):  # type: ignore[union-attr]
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
