"""``bench-noop-6``: does nothing (see kongtx_bench_noop)."""
