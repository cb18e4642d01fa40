"""Kong's own logs: proxy and Admin API access logs, the error log at log_level, 'off', rotation."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.logger import Logger

from kongtx.logsinks import reopen
from tests.integration.harness import gateway_and_upstream
from tests.integration.worker_nodes import upstream as upstream  # noqa: F401 - fixture


async def _lines(path: Path, count: int) -> list[str]:
    for _ in range(250):
        if path.exists():
            lines = path.read_text().splitlines()
            if len(lines) >= count:
                return lines
        await deferLater(reactor, 0.02, lambda: None)
    raise AssertionError(f"{path} did not get {count} lines")


@pytest_twisted.ensureDeferred
async def test_access_and_error_logs(tmp_path, frontend):
    """Proxied requests go to logs/access.log in Kong's format, Admin API requests to
    logs/admin_access.log, events at or above log_level to logs/error.log; rotation reopens."""
    async with gateway_and_upstream(
        tmp_path, frontend, service="svc", routes={"r": "/r"}, log_level="warn"
    ) as (gw, _):
        logs = tmp_path / "prefix" / "logs"
        reply = await gw.proxy(
            "GET", "/r/x?q=1", headers={"User-Agent": "tester/1", "Referer": "http://ref/"}
        )
        request_id = reply.header("x-kong-request-id")
        (line,) = await _lines(logs / "access.log", 1)
        assert re.fullmatch(
            r'127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /r/x\?q=1 HTTP/1\.1" '
            rf'200 {len(reply.body)} "http://ref/" "tester/1" kong_request_id: "{request_id}"',
            line,
        ), line
        await gw.proxy("GET", "/nowhere")
        assert ' "GET /nowhere HTTP/1.1" 404 ' in (await _lines(logs / "access.log", 2))[1]

        admin_lines = await _lines(logs / "admin_access.log", 1)
        assert any('"POST /services HTTP/1.1" 201' in x for x in admin_lines), admin_lines

        Logger(namespace="kongtx.proxy.test").warn("disk {what} is full", what="/var")
        Logger(namespace="kongtx.proxy.test").info("routine chatter")
        errors = await _lines(logs / "error.log", 1)
        assert any(
            re.fullmatch(
                rf"\d{{4}}/\d\d/\d\d \d\d:\d\d:\d\d \[warn\] {os.getpid()}#0: disk /var is full", x
            )
            for x in errors
        ), errors
        assert not any("routine chatter" in x for x in errors)

        os.rename(logs / "access.log", logs / "access.log.1")
        reopen.reopen_all()
        await gw.proxy("GET", "/r/after")
        (line,) = await _lines(logs / "access.log", 1)
        assert '"GET /r/after HTTP/1.1" 200' in line


@pytest_twisted.ensureDeferred
async def test_logs_off(tmp_path):
    """'off' writes no file; absolute paths are used as given."""
    error_log = tmp_path / "elsewhere" / "kong-error.log"
    async with gateway_and_upstream(
        tmp_path,
        service="svc",
        routes={"r": "/r"},
        proxy_access_log="off",
        admin_access_log="off",
        proxy_error_log=str(error_log),
        log_level="error",
    ) as (gw, _):
        assert (await gw.proxy("GET", "/r")).status == 200
        Logger(namespace="kongtx.proxy.test").error("an error")
        assert "an error" in (await _lines(error_log, 1))[-1]
        logs = tmp_path / "prefix" / "logs"
        assert not (logs / "access.log").exists() and not (logs / "admin_access.log").exists()


@pytest_twisted.ensureDeferred
async def test_sigusr1_reopens_in_every_worker(tmp_path, upstream):
    """twistd with two worker processes: after the access log is renamed, SIGUSR1 to the parent
    makes both processes write to a new file at the configured path."""
    import signal

    from tests.integration.worker_nodes import (
        WORKERS,
        add_route,
        burst,
        pause,
        run_node,
        wait_started,
    )

    up = upstream  # answers "ok", telling which worker process sent each request
    gen = run_node(tmp_path)
    node = next(gen)
    try:
        await wait_started(node)
        assert len(node.workers()) == WORKERS
        await add_route(node, up, "w", "/w")
        await pause(1.0)
        assert (await burst(node, "/w", 20)).count(200) == 20
        logs = tmp_path / "prefix" / "logs"
        await _lines(logs / "access.log", 20)
        os.rename(logs / "access.log", logs / "access.log.1")
        os.kill(node.proc.pid, signal.SIGUSR1)
        await pause(1.0)
        assert (await burst(node, "/w", 40)).count(200) == 40
        await _lines(logs / "access.log", 40)
        await pause(0.5)
        assert len((logs / "access.log.1").read_text().splitlines()) == 20
        assert len((logs / "access.log").read_text().splitlines()) == 40
    finally:
        try:
            next(gen)
        except StopIteration:
            pass
