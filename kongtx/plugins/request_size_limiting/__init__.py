"""The ``request-size-limiting`` plugin: refuses request bodies over a size limit."""
