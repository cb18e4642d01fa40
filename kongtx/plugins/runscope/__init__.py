"""runscope: Kong 0.x's Runscope plugin, one message per request to a Runscope bucket."""
