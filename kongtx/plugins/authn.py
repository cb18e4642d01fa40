"""Helpers shared by the authentication plugins (Kong's ``set_consumer`` and ``anonymous`` logic).

An auth plugin that succeeds calls :func:`set_consumer`; one that fails returns
:func:`fail`, which either answers (``anonymous`` unset: logical AND between
auth plugins) or authenticates the ``anonymous`` consumer (logical OR), read
through the entity cache (a Deferred on a cache miss). With ``anonymous`` set,
:func:`or_already_done` tells a plugin that an earlier one already
authenticated the request, so it must do nothing.

Header values: kongtx's :class:`~kongtx.http.headers.Headers` holds latin-1
decoded ``str``; a consumer's username may be any Unicode text, which Kong
sends as UTF-8 bytes. :func:`header_value` / :func:`wire_text` convert.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kongtx.cache import then
from kongtx.cache.row_memo import RowMemo
from kongtx.errors import ProxyExit
from kongtx.plugins.base import ProxyContext

__all__ = [
    "ANONYMOUS",
    "AUTHENTICATED_GROUPS",
    "CONSUMER_CUSTOM_ID",
    "CONSUMER_GROUPS",
    "CONSUMER_ID",
    "CONSUMER_USERNAME",
    "CREDENTIAL_IDENTIFIER",
    "fail",
    "header_value",
    "load_anonymous",
    "or_already_done",
    "set_anonymous",
    "set_consumer",
    "wire_text",
]

CONSUMER_ID = "X-Consumer-ID"
CONSUMER_CUSTOM_ID = "X-Consumer-Custom-ID"
CONSUMER_USERNAME = "X-Consumer-Username"
CREDENTIAL_IDENTIFIER = "X-Credential-Identifier"
ANONYMOUS = "X-Anonymous-Consumer"
CONSUMER_GROUPS = "X-Consumer-Groups"
#: The headers :func:`set_consumer` decides (lower case).
_SET_BY_AUTH = frozenset(
    name.lower()
    for name in (
        CONSUMER_ID,
        CONSUMER_CUSTOM_ID,
        CONSUMER_USERNAME,
        CREDENTIAL_IDENTIFIER,
        ANONYMOUS,
    )
)
AUTHENTICATED_GROUPS = "X-Authenticated-Groups"

log = Logger()


def header_value(text: str) -> str:
    """``text`` as a header value whose bytes on the wire are its UTF-8 encoding."""
    if text.isascii():
        return text
    return text.encode("utf-8").decode("latin-1")


def wire_text(value: str) -> str:
    """A received header value (latin-1 ``str``) read as UTF-8 text when it is valid UTF-8."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def set_consumer(
    ctx: ProxyContext,
    consumer: dict[str, Any] | None,
    credential: dict[str, Any] | None,
    identifier: str | None = None,
) -> None:
    """Record the caller and set Kong's consumer headers on the upstream request.

    Client-supplied copies of these headers are overwritten or removed.

    :param consumer: the consumer row (the anonymous consumer when ``credential`` is None).
    :param credential: the credential row, or None for the anonymous consumer.
    :param identifier: ``X-Credential-Identifier`` (key-auth: credential id,
        basic-auth: username); ignored without a credential.
    """
    ctx.authenticate(consumer, credential)
    headers = ctx.request.headers
    # Every client-supplied copy goes, in one pass; ours are appended.
    headers.take(_SET_BY_AUTH)
    headers.extend(_consumer_headers(consumer, credential, identifier))


#: The headers set_consumer adds, by (consumer, credential) rows and identifier.
_HEADERS: RowMemo[list[tuple[str, str]]] = RowMemo()


def _consumer_headers(
    consumer: dict[str, Any] | None, credential: dict[str, Any] | None, identifier: str | None
) -> list[tuple[str, str]]:
    """The headers :func:`set_consumer` adds for these rows (built on their first use only;
    the list is shared: read it, never change it)."""
    return _HEADERS.get(
        consumer,
        credential,
        identifier,
        lambda: _build_consumer_headers(consumer, credential, identifier),
    )


def _build_consumer_headers(
    consumer: dict[str, Any] | None, credential: dict[str, Any] | None, identifier: str | None
) -> list[tuple[str, str]]:
    added: list[tuple[str, str]] = []
    if consumer is not None:
        for name, value in (
            (CONSUMER_ID, consumer.get("id")),
            (CONSUMER_CUSTOM_ID, consumer.get("custom_id")),
            (CONSUMER_USERNAME, consumer.get("username")),
        ):
            if value is not None and value != "":
                added.append((name, header_value(str(value))))
    if credential is not None:
        if identifier is not None and identifier != "":
            added.append((CREDENTIAL_IDENTIFIER, header_value(str(identifier))))
    else:
        added.append((ANONYMOUS, "true"))
    return added


def or_already_done(ctx: ProxyContext, anonymous: str | None) -> bool:
    """``anonymous`` set (logical OR) and an earlier auth plugin already set a credential."""
    return bool(anonymous) and ctx.credential is not None


def load_anonymous(ctx: ProxyContext, anonymous: str) -> Any:
    """The consumer named by ``anonymous`` (id or username), through the entity cache:
    the row on a cache hit, else a Deferred firing with it.

    :raises ProxyExit: 500 ``anonymous consumer <x> is configured but doesn't exist``
        (raised, or the Deferred fails with it).
    """

    def found(consumer: dict[str, Any] | None) -> dict[str, Any]:
        if consumer is None:
            log.error(
                "anonymous consumer {anonymous} is configured but doesn't exist",
                anonymous=anonymous,
            )
            raise ProxyExit(500, f"anonymous consumer {anonymous} is configured but doesn't exist")
        return consumer

    return then(ctx.entities.consumer(anonymous), found)


def set_anonymous(ctx: ProxyContext, anonymous: str) -> Deferred[None] | None:
    """Authenticate the anonymous consumer (no credential, ``X-Anonymous-Consumer: true``);
    a Deferred when the consumer had to be read from the store."""
    return then(load_anonymous(ctx, anonymous), lambda c: set_consumer(ctx, c, None))


def fail(ctx: ProxyContext, anonymous: str | None, error: ProxyExit) -> Deferred[None] | None:
    """A failed authentication: the ``anonymous`` consumer when configured, else raise ``error``.

    Return what this returns from the hook (a Deferred when the anonymous
    consumer was not cached yet).
    """
    if anonymous:
        return set_anonymous(ctx, anonymous)
    raise error
