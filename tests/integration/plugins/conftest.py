"""What the plugin integration tests share: a gateway with the test module's plugins."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted

from tests.integration.harness import gateway_and_upstream


@pytest_twisted.async_yield_fixture
async def env(request: pytest.FixtureRequest, tmp_path: Any, frontend: str) -> Any:
    """``(gateway, upstream)`` per front-end: the gateway runs the test module's ``PLUGINS``
    and has a service ``SERVICE`` (default ``svc``) on the upstream with the module's
    ``ROUTES`` (name -> path, default none). A module with other needs defines its own."""
    module = request.module
    async with gateway_and_upstream(
        tmp_path,
        frontend,
        plugins=module.PLUGINS,
        service=getattr(module, "SERVICE", "svc"),
        routes=getattr(module, "ROUTES", None),
    ) as pair:
        yield pair
