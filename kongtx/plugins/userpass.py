"""``base64(user:password)``: the credentials basic-auth and ldap-auth read from a header."""

from __future__ import annotations

import binascii
import re
from base64 import b64decode
from typing import Callable

__all__ = ["decode_user_password"]


def decode_user_password(
    token: bytes, split: Callable[[bytes], re.Match[bytes] | None]
) -> tuple[str, bytes] | None:
    """``(username, password)`` from a base64 ``token`` (its padding optional), or None.

    :param split: matches the decoded bytes (each plugin with Kong's rule for it): group 1
        is the username (it must be UTF-8), group 2 the password.
    """
    try:
        decoded = b64decode(token + b"=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    parts = split(decoded)
    if parts is None:
        return None
    try:
        return parts.group(1).decode("utf-8"), parts.group(2)
    except UnicodeDecodeError:
        return None
