"""What differs between the Python runtimes the suite runs on (CPython, PyPy)."""

from __future__ import annotations

import platform

import pytest

PYPY = platform.python_implementation() == "PyPy"

#: A test whose assertion is a process RSS figure. CPython frees each relayed chunk when
#: its last reference goes; PyPy's collector frees them at its next major collection,
#: whose threshold scales with the whole heap (hundreds of MiB in a full run), so there the
#: figure measures the collector, not what kongtx buffers. The buffering bounds themselves
#: are asserted by the tests on ``buffered_size`` and pause/resume, which run everywhere.
rss_figure = pytest.mark.skipif(
    PYPY, reason="RSS figure: PyPy's GC frees garbage at heap-scaled major collections"
)

#: A test that asserts when (or in which thread) an object is freed as its last reference
#: goes: CPython's reference counting; PyPy frees it at a later collection.
refcount_cleanup = pytest.mark.skipif(
    PYPY, reason="refcount-based cleanup: PyPy frees objects at its next collection"
)
