"""Shared test support: the real test upstream (:mod:`tests.support.upstream`)."""
