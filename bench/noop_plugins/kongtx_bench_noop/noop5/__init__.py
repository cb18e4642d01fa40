"""``bench-noop-5``: does nothing (see kongtx_bench_noop)."""
