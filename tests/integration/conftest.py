"""Fixtures shared by the integration suites."""

from __future__ import annotations

import pytest

from tests.integration.harness import FRONTENDS


@pytest.fixture(params=FRONTENDS)
def frontend(request: pytest.FixtureRequest) -> str:
    """Each test runs once per proxy front-end."""
    return request.param
