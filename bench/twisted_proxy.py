"""Scenario (e) of ``bench/run``: the stock ``twisted.web.proxy.ReverseProxyResource``.

Usage: ``python bench/twisted_proxy.py LISTEN_PORT UPSTREAM_PORT``; listens on
127.0.0.1 and forwards every request to ``127.0.0.1:UPSTREAM_PORT`` (a new
upstream connection per request, HTTP/1.0: that is what the stock resource does).
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    """Serve until killed."""
    listen, upstream = int(argv[1]), int(argv[2])
    from twisted.internet import reactor
    from twisted.web.proxy import ReverseProxyResource
    from twisted.web.server import Site

    site = Site(ReverseProxyResource("127.0.0.1", upstream, b""))
    site.noisy = False
    site.log = lambda request: None  # no access log, as for every other scenario
    reactor.listenTCP(listen, site, interface="127.0.0.1")
    reactor.run()


if __name__ == "__main__":
    main(sys.argv)
