"""A tiny third-party kongtx plugin, loaded through the ``kongtx.plugins`` entry point group.

It is the example of docs/plugins.md: a package with ``handler`` and ``schema``
modules, declared in the plugin's own ``setup.py``::

    entry_points={"kongtx.plugins": ["example-header = kongtx_example"]}
"""
