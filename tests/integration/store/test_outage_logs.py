"""A PostgreSQL outage is logged as one clear line per state change, never as tracebacks
(issue 15, Security 10)."""

from __future__ import annotations

from typing import Any

import pytest_twisted
from twisted.internet import reactor, task
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

from tests.integration.pg_outage import node_behind_forwarder


@pytest_twisted.ensureDeferred
async def test_outage_logs_state_changes_without_tracebacks(tmp_path):
    """Cut PostgreSQL under a running node and restore it: no "Unhandled Error" and no
    traceback is logged; the loss and the recovery are each one line (above debug)."""
    events: list[dict[str, Any]] = []
    try:
        async with node_behind_forwarder(
            tmp_path, "kongtx_outage_logs", db_update_frequency="0.2"
        ) as outage:
            gw, forwarder = outage.gw, outage.forwarder
            assert (await gw.request("GET", gw.admin_url + "/services")).status == 200
            globalLogPublisher.addObserver(events.append)
            forwarder.cut()
            for _ in range(6):
                assert (await gw.request("GET", gw.admin_url + "/services")).status == 503
                await task.deferLater(reactor, 0.3, lambda: None)
            forwarder.restore()
            back = await outage.admin_back()
            assert back.status == 200, back
            await task.deferLater(reactor, 1.5, lambda: None)
    finally:
        globalLogPublisher.removeObserver(events.append)
    ours = [e for e in events if "log_failure" in e or e.get("isError")]
    shown = [e for e in events if e.get("log_level") != LogLevel.debug]
    texts = [formatEvent(e) for e in shown]
    assert ours == [], "\n".join(
        e["log_failure"].getTraceback() if "log_failure" in e else formatEvent(e) for e in ours[:3]
    )
    assert not any("Unhandled Error" in t or "Traceback" in t for t in texts), texts
    lost = [t for t in texts if "PostgreSQL" in t and "unavailable" in t.lower()]
    back_lines = [t for t in texts if "PostgreSQL" in t and "available again" in t.lower()]
    assert len(lost) == 1, lost
    assert len(back_lines) == 1, texts
