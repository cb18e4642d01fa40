"""``bench-noop-3``: does nothing (see kongtx_bench_noop)."""
