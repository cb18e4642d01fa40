"""Password hashing for ``basicauth_credentials``: bcrypt, always off the reactor thread.

kongtx stores bcrypt hashes. Kong stores ``sha1(password .. consumer_id)`` as
40 hex digits; such a hash imported from Kong is still checked
(:func:`check_kong_sha1`) until the first success replaces it by bcrypt.
bcrypt reads at most 72 bytes, so longer passwords are first reduced to
``base64(sha256(password))`` (44 bytes) rather than silently truncated.

Successful verifications are remembered in a small LRU
(:class:`VerificationCache`) keyed by an HMAC, under a per-process secret, of
the credential id, its stored hash and ``sha256(password)``: repeated requests
skip bcrypt, no password (nor an offline-attackable digest of one) is kept in
memory, and a changed password never matches an old entry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import bcrypt
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.threads import deferToThread, deferToThreadPool

__all__ = [
    "BCRYPT_ROUNDS",
    "VerificationCache",
    "check_password",
    "hash_password",
    "check_kong_sha1",
    "is_hashed",
    "is_kong_sha1",
    "run_in_thread",
]

T = TypeVar("T")

#: bcrypt cost for new hashes (existing hashes keep the cost they were made with).
BCRYPT_ROUNDS = 10
_MAX_BCRYPT_INPUT = 72
_HASH_RE = re.compile(r"^\$2[abxy]\$\d\d\$[./A-Za-z0-9]{53}$")
_KONG_SHA1_RE = re.compile(r"^[0-9a-f]{40}$")


def is_hashed(value: str) -> bool:
    """Whether ``value`` already is a bcrypt hash (a stored row being re-written)."""
    return _HASH_RE.match(value) is not None


def is_kong_sha1(value: str) -> bool:
    """Whether ``value`` is a password hash as Kong stores it (``sha1`` hex)."""
    return _KONG_SHA1_RE.match(value) is not None


def check_kong_sha1(password: bytes, consumer_id: str, stored: str) -> bool:
    """Whether ``password`` matches Kong's ``sha1(password .. consumer_id)`` (constant time)."""
    digest = hashlib.sha1(password + consumer_id.encode("utf-8")).hexdigest()  # noqa: S324 - Kong's format
    return hmac.compare_digest(digest.encode("ascii"), stored.encode("ascii"))


def _material(password: bytes) -> bytes:
    if len(password) > _MAX_BCRYPT_INPUT:
        return base64.b64encode(hashlib.sha256(password).digest())
    return password


def hash_password(password: bytes, rounds: int | None = None) -> str:
    """bcrypt-hash ``password`` (blocking: run it with :func:`run_in_thread`)."""
    salt = bcrypt.gensalt(rounds if rounds is not None else BCRYPT_ROUNDS)
    return bcrypt.hashpw(_material(password), salt).decode("ascii")


def check_password(password: bytes, hashed: str) -> bool:
    """Whether ``password`` matches the bcrypt ``hashed`` (blocking, constant time)."""
    try:
        return bool(bcrypt.checkpw(_material(password), hashed.encode("ascii")))
    except (ValueError, UnicodeEncodeError):
        return False  # not a bcrypt hash: never matches


def run_in_thread(reactor: Any, fn: Callable[..., T], *args: Any) -> Deferred[T]:
    """Run ``fn(*args)`` in ``reactor``'s thread pool (the default one if it has none)."""
    if reactor is not None and IReactorThreads.providedBy(reactor):
        return deferToThreadPool(reactor, reactor.getThreadPool(), fn, *args)
    return deferToThread(fn, *args)


class VerificationCache:
    """A bounded LRU of successful (credential, password) verifications.

    :param size: entries kept (least recently used evicted first).
    :param secret: HMAC key; random per process by default.
    """

    def __init__(self, size: int = 1024, secret: bytes | None = None) -> None:
        self.size = size
        self._secret = secret if secret is not None else os.urandom(32)
        self._entries: OrderedDict[bytes, None] = OrderedDict()

    def _key(self, credential_id: str, hashed: str, password: bytes) -> bytes:
        mac = hmac.new(self._secret, digestmod=hashlib.sha256)
        mac.update(credential_id.encode("utf-8"))
        mac.update(b"\x00")
        mac.update(hashed.encode("utf-8"))
        mac.update(b"\x00")
        mac.update(hashlib.sha256(password).digest())
        return mac.digest()

    def hit(self, credential_id: str, hashed: str, password: bytes) -> bool:
        """Whether this exact verification succeeded recently."""
        key = self._key(credential_id, hashed, password)
        entries = self._entries
        # The key is an HMAC output: a dict lookup on it leaks nothing about the password.
        if key in entries:
            entries.move_to_end(key)
            return True
        return False

    def add(self, credential_id: str, hashed: str, password: bytes) -> None:
        """Remember a successful verification."""
        entries = self._entries
        key = self._key(credential_id, hashed, password)
        entries[key] = None
        entries.move_to_end(key)
        while len(entries) > self.size:
            entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
