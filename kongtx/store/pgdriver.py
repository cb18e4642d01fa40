"""The PostgreSQL driver module, the same name on every runtime.

CPython uses ``psycopg2`` (psycopg2-binary). PyPy has no build of it and uses
``psycopg2cffi``, which has the same API: it is registered under the name
``psycopg2`` (with its submodules, so ``psycopg2.extensions`` is one module,
not a second copy) before anything imports the driver. setup.py installs the
right one by environment marker. Import the driver from here::

    from kongtx.store.pgdriver import psycopg2
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

#: psycopg2cffi submodules that stand for psycopg2's.
_SUBMODULES = ("extensions", "extras", "errorcodes", "pool", "tz")


def install() -> str:
    """Make ``import psycopg2`` work and return the driver's name.

    A no-op where psycopg2 is installed; else psycopg2cffi is registered in its
    place. Where neither is, ``import psycopg2`` raises the usual ImportError.
    """
    if "psycopg2" in sys.modules:
        return getattr(sys.modules["psycopg2"], "__name__", "psycopg2")
    if importlib.util.find_spec("psycopg2") is not None:
        return "psycopg2"
    if importlib.util.find_spec("psycopg2cffi") is None:
        return "psycopg2"
    driver = importlib.import_module("psycopg2cffi")
    sys.modules["psycopg2"] = driver
    for name in _SUBMODULES:
        sys.modules["psycopg2." + name] = importlib.import_module("psycopg2cffi." + name)
    return "psycopg2cffi"


DRIVER = install()

import psycopg2  # noqa: E402 - after install(), which may register psycopg2cffi as psycopg2
import psycopg2.extensions  # noqa: E402

__all__ = ["DRIVER", "install", "psycopg2"]
