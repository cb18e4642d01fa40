"""``bench-noop-1``: does nothing (see kongtx_bench_noop)."""
