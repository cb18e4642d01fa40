"""twistd integration: ``twistd -n kongtx [options]``.

This is the only kongtx module that imports the global reactor, and only
inside :func:`makeService`.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import Any, ClassVar, TextIO

from twisted.application.service import IService
from twisted.python import usage
from twisted.python.failure import Failure

from kongtx.config import load_config
from kongtx.errors import ConfigError, KongtxError

__all__ = ["Options", "exit_if_start_fails", "makeService"]

# command-line option -> configuration property
_OVERRIDES = {
    "proxy-listen": "proxy_listen",
    "admin-listen": "admin_listen",
    "database": "database",
    "prefix": "prefix",
}


class Options(usage.Options):
    """Command-line options of ``twistd kongtx``.

    Options override ``KONGTX_*`` variables, which override the file.
    After :meth:`postOptions`, ``self["config_object"]`` is the loaded
    :class:`kongtx.config.Config`.
    """

    synopsis = "[-c kongtx.conf] [--proxy-listen ...] [--admin-listen ...]"
    longdesc = (
        "Run the kongtx API gateway. Settings come from the configuration file "
        "(kong.conf syntax), KONGTX_<PROPERTY> environment variables and these options."
    )
    optParameters: ClassVar[list[list[str | None]]] = [
        ["config", "c", None, "Configuration file (kong.conf syntax)."],
        ["proxy-listen", None, None, "Proxy listeners, e.g. '0.0.0.0:8000, 0.0.0.0:8443 ssl'."],
        ["admin-listen", None, None, "Admin API listeners, e.g. '127.0.0.1:8001' or 'off'."],
        ["database", None, None, "Datastore: sqlite, postgres or off."],
        ["prefix", None, None, "Working directory (database file, generated certificates)."],
    ]
    compData = usage.Completions(
        optActions={
            "config": usage.CompleteFiles("*.conf"),
            "database": usage.CompleteList(["sqlite", "postgres", "off"]),
            "prefix": usage.CompleteDirs(),
        }
    )

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__()
        self._env = env

    def postOptions(self) -> None:
        """Load the configuration; a bad setting becomes a usage error."""
        overrides = {prop: self[opt] for opt, prop in _OVERRIDES.items() if self[opt] is not None}
        env = os.environ if self._env is None else self._env
        self["overrides"] = overrides
        self["env"] = env
        try:
            self["config_object"] = load_config(self["config"], env, overrides)
        except ConfigError as exc:
            raise usage.UsageError(str(exc)) from None


def makeService(options: Options | dict[str, Any]) -> IService:
    """Build the gateway service tree with the global reactor.

    :param options: parsed :class:`Options`.
    """
    from twisted.internet import reactor

    from kongtx import lean_dispatch
    from kongtx.logsinks.reopen import install_sigusr1
    from kongtx.rlimits import raise_open_files_limit
    from kongtx.service import freeze_gc_when_ready
    from kongtx.workers import make_service

    raise_open_files_limit()
    lean_dispatch.install()

    # One process (build_gateway) or, with worker_processes > 1, a supervised group
    # sharing the proxy listeners through SO_REUSEPORT.
    service = make_service(reactor, options["config_object"])
    node = getattr(service, "node", service)
    freeze_gc_when_ready(node)
    supervisor = getattr(service, "supervisor", None)
    # log rotation: reopen every log file, in every worker process
    install_sigusr1(reactor, supervisor.signal_workers if supervisor is not None else None)
    if "overrides" in options:  # ``kongtx reload`` (SIGHUP) re-reads what twistd was given
        from kongtx.reload import HangupReloader

        def reread() -> Any:
            return load_config(options["config"], options["env"], options["overrides"])

        HangupReloader(reactor, node, reread).setServiceParent(service)
    exit_if_start_fails(reactor, node)
    return service


def exit_if_start_fails(reactor: Any, node: Any, stderr: TextIO | None = None) -> None:
    """A start that cannot succeed ends the process: the reason on stderr, exit status 1.

    As ``kong start`` does, so that a supervisor notices (the store is not
    bootstrapped, the database is unreachable, a port is taken). The status is
    set once twistd has shut down and removed its pid file.
    """
    ready = getattr(node, "ready", None)
    if ready is None:
        return

    def failed(failure: Failure) -> None:
        reason = failure.value
        text = reason.message if isinstance(reason, KongtxError) else str(reason)
        # twistd routes sys.stderr into its log: write to the process's real stderr
        out = stderr if stderr is not None else (sys.__stderr__ or sys.stderr)
        out.write(f"Error: kongtx failed to start: {text or type(reason).__name__}\n")
        out.flush()
        atexit.register(_exit_with, 1)
        reactor.callWhenRunning(reactor.stop)

    ready.addErrback(failed)


def _exit_with(status: int) -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()
    os._exit(status)
