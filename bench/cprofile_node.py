"""Run one kongtx node under cProfile (``bench/run --profile`` fallback when py-spy can't attach).

Usage: ``python bench/cprofile_node.py kongtx.conf OUT.prof``. Stats are written
when the process receives SIGTERM or SIGINT (the reactor stops cleanly first).
"""

from __future__ import annotations

import cProfile
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(conf: str, out: str) -> None:
    """Start the node, profile until stopped, dump the stats to ``out``."""
    from twisted.internet import reactor

    from kongtx.config import load_config
    from kongtx.service import build_gateway

    node = build_gateway(reactor, load_config(conf))
    profiler = cProfile.Profile()

    def start() -> None:
        node.startService()
        node.ready.addErrback(lambda f: (print(f.getTraceback(), file=sys.stderr), reactor.stop()))
        profiler.enable()

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", profiler.disable)
    reactor.addSystemEventTrigger("before", "shutdown", node.stopService)
    reactor.run()
    profiler.dump_stats(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
