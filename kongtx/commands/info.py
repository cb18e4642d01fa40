"""``kongtx check [conf]`` and ``kongtx version``."""

from __future__ import annotations

import argparse
from typing import Any

from kongtx.commands._common import fail

__all__ = ["add"]


def add(sub: Any) -> None:
    """Register ``check`` and ``version``."""
    check = sub.add_parser(
        "check",
        help="validate a configuration file",
        description="Check that a kongtx.conf (kong.conf syntax) is valid.",
    )
    check.add_argument("conf", nargs="?", default=None, help="configuration file")
    check.add_argument("-c", "--conf", dest="conf_option", default=None, help="configuration file")
    check.add_argument("-p", "--prefix", default=None, help="override the prefix directory")
    check.set_defaults(func=_check)
    version = sub.add_parser("version", help="print the kongtx version")
    version.add_argument("-c", "--conf", default=None, help=argparse.SUPPRESS)
    version.add_argument("-p", "--prefix", default=None, help=argparse.SUPPRESS)
    version.set_defaults(func=_version)


def _check(args: argparse.Namespace) -> int:
    from kongtx.config import load_config
    from kongtx.errors import ConfigError
    from kongtx.plugins.base import load_plugins

    path = args.conf or args.conf_option
    if path is None:
        return fail("a configuration file is required: kongtx check <conf>")
    overrides = {"prefix": args.prefix} if args.prefix else None
    try:
        config = load_config(path, overrides=overrides)
        load_plugins(list(config.plugins))
    except ConfigError as exc:
        return fail(str(exc))
    print(f"configuration at {path} is valid")
    return 0


def _version(args: argparse.Namespace) -> int:
    from kongtx import __version__

    print(__version__)
    return 0
