"""Log sinks: Kong's log serializer and the native transports behind bounded queues.

* :mod:`~kongtx.logsinks.serializer`: ``kong.log.serialize()`` (pure);
* :mod:`~kongtx.logsinks.custom_fields`: per-plugin fields added to an entry;
* :mod:`~kongtx.logsinks.queue`: Kong's queue (batching, retries, bounds, drop counts);
* :mod:`~kongtx.logsinks.tcp`, :mod:`~kongtx.logsinks.udp`,
  :mod:`~kongtx.logsinks.http`, :mod:`~kongtx.logsinks.file`: the transports;
* :mod:`~kongtx.logsinks.plugin`: the base of the log plugins' handlers.
"""
