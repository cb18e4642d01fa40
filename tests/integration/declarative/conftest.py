"""Stores for the declarative suites: an SQLite file or a throw-away PostgreSQL database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.pg import create_database, drop_database

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "declarative_samples")
SAMPLE_FILES = ("kong-1.1.json", "kong-2.1.yml", "kong-3.0.yml")


def sample_path(name: str) -> str:
    return os.path.abspath(os.path.join(SAMPLES, name))


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[dict[str, str]]:
    """kongtx settings (raw strings) of an empty database of each kind."""
    if request.param == "sqlite":
        yield {"database": "sqlite", "prefix": str(tmp_path / "prefix")}
        return
    db = create_database("kongtx_decl")
    try:
        settings = {k: str(v) for k, v in db.settings.items() if v is not None}
        yield {"database": "postgres", "prefix": str(tmp_path / "prefix"), **settings}
    finally:
        drop_database(db)


def load_settings(settings: dict[str, str]) -> Any:
    from kongtx.config import load_config

    return load_config(None, env={}, overrides=settings, search_default_paths=False)
