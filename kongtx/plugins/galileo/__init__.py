"""galileo: Kong 0.x's Mashape Analytics (Galileo) plugin, ALF 1.1.0 batches to a collector."""
