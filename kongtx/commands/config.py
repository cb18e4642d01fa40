"""``kongtx config init|parse|db_import|db_export``: declarative files on the command line."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from kongtx.commands._common import add_conf_options, fail, load, react
from kongtx.config import Config
from kongtx.errors import ConfigError, InvalidDeclarativeConfig

__all__ = ["add", "describe_errors"]

DEFAULT_FILE = "kong.yml"


def add(sub: Any) -> None:
    """Register ``config`` and its actions."""
    parser = sub.add_parser(
        "config",
        help="declarative configuration files",
        description="Work with declarative configuration files (Kong's format).",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = actions.add_parser(
        "init", help=f"write a commented example file (default ./{DEFAULT_FILE})"
    )
    init.add_argument("file", nargs="?", default=DEFAULT_FILE)
    init.set_defaults(func=_init)
    parse = actions.add_parser(
        "parse", help="validate a declarative file; errors make the exit status 1"
    )
    parse.add_argument("file")
    parse.set_defaults(func=_parse)
    imp = actions.add_parser(
        "db_import",
        help="load a declarative file into the database (upsert by id, all or nothing)",
    )
    imp.add_argument("file")
    imp.set_defaults(func=_db_import)
    exp = actions.add_parser(
        "db_export",
        help=f"write the database as a declarative file (default ./{DEFAULT_FILE}; - for stdout)",
    )
    exp.add_argument("file", nargs="?", default=DEFAULT_FILE)
    exp.set_defaults(func=_db_export)
    for p in (init, parse, imp, exp):
        add_conf_options(p)


def describe_errors(exc: InvalidDeclarativeConfig, document: Any) -> str:
    """Errors of a declarative file, one line each, naming the entity and the field."""
    from kongtx.declarative import flatten
    from kongtx.schema import registry

    fields = exc.fields if isinstance(exc.fields, dict) else {}
    rest, flat = flatten(fields, document, registry)
    lines = []
    for entry in flat:
        who = entry.get("entity_name") or entry.get("entity_id") or ""
        label = f"{entry['entity_type']} '{who}'" if who else entry["entity_type"]
        for err in entry["errors"]:
            where = f"{err['field']}: " if err.get("field") else ""
            lines.append(f"in {label}: {where}{err['message']}")
    lines += _rest_lines(rest, "")
    return "\n".join(lines)


def _rest_lines(node: Any, prefix: str) -> list[str]:
    if isinstance(node, str):
        return [f"{prefix}: {node}" if prefix else node]
    items = node.items() if isinstance(node, dict) else enumerate(node)
    out: list[str] = []
    for key, value in items:
        if value is None:
            continue
        label = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            out += [f"{label}: {v}" for v in value]
        else:
            out += _rest_lines(value, label)
    return out


def _read(path: str) -> tuple[Any, Any]:
    """``(document, Parsed)`` of the file at ``path``."""
    from kongtx.declarative import decode, parse_document
    from kongtx.schema import registry

    try:
        with open(path, "rb") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"could not read {path}: {exc.strerror}") from None
    document = decode(text)
    return document, parse_document(document, registry, time.time())


class _Unparsable(Exception):
    """The declarative file does not parse (the message lists Kong's errors)."""


def _parsed(path: str) -> Any:
    """The parsed declarative file at ``path``.

    :raises _Unparsable: ``Failed parsing:`` and the errors, in Kong's words.
    """
    from kongtx.declarative import decode

    try:
        return _read(path)[1]
    except InvalidDeclarativeConfig as exc:
        try:
            with open(path, "rb") as fh:
                document = decode(fh.read())
        except InvalidDeclarativeConfig:
            document = None
        raise _Unparsable("Failed parsing:\n" + describe_errors(exc, document)) from None


def _init(args: argparse.Namespace) -> int:
    from kongtx.declarative.example import EXAMPLE

    if os.path.exists(args.file):
        return fail(f"{args.file} already exists")
    with open(args.file, "w", encoding="utf-8") as fh:
        fh.write(EXAMPLE)
    print(f"Created '{args.file}' file with an example configuration")
    return 0


def _parse(args: argparse.Namespace) -> int:
    try:
        load(args)
        _parsed(args.file)
    except (ConfigError, _Unparsable) as exc:
        return fail(str(exc))
    print("parse successful")
    return 0


def _with_database(args: argparse.Namespace, command: str) -> Config:
    """The configuration, for a ``config`` subcommand that needs a database.

    :raises ConfigError: it does not load, or it is ``database = off``.
    """
    config = load(args)
    if config.database == "off":
        raise ConfigError(f"'kongtx config {command}' is not available with database=off")
    return config


def _db_import(args: argparse.Namespace) -> int:
    try:
        config = _with_database(args, "db_import")
        parsed = _parsed(args.file)
    except (ConfigError, _Unparsable) as exc:
        return fail(str(exc))
    print("parse successful, beginning import")

    async def go(reactor: Any) -> int:
        from kongtx.declarative.load import import_parsed
        from kongtx.store import open_store

        dao = await open_store(config, reactor)
        try:
            counts = await import_parsed(dao, parsed)
        finally:
            await dao.close()
        print(f"import successful ({sum(counts.values())} entities)")
        return 0

    return react(go)


def _db_export(args: argparse.Namespace) -> int:
    try:
        config = _with_database(args, "db_export")
    except ConfigError as exc:
        return fail(str(exc))
    if args.file != "-" and os.path.exists(args.file):
        return fail(f"{args.file} already exists")

    async def go(reactor: Any) -> int:
        from kongtx.declarative import dump_yaml, export_document
        from kongtx.schema import registry
        from kongtx.store import open_store

        dao = await open_store(config, reactor)
        try:
            rows = await dao.load_all()
        finally:
            await dao.close()
        text = dump_yaml(export_document(rows, registry))
        if args.file == "-":
            sys.stdout.write(text)
        else:
            with open(args.file, "w", encoding="utf-8") as fh:
                fh.write(text)
            print(f"exported {sum(len(r) for r in rows.values())} entities to '{args.file}'")
        return 0

    return react(go)
