"""Shared pytest configuration: pytest-twisted drives the global reactor for integration tests."""

from __future__ import annotations
