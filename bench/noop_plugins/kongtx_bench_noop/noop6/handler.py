from kongtx_bench_noop import noop_handler

Handler = noop_handler(6)
