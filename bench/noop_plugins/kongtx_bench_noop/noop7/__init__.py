"""``bench-noop-7``: does nothing (see kongtx_bench_noop)."""
