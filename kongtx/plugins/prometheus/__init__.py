"""prometheus: Kong's metrics, exposed at ``GET /metrics`` on the Admin and Status APIs."""
