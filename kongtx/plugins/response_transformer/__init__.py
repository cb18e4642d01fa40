"""response-transformer: change response headers and the JSON response body."""
