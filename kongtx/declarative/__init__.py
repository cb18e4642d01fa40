"""Kong's declarative configuration: parse, validate, import, export.

``parse_text``/``parse_document`` turn a YAML or JSON file (``_format_version``
"1.1", "2.1" or "3.0") into :class:`Parsed` rows, everything derived from the
schema registry; :mod:`kongtx.declarative.load` writes them into a store
(batched SQL, or the in-memory store of DB-less mode);
:func:`export_document` dumps a store back. See ``docs/declarative.md``.
"""

from __future__ import annotations

from kongtx.declarative._errors import declarative_error, flatten, lua_compact
from kongtx.declarative._export import dump_yaml, export_document
from kongtx.declarative._migrate import FORMAT_VERSIONS
from kongtx.declarative._parse import Parsed, parse_document, parse_text
from kongtx.declarative._text import decode, document_hash, json_bytes

__all__ = [
    "FORMAT_VERSIONS",
    "Parsed",
    "declarative_error",
    "decode",
    "document_hash",
    "dump_yaml",
    "export_document",
    "flatten",
    "json_bytes",
    "lua_compact",
    "parse_document",
    "parse_text",
]
