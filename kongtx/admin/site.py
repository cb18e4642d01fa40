"""The Admin API's twisted.web Site, with nginx's limits for the admin server block."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from twisted.web.resource import IResource
from twisted.web.server import Site

from kongtx.http.webchannel import DEFAULT_HEADER_TIMEOUT, GuardedChannel, LimitedRequest

if TYPE_CHECKING:
    from kongtx.config import Config

__all__ = ["AdminSite"]


class AdminSite(Site):
    """Serves the Admin API resource.

    :param max_body_size: ``nginx_admin_client_max_body_size`` in bytes (0: none); larger
        bodies get nginx's 413 before they are read.
    :param header_timeout: ``nginx_admin_client_header_timeout``: seconds for a request head.
    """

    protocol = GuardedChannel  # type: ignore[assignment]
    requestFactory = LimitedRequest
    noisy = False
    #: Called with each finished request (the node's admin/status access log); None: none.
    access_log: Callable[[Any], None] | None = None

    def __init__(
        self,
        resource: IResource,
        *,
        max_body_size: int = 0,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        reactor: Any = None,
    ) -> None:
        super().__init__(resource, reactor=reactor)
        self.max_body_size = max_body_size
        self.header_timeout = header_timeout

    def log(self, request: Any) -> None:
        """twisted.web's access log hook: hand the request to :attr:`access_log`."""
        if self.access_log is not None:
            self.access_log(request)

    @classmethod
    def from_config(
        cls, resource: IResource, config: Config | None, reactor: Any = None
    ) -> AdminSite:
        """The site for ``config``'s ``nginx_admin_*`` limits."""
        return cls(
            resource,
            max_body_size=config.nginx_admin_client_max_body_size if config else 0,
            header_timeout=(
                config.nginx_admin_client_header_timeout if config else DEFAULT_HEADER_TIMEOUT
            ),
            reactor=reactor,
        )
