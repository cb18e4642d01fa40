"""Shared pytest configuration: pytest-twisted drives the global reactor for integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kongtx.http import parser as http_parser_module


@pytest.fixture(params=[http_parser_module.HTTPTOOLS, http_parser_module.PYTHON])
def http_parser(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once with each HTTP/1.1 parser (connections made during it use that one).

    A module opts in with ``pytestmark = pytest.mark.usefixtures("http_parser")``.
    """
    before = http_parser_module.selected()
    http_parser_module.use(request.param)
    try:
        yield request.param
    finally:
        http_parser_module.use(before)
