"""Queue settings of the plugins whose Kong versions have no ``queue`` record.

tcp-log, udp-log, file-log (and syslog, loggly) send each entry as Kong does,
but behind the same bounded queue as the others: entries of one reactor turn
go out together (no coalescing delay; a datagram sink sends a batch as that
many datagrams), at most 10,000 wait, a failed send is retried with back-off
(0.01 s doubling to 5 s) for 60 s, then dropped.
"""

from __future__ import annotations

from kongtx.logsinks.queue import QueueConf

__all__ = ["TRANSPORT_QUEUE"]

#: Batches of up to 1,000 entries, one in flight, no coalescing delay.
TRANSPORT_QUEUE = QueueConf(max_batch_size=1000, max_coalescing_delay=0, max_retry_delay=5.0)
