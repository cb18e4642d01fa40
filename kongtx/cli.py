"""The ``kongtx`` command: ``kongtx migrations bootstrap|up|reset|list [-c CONF] [-y]``;
every other subcommand lives in :mod:`kongtx.commands`.

Console script entry point ``kongtx = kongtx.cli:main``. The configured
plugins are loaded first so their entities (credentials) get tables too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from twisted.internet.defer import Deferred

from kongtx.errors import ConfigError, KongtxError

if TYPE_CHECKING:
    from kongtx.config import Config


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``kongtx migrations ...``)."""
    parser = argparse.ArgumentParser(prog="kongtx", description="kongtx command line")
    sub = parser.add_subparsers(dest="command", required=True)
    mig = sub.add_parser("migrations", help="prepare or inspect the database schema")
    mig.add_argument("action", choices=["bootstrap", "up", "reset", "list"])
    mig.add_argument("-c", "--conf", default=None, help="configuration file")
    mig.add_argument("-y", "--yes", action="store_true", help="assume yes (reset)")
    mig.add_argument("-p", "--prefix", default=None, help="override the prefix directory")
    from kongtx.commands import add_commands

    add_commands(sub)
    return parser


def _load(args: argparse.Namespace) -> Config:
    from kongtx.config import load_config

    overrides = {"prefix": args.prefix} if args.prefix else None
    config = load_config(args.conf, overrides=overrides)
    plugins = config.plugins
    if plugins:
        from kongtx.plugins.base import load_plugins

        load_plugins(plugins)
    return config


async def run_migrations(
    reactor: Any,
    args: argparse.Namespace,
    config: Any,
    out: TextIO,
    registry: Any = None,
    confirm: Callable[[str], bool] | None = None,
    migrations: Any = None,
) -> int:
    """Run one ``migrations`` action; returns the exit status.

    ``registry`` and ``migrations`` (named migrations) default to the registered ones.
    """
    from kongtx.store import make_backend
    from kongtx.store.migrations import Migrator

    if registry is None:
        from kongtx.schema import registry as default_registry

        registry = default_registry
    if config.database == "off":
        out.write("database is 'off' (DB-less): nothing to migrate\n")
        return 0
    backend = make_backend(config, reactor)
    migrator = Migrator(backend, registry, migrations)
    try:
        if args.action == "list":
            state = await migrator.state()
            if not state.bootstrapped:
                out.write("Database needs bootstrapping; run 'kongtx migrations bootstrap'\n")
                return 3
            out.write("Executed migrations:\n")
            out.writelines(f"  {name}\n" for name in state.executed)
            if state.pending:
                out.write("Pending migrations:\n")
                out.writelines(f"  {name}\n" for name in state.pending)
                out.write("New migrations available; run 'kongtx migrations up' to proceed\n")
                return 5
            out.write("Database schema is up to date\n")
            return 0
        if args.action == "bootstrap":
            state = await migrator.state()
            if state.bootstrapped:
                out.write("Database already bootstrapped\n")
                return 0
            out.write("Bootstrapping database...\n")
            ran = await migrator.bootstrap()
            _report(out, ran)
            out.write("Database is up-to-date\n")
            return 0
        if args.action == "up":
            state = await migrator.state()
            if not state.bootstrapped:
                out.write("Database needs bootstrapping; run 'kongtx migrations bootstrap'\n")
                return 1
            ran = await migrator.up()
            if not ran:
                out.write("Database is already up-to-date\n")
            else:
                _report(out, ran)
            return 0
        # reset
        ask = confirm or _ask
        if not args.yes and not ask("Are you sure? This operation is irreversible. [y/N] "):
            out.write("cancelled\n")
            return 1
        await migrator.reset()
        out.write("Database successfully reset\n")
        return 0
    finally:
        await backend.close()


def _report(out: TextIO, ran: list[str]) -> None:
    out.writelines(f"migrating {name}... ok\n" for name in ran)
    out.write(f"{len(ran)} migrations processed\n")


def _ask(prompt: str) -> bool:
    try:
        return input(prompt).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def main(argv: Sequence[str] | None = None) -> None:
    """Console script entry point; exits with the command's status."""
    args = build_parser().parse_args(argv)
    if args.command != "migrations":
        from kongtx.commands import run

        raise SystemExit(run(args))
    try:
        config = _load(args)
    except ConfigError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        raise SystemExit(1) from None

    from twisted.internet import task

    def _main(reactor: Any) -> Deferred[None]:
        async def go() -> None:
            try:
                status = await run_migrations(reactor, args, config, sys.stdout)
            except KongtxError as exc:
                sys.stderr.write(f"Error: {exc.message}\n")
                status = 1
            if status:
                raise SystemExit(status)

        return Deferred.fromCoroutine(go())

    task.react(_main)


if __name__ == "__main__":
    main()
