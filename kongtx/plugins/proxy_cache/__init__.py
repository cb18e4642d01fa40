"""The ``proxy-cache`` plugin (Kong's), memory strategy: responses cached in this process."""
