"""What the subcommands share: ``-c``/``-p`` options, loading the configuration, a reactor run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred

from kongtx.errors import ConfigError, KongtxError

if TYPE_CHECKING:
    from kongtx.config import Config

__all__ = ["add_conf_options", "fail", "load", "react"]


def add_conf_options(parser: argparse.ArgumentParser, conf: bool = True) -> None:
    """Kong's global options: ``-c/--conf`` and ``-p/--prefix``."""
    if conf:
        parser.add_argument("-c", "--conf", default=None, help="configuration file")
    parser.add_argument("-p", "--prefix", default=None, help="override the prefix directory")


def fail(message: str) -> int:
    """Print ``Error: message`` on stderr; returns exit status 1."""
    sys.stderr.write(f"Error: {message}\n")
    return 1


def load(args: argparse.Namespace, plugins: bool = True) -> Config:
    """The configuration named by ``-c`` (``-p`` overrides the prefix), plugins loaded.

    :raises ConfigError: for a bad configuration.
    """
    from kongtx.config import load_config

    overrides = {"prefix": args.prefix} if getattr(args, "prefix", None) else None
    config = load_config(getattr(args, "conf", None), overrides=overrides)
    if plugins and config.plugins:
        from kongtx.plugins.base import load_plugins

        load_plugins(list(config.plugins))
    return config


def react(fn: Callable[[Any], Awaitable[int]]) -> int:
    """Run ``await fn(reactor)`` on a fresh reactor; returns its exit status.

    :class:`KongtxError` and :class:`ConfigError` become ``Error: ...`` and status 1.
    """
    from twisted.internet import task

    status = {"code": 0}

    def main(reactor: Any) -> Deferred[None]:
        async def go() -> None:
            try:
                status["code"] = await fn(reactor)
            except KongtxError as exc:
                status["code"] = fail(exc.message)
            except ConfigError as exc:
                status["code"] = fail(str(exc))

        return Deferred.fromCoroutine(go())

    try:
        task.react(main)
    except SystemExit as exc:
        if exc.code not in (0, None):
            return int(exc.code) if isinstance(exc.code, int) else 1
    return status["code"]
