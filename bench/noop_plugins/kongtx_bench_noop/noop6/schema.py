from kongtx_bench_noop import CONFIG

__all__ = ["CONFIG"]
