"""``bench-noop-2``: does nothing (see kongtx_bench_noop)."""
