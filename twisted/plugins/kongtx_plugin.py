"""twistd dropin: ``twistd kongtx``; :mod:`kongtx.tap` is imported only when used."""

from __future__ import annotations

from twisted.application.service import ServiceMaker

kongtx = ServiceMaker("kongtx", "kongtx.tap", "Kong-compatible API gateway", "kongtx")
