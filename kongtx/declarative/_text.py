"""Declarative text: YAML or JSON in, one document (a dict) out, plus its hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import yaml

from kongtx.errors import InvalidDeclarativeConfig

__all__ = ["decode", "document_hash", "json_bytes", "json_chunks", "parse_failure", "text_hash"]


def parse_failure(reason: str) -> InvalidDeclarativeConfig:
    """Kong's answer for text that is not a declarative document at all."""
    from kongtx.declarative._errors import declarative_error

    return declarative_error({"error": "failed parsing declarative configuration: " + reason})


_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed


class _Loader(_SafeLoader):  # type: ignore[misc, valid-type]
    """Safe YAML with timestamps kept as strings (JSON cannot carry dates)."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def decode(text: str | bytes) -> dict[str, Any]:
    """Parse ``text`` (JSON when it is JSON, YAML otherwise) into a document.

    :raises InvalidDeclarativeConfig: (code 14) when it is neither, or not an object.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise parse_failure("invalid UTF-8") from None
    stripped = text.lstrip()
    value: Any
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except ValueError:
            value = _yaml(text)  # YAML flow mappings also start with "{"
    else:
        value = _yaml(text)
    if not isinstance(value, dict):
        raise parse_failure("expected an object")
    return value


def _yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise parse_failure(" ".join(str(exc).split())) from None


def json_chunks(value: Any, *, sort_keys: bool = False) -> Iterator[str]:
    """``value`` as compact JSON, in pieces, by the pure-Python encoder.

    For large values encoded in a thread: the C encoder holds the GIL for the
    whole value (seconds for a big configuration), stalling the reactor; this
    one lets the interpreter switch threads as it goes.
    """
    encoder = json.JSONEncoder(
        sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return encoder.iterencode(value, _one_shot=False)


def json_bytes(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON, built by :func:`json_chunks`."""
    return "".join(json_chunks(value)).encode("utf-8")


def text_hash(text: str | bytes) -> str:
    """The md5 of a configuration's text (``check_hash``, ``/status``)."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.md5(raw, usedforsecurity=False).hexdigest()


def document_hash(document: Any) -> str:
    """The md5 of a document's canonical JSON (when there is no text to hash)."""
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in json_chunks(document, sort_keys=True):
        digest.update(chunk.encode("utf-8"))
    return digest.hexdigest()
