"""Process limits a gateway process raises at start (as Kong does for its nginx workers)."""

from __future__ import annotations

import resource

from twisted.logger import Logger

__all__ = ["raise_open_files_limit"]

log = Logger()


def raise_open_files_limit() -> int:
    """Raise the open-file soft limit (``RLIMIT_NOFILE``) to the hard limit and log it.

    Every client and upstream connection is a file descriptor: a soft limit of 1024
    makes a busy gateway refuse connections long before the machine is busy.

    :returns: the soft limit in force afterwards.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if target == resource.RLIM_INFINITY:
        target = _kernel_open_files_max(soft)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warn(
                "cannot raise the open files limit from {soft} to {target}: {error}",
                soft=soft,
                target=target,
                error=exc,
            )
            return soft
        log.info("open files limit raised from {soft} to {target}", soft=soft, target=target)
        return target
    log.info("open files limit: {soft}", soft=soft)
    return soft


def _kernel_open_files_max(current: int) -> int:
    """``fs.nr_open`` (the most a process may have) when the hard limit is unlimited."""
    try:
        with open("/proc/sys/fs/nr_open") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return current
