"""``bench-noop-8``: does nothing (see kongtx_bench_noop)."""
