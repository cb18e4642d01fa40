"""correlation-id: tag each request with a unique id (upstream header, log entry, echo)."""
