"""Declarative text: YAML or JSON in, one document (a dict) out, plus its hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

from kongtx.errors import InvalidDeclarativeConfig

__all__ = ["decode", "document_hash", "parse_failure"]


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


def document_hash(document: Any) -> str:
    """An md5 of the document's canonical JSON (``check_hash``, ``/status``)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.md5(canonical.encode("utf-8"), usedforsecurity=False).hexdigest()
