"""Bundled plugins, one package each (``key-auth`` lives in ``key_auth/``); see :mod:`kongtx.plugins.base`."""
