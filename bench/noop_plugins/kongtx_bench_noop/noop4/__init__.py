"""``bench-noop-4``: does nothing (see kongtx_bench_noop)."""
