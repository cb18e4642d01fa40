"""The Admin API (Kong-compatible, generated from the schemas)."""

from __future__ import annotations

from kongtx.admin.app import AdminAPI

__all__ = ["AdminAPI"]
