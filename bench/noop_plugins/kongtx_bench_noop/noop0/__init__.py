"""``bench-noop-0``: does nothing (see kongtx_bench_noop)."""
