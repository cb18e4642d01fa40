"""The ``request-termination`` plugin: answers requests itself with a fixed response."""
