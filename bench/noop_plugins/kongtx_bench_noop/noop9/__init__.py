"""``bench-noop-9``: does nothing (see kongtx_bench_noop)."""
