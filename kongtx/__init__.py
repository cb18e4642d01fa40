"""kongtx: a Kong-compatible API gateway on Twisted."""

from __future__ import annotations

__version__ = "0.1.0"
KONG_COMPAT_VERSION = "3.9.1"

__all__ = ["__version__", "KONG_COMPAT_VERSION"]
