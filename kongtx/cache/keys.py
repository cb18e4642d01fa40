"""Kong's cache keys (``DAO:cache_key``): ``<entity>:<a1>:<a2>:<a3>:<a4>:<a5>:<workspace>``."""

from __future__ import annotations

from typing import Any

__all__ = ["cache_key", "key_value"]


def key_value(value: Any) -> str:
    """One part of a cache key: a foreign reference stands for its id, None for ``""``."""
    if isinstance(value, dict):
        value = value.get("id")
    return "" if value is None else str(value)


def cache_key(entity: str, *parts: Any) -> str:
    """Kong's key for ``parts`` (up to five) of ``entity``, e.g. ``cache_key("keyauth_credentials",
    "my-key")`` is ``"keyauth_credentials:my-key:::::"``.

    kongtx has no workspaces: the workspace part is empty.
    """
    if len(parts) == 1 and type(parts[0]) is str:
        return (
            f"{entity}:{parts[0]}:::::"  # one text part (a credential's key, an id): the hot case
        )
    if len(parts) > 5:
        raise ValueError("a cache key has at most five parts")
    values = [key_value(p) for p in parts] + [""] * (5 - len(parts))
    return f"{entity}:{':'.join(values)}:"
