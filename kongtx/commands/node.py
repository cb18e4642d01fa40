"""``kongtx start|stop|restart|reload|quit|health``: thin wrappers over twistd and its pid file.

The node runs as a daemonized ``twistd kongtx`` with its pid file at
``<prefix>/pids/kongtx.pid`` and its log at ``<prefix>/logs/kongtx.log``.
``start`` returns once the process is up and its listeners accept
connections; ``reload`` sends SIGHUP (see :mod:`kongtx.reload`).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from kongtx.commands._common import add_conf_options, fail, load
from kongtx.errors import ConfigError

__all__ = ["add", "log_path", "pid_path", "running_pid"]

_TWISTD = "from twisted.scripts.twistd import run; run()"


def add(sub: Any) -> None:
    """Register the process commands."""
    start = sub.add_parser("start", help="start kongtx in the background (twistd)")
    start.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the listeners (30)"
    )
    start.set_defaults(func=_start)
    stop = sub.add_parser("stop", help="stop the running node (SIGTERM)")
    stop.add_argument("--timeout", type=float, default=10.0, help="seconds before SIGKILL (10)")
    stop.set_defaults(func=_stop)
    quit_ = sub.add_parser("quit", help="stop gracefully: finish requests in flight, then exit")
    quit_.add_argument(
        "-t", "--timeout", type=float, default=10.0, help="seconds before SIGKILL (10)"
    )
    quit_.set_defaults(func=_stop)
    restart = sub.add_parser("restart", help="stop (if running), then start")
    restart.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (30)")
    restart.set_defaults(func=_restart)
    reload = sub.add_parser(
        "reload",
        help="re-read the configuration and the declarative file without dropping connections (SIGHUP)",
    )
    reload.set_defaults(func=_reload)
    health = sub.add_parser("health", help="is the node running (from its prefix)")
    health.set_defaults(func=_health)
    for p in (start, stop, quit_, restart, reload, health):
        add_conf_options(p)


def pid_path(prefix: str) -> str:
    """The pid file of the node in ``prefix``."""
    return os.path.join(prefix, "pids", "kongtx.pid")


def log_path(prefix: str) -> str:
    """The log file of the node in ``prefix``."""
    return os.path.join(prefix, "logs", "kongtx.log")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_pid(prefix: str) -> int | None:
    """The pid of the node running in ``prefix``, or ``None``."""
    try:
        with open(pid_path(prefix), encoding="ascii") as fh:
            pid = int(fh.read().strip() or 0)
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and _alive(pid) else None


def _prefix(args: argparse.Namespace) -> tuple[Any, str]:
    config = load(args, plugins=False)
    return config, os.path.abspath(config.prefix)


def _ports(config: Any) -> list[tuple[str, int]]:
    out = []
    for listener in list(config.proxy_listen) + list(config.admin_listen):
        if listener.port and not str(listener.endpoint).startswith("unix:"):
            host = listener.host if listener.host not in ("", "0.0.0.0", "::", "*") else "127.0.0.1"
            out.append((host.strip("[]"), listener.port))
    return out


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return ""


def _start(args: argparse.Namespace) -> int:
    try:
        config = load(args)
    except ConfigError as exc:
        return fail(str(exc))
    prefix = os.path.abspath(config.prefix)
    if running_pid(prefix) is not None:
        return fail(f"kongtx is already running in {prefix}")
    for sub in ("pids", "logs"):
        os.makedirs(os.path.join(prefix, sub), exist_ok=True)
    if os.path.exists(pid_path(prefix)):
        os.unlink(pid_path(prefix))  # stale
    command = [sys.executable, "-c", _TWISTD, "--pidfile", pid_path(prefix)]
    command += ["--logfile", log_path(prefix), "kongtx", "--prefix", prefix]
    if args.conf:
        command += ["-c", os.path.abspath(args.conf)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return fail("kongtx failed to start:\n" + (done.stderr or done.stdout).strip())
    deadline = time.monotonic() + args.timeout
    ports = _ports(config)
    while time.monotonic() < deadline:
        pid = running_pid(prefix)
        if pid is not None and all(_accepts(h, p) for h, p in ports):
            print(f"kongtx started (pid {pid}, prefix {prefix})")
            return 0
        if pid is None and os.path.exists(pid_path(prefix)):
            break  # it wrote its pid file, then died
        time.sleep(0.1)
    return fail(f"kongtx did not start; see {log_path(prefix)}:\n{_tail(log_path(prefix))}")


class _NotRunning(Exception):
    """No kongtx runs in the prefix a command names."""


def _running_node(args: argparse.Namespace, where: str = "in") -> tuple[str, int]:
    """The prefix ``args`` name and the pid of the kongtx running there.

    :raises ConfigError: the configuration does not load.
    :raises _NotRunning: no kongtx runs there (the message says so, ``in``/``at`` it).
    """
    _config, prefix = _prefix(args)
    pid = running_pid(prefix)
    if pid is None:
        raise _NotRunning(f"kongtx is not running {where} {prefix}")
    return prefix, pid


def _signal_node(args: argparse.Namespace, signum: int) -> int | None:
    """Send ``signum`` to the kongtx running in the prefix ``args`` name: its pid, or None
    when there is none (the error is printed)."""
    try:
        _prefix_path, pid = _running_node(args)
    except (ConfigError, _NotRunning) as exc:
        fail(str(exc))
        return None
    os.kill(pid, signum)
    return pid


def _stop(args: argparse.Namespace) -> int:
    pid = _signal_node(args, signal.SIGTERM)
    if pid is None:
        return 1
    deadline = time.monotonic() + args.timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        print(f"kongtx did not stop within {args.timeout:g}s; killed")
        return 0
    print("kongtx stopped" if args.command == "stop" else "kongtx stopped (gracefully)")
    return 0


def _restart(args: argparse.Namespace) -> int:
    try:
        _config, prefix = _prefix(args)
    except ConfigError as exc:
        return fail(str(exc))
    if running_pid(prefix) is not None:
        stop_args = argparse.Namespace(**{**vars(args), "timeout": 10.0, "command": "stop"})
        status = _stop(stop_args)
        if status:
            return status
    return _start(args)


def _reload(args: argparse.Namespace) -> int:
    if _signal_node(args, signal.SIGHUP) is None:
        return 1
    print("kongtx reloading (configuration and declarative file re-read)")
    return 0


def _health(args: argparse.Namespace) -> int:
    try:
        prefix, pid = _running_node(args, where="at")
    except (ConfigError, _NotRunning) as exc:
        return fail(str(exc))
    print(f"twistd.......running (pid {pid})")
    print(f"kongtx is healthy at {prefix}")
    return 0
