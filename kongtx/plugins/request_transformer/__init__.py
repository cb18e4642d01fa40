"""request-transformer: change the upstream request (method, URI, headers, query, body)."""
