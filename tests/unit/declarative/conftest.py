"""Every bundled plugin loaded, as a node with ``plugins = bundled`` has them."""

from __future__ import annotations

import os

import pytest

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "declarative_samples")


@pytest.fixture(scope="module")
def registry():
    from kongtx.plugins.base import load_plugins
    from kongtx.schema import registry as default

    load_plugins(["bundled"])
    yield default
    default.set_enabled_plugins(None)  # as before: every registered plugin usable


def sample(name: str) -> str:
    """The text of a sample file in ``tests/declarative_samples``."""
    with open(os.path.join(SAMPLES, name), encoding="utf-8") as fh:
        return fh.read()
