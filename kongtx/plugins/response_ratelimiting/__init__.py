"""The ``response-ratelimiting`` plugin (Kong's): limits on usage the upstream reports."""
