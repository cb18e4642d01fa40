"""TCP socket options the HTTP server and the upstream client set on their connections."""

from __future__ import annotations

__all__ = ["no_delay"]


def no_delay(transport: object) -> None:
    """Turn Nagle's algorithm off: a message's head and body written apart must not wait for
    the peer's delayed ACK (40 ms stalls on keep-alive connections). A transport without
    ``setTcpNoDelay`` (TLS over a wrapped protocol, in-memory tests) is left as it is."""
    set_no_delay = getattr(transport, "setTcpNoDelay", None)
    if set_no_delay is not None:
        try:
            set_no_delay(True)
        except OSError:
            pass
