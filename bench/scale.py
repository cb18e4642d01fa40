"""Configuration at scale: Admin writes as routes grow, route changes under traffic, a million
key-auth credentials, start-up with 100,000 routes. One command::

    python bench/scale.py                      # every part, the issue's sizes
    python bench/scale.py --only writes,churn  # some parts: writes churn credentials startup
    python bench/scale.py --routes 3000 --credentials 100000 --startup-routes 20000  # smaller

Parts (kongtx runs as ``twistd -n kongtx`` pinned to core 1; clients, wrk and the
nginx upstream on core 0, as ``bench/run`` lays them out):

* ``writes``: ``--routes`` routes created through the Admin API by 8 concurrent clients,
  on SQLite then PostgreSQL: writes/s over the first and the last 1,000. Then, with all of
  them in place: time from a route write to that route answering through the proxy, and
  proxied p99 of an unchanged route for ``--seconds`` with and without 10 route changes/s
  (non-2xx answers counted).
* ``credentials``: ``--credentials`` consumers with a key-auth key each bulk-loaded into
  PostgreSQL (COPY); key-auth req/s over a hot set of 1,000 keys (wrk), against the same
  with 1,000 credentials in total; gateway RSS; latency of cold misses (keys never used).
* ``startup``: ``--startup-routes`` routes bulk-loaded into SQLite; time from starting the
  node to its first proxied answer, and its RSS.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from importlib.machinery import SourceFileLoader
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
run = SourceFileLoader("bench_run", os.path.join(ROOT, "bench", "run")).load_module()

CLIENTS = 8


# --------------------------------------------------------------------------- helpers


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its children (the twistd process tree)."""
    total = 0
    out = subprocess.run(
        ["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    for line in out.split():
        total += int(line)
    return total / 1024.0


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


class Node:
    """One kongtx node (``twistd -n kongtx``) on SQLite or PostgreSQL, pinned to the proxy core."""

    def __init__(
        self,
        name: str,
        database: str,
        plugins: str = "off",
        pg: dict[str, str] | None = None,
        prefix: str | None = None,
        wait: bool = True,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.dir = os.path.join(run._tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.prefix = prefix or os.path.join(self.dir, "prefix")
        self.port, self.admin_port = run.free_port(), run.free_port()
        conf = os.path.join(self.dir, "kongtx.conf")
        lines = [
            f"prefix = {self.prefix}",
            f"database = {database}",
            f"proxy_listen = 127.0.0.1:{self.port}",
            f"admin_listen = 127.0.0.1:{self.admin_port}",
            "proxy_frontend = native",
            f"plugins = {plugins}",
            "proxy_access_log = off",
            "admin_access_log = off",
            "log_level = warn",
        ]
        lines += [f"{k} = {v}" for k, v in {**(pg or {}), **(extra or {})}.items()]
        with open(conf, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        self.log = os.path.join(self.dir, "kongtx.log")
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p),
        )
        env = {k: v for k, v in env.items() if not k.startswith(("KONG_", "KONGTX_"))}
        cmd = [
            sys.executable,
            "-c",
            "from twisted.scripts.twistd import run; run()",
            "-n",
            "--pidfile=",
            "--logfile",
            self.log,
            "kongtx",
            "-c",
            conf,
        ]
        self.started = time.monotonic()
        self.proc = run.start(cmd, self.log, run.PROXY_CORE, cwd=self.dir, env=env)
        self.admin = f"http://127.0.0.1:{self.admin_port}"
        self.proxy = f"http://127.0.0.1:{self.port}"
        if wait:
            run.wait_http(self.admin + "/", self.proc, self.log, timeout=600)

    def stop(self) -> None:
        run.stop(self.proc)


def make_pg() -> dict[str, str]:
    name = f"kongtx_scale_{os.getpid()}"
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", f"DROP DATABASE IF EXISTS {name}"],
        capture_output=True,
        check=False,
    )
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", f"CREATE DATABASE {name}"],
        capture_output=True,
        check=True,
    )
    settings = {
        "pg_host": "127.0.0.1",
        "pg_port": "5432",
        "pg_user": "postgres",
        "pg_database": name,
    }
    env = dict(
        os.environ,
        PYTHONPATH=ROOT,
        KONGTX_DATABASE="postgres",
        KONGTX_PLUGINS="key-auth",
        **{f"KONGTX_{k.upper()}": v for k, v in settings.items()},
    )
    subprocess.run(
        [sys.executable, "-m", "kongtx.cli", "migrations", "bootstrap"],
        env=env,
        capture_output=True,
        check=True,
        timeout=300,
    )
    return settings


def drop_pg(settings: dict[str, str]) -> None:
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-c",
            f"DROP DATABASE IF EXISTS {settings['pg_database']} WITH (FORCE)",
        ],
        capture_output=True,
        check=False,
    )


# --------------------------------------------------------------------------- writes / churn


def create_routes(node: Node, count: int) -> list[float]:
    """``count`` routes by 8 concurrent clients; the completion time of each write, in order."""
    status, body = http("POST", node.admin + "/services", {"name": "bench", "url": UPSTREAM_URL[0]})
    assert status == 201, body
    done: list[float] = []
    lock = threading.Lock()
    counter = iter(range(count))

    def client() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            status, body = http(
                "POST",
                node.admin + "/services/bench/routes",
                {"name": f"r{i}", "paths": [f"/r{i}"]},
            )
            if status != 201:
                raise SystemExit(f"route {i}: {status} {body[:200]!r}")
            with lock:
                done.append(time.monotonic())

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(done)


def rate(times: list[float], start: float) -> float:
    return len(times) / max(1e-9, times[-1] - start)


def write_figures(node: Node, count: int) -> dict[str, float]:
    started = time.monotonic()
    done = create_routes(node, count)
    first = done[:1000]
    last = done[-1000:]
    return {
        "first_1000_wps": rate(first, started),
        "last_1000_wps": len(last) / max(1e-9, last[-1] - done[-1001])
        if len(done) > 1000
        else rate(last, started),
        "total_s": done[-1] - started,
    }


def route_latency(node: Node, samples: int = 20) -> list[float]:
    """ms from sending a route write to that route's first 200 through the proxy."""
    out = []
    for j in range(samples):
        t0 = time.monotonic()
        status, body = http(
            "POST",
            node.admin + "/services/bench/routes",
            {"name": f"new{j}", "paths": [f"/new{j}"]},
        )
        assert status == 201, body
        while http("GET", f"{node.proxy}/new{j}")[0] != 200:
            pass
        out.append((time.monotonic() - t0) * 1000)
    return out


def churn(node: Node, seconds: int, changes_per_s: float) -> dict[str, float]:
    """wrk on an unchanged route while a thread changes other routes ``changes_per_s`` times/s."""
    stop = threading.Event()
    made = [0]

    def change(i: int) -> None:
        status, _ = http("PATCH", f"{node.admin}/routes/r{i % 500 + 1000}", {"paths": [f"/c{i}"]})
        if status == 200:
            made[0] += 1

    def changer() -> None:
        # one write every 1/changes_per_s seconds, each in its own thread: a slow answer
        # does not lower the rate asked for
        i = 0
        next_at = time.monotonic()
        while not stop.is_set():
            threading.Thread(target=change, args=(i,), daemon=True).start()
            i += 1
            next_at += 1.0 / changes_per_s
            stop.wait(max(0.0, next_at - time.monotonic()))

    thread = threading.Thread(target=changer)
    if changes_per_s:
        thread.start()
    try:
        result = run.wrk(f"{node.proxy}/r5", seconds)
    finally:
        stop.set()
        if changes_per_s:
            thread.join()
    result["changes"] = made[0]
    return result


def part_writes(opts: argparse.Namespace) -> None:
    for database in ("sqlite", "postgres"):
        pg = make_pg() if database == "postgres" else None
        node = Node(f"writes-{database}", database, pg=pg)
        try:
            figures = write_figures(node, opts.routes)
            print(
                f"[writes] {database}: {opts.routes} routes in {figures['total_s']:.1f} s; "
                f"first 1,000: {figures['first_1000_wps']:.0f} writes/s, "
                f"last 1,000: {figures['last_1000_wps']:.0f} writes/s "
                f"(ratio {figures['last_1000_wps'] / figures['first_1000_wps']:.2f})",
                flush=True,
            )
            if database == "sqlite":
                lat = route_latency(node)
                print(
                    f"[latency] route write -> first proxied 200 with {opts.routes} routes: "
                    f"median {statistics.median(lat):.1f} ms, max {max(lat):.1f} ms ({len(lat)} writes)",
                    flush=True,
                )
                quiet = churn(node, opts.seconds, 0)
                busy = churn(node, opts.seconds, 10)
                print(
                    f"[churn] unchanged route, {opts.seconds} s: p99 {quiet['p99']:.1f} ms "
                    f"({quiet['rps']:.0f} req/s) without changes; p99 {busy['p99']:.1f} ms "
                    f"({busy['rps']:.0f} req/s) with {busy['changes'] / opts.seconds:.1f} changes/s "
                    f"(ratio {busy['p99'] / quiet['p99']:.2f}); non-2xx or errors: "
                    f"{int(quiet['errors'])} / {int(busy['errors'])}",
                    flush=True,
                )
        finally:
            node.stop()
            if pg:
                drop_pg(pg)


# --------------------------------------------------------------------------- credentials


def bulk_credentials(pg: dict[str, str], count: int) -> None:
    """``count`` consumers with one key-auth key each (``key-<i>``), by COPY."""
    from kongtx.store.pgdriver import psycopg2

    conn = psycopg2.connect(
        host=pg["pg_host"], port=int(pg["pg_port"]), user=pg["pg_user"], dbname=pg["pg_database"]
    )
    now = int(time.time())
    batch = 200000
    with conn, conn.cursor() as cur:
        for start in range(0, count, batch):
            consumers, keys = io.StringIO(), io.StringIO()
            cw, kw = csv.writer(consumers), csv.writer(keys)
            for i in range(start, min(count, start + batch)):
                cid = str(uuid.UUID(int=i + 1))
                cw.writerow([cid, now, now, f"user-{i}"])
                kw.writerow([str(uuid.UUID(int=(1 << 100) + i)), now, cid, f"key-{i}"])
            consumers.seek(0)
            keys.seek(0)
            cur.copy_expert(
                "COPY consumers (id, created_at, updated_at, username) FROM STDIN WITH CSV",
                consumers,
            )
            cur.copy_expert(
                'COPY keyauth_credentials (id, created_at, consumer_id, "key") FROM STDIN WITH CSV',
                keys,
            )
        cur.execute("ANALYZE")
    conn.close()


_HOT_LUA = """
local hot = %d
local i = 0
request = function()
  i = (i + 1) %% hot
  return wrk.format("GET", "/", {["apikey"] = "key-" .. i})
end
"""


def wrk_hot(url: str, seconds: int, hot: int) -> dict[str, float]:
    script = os.path.join(run._tmp, f"hot{hot}.lua")
    with open(script, "w") as fh:
        fh.write(_HOT_LUA % hot)
    cmd = [
        "taskset",
        "-c",
        run.CLIENT_CORE,
        "wrk",
        "-t1",
        f"-c{run.CONNECTIONS}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        script,
        url,
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    return run.parse_wrk(out)


def credentials_run(opts: argparse.Namespace, count: int) -> dict[str, float]:
    pg = make_pg()
    try:
        t0 = time.monotonic()
        bulk_credentials(pg, count)
        loaded = time.monotonic() - t0
        node = Node(f"cred-{count}", "postgres", plugins="key-auth", pg=pg)
        try:
            http("POST", node.admin + "/services", {"name": "bench", "url": UPSTREAM_URL[0]})
            http("POST", node.admin + "/services/bench/routes", {"name": "bench", "paths": ["/"]})
            http("POST", node.admin + "/plugins", {"name": "key-auth"})
            run.wait_http(node.proxy + "/", node.proc, node.log, headers={"apikey": "key-0"})
            wrk_hot(node.proxy + "/", 3, 1000)  # warm: the hot set is cached
            result = wrk_hot(node.proxy + "/", opts.seconds, 1000)
            result["rss"] = rss_mib(node.proc.pid)
            cold = []
            for i in range(200):
                key = f"key-{count - 1 - i * max(1, (count - 1000) // 200)}"
                t = time.monotonic()
                status, _ = http("GET", node.proxy + "/", headers={"apikey": key})
                cold.append((time.monotonic() - t) * 1000)
                assert status == 200, status
            result["cold_p50"], result["cold_p99"] = statistics.median(cold), pct(cold, 99)
            result["load_s"] = loaded
            return result
        finally:
            node.stop()
    finally:
        drop_pg(pg)


def part_credentials(opts: argparse.Namespace) -> None:
    small = credentials_run(opts, 1000)
    large = credentials_run(opts, opts.credentials)
    print(
        f"[credentials] {opts.credentials:,} key-auth credentials in PostgreSQL (loaded in "
        f"{large['load_s']:.0f} s): gateway RSS {large['rss']:.0f} MiB; hot set of 1,000 keys "
        f"{large['rps']:.0f} req/s (p99 {large['p99']:.1f} ms) vs {small['rps']:.0f} req/s with 1,000 "
        f"credentials in total (ratio {large['rps'] / small['rps']:.2f}); cold miss p50 "
        f"{large['cold_p50']:.1f} ms, p99 {large['cold_p99']:.1f} ms "
        f"(1,000-credential run: RSS {small['rss']:.0f} MiB)",
        flush=True,
    )


# --------------------------------------------------------------------------- startup


def part_startup(opts: argparse.Namespace) -> None:
    import sqlite3

    node = Node("startup", "sqlite")  # creates and migrates the database, then stops
    http("POST", node.admin + "/services", {"name": "bench", "url": UPSTREAM_URL[0]})
    status, body = http("GET", node.admin + "/services/bench")
    service_id = json.loads(body)["id"]
    prefix = node.prefix
    node.stop()
    db = sqlite3.connect(os.path.join(prefix, "kongtx.db"))
    now = int(time.time())
    rows = [
        (
            str(uuid.UUID(int=(1 << 90) + i)),
            now,
            now,
            f"r{i}",
            '["http","https"]',
            f'["/r{i}"]',
            426,
            0,
            1,
            "v0",
            0,
            1,
            1,
            service_id,
        )
        for i in range(opts.startup_routes)
    ]
    db.executemany(
        "INSERT INTO routes (id, created_at, updated_at, name, protocols, paths, https_redirect_status_code,"
        " regex_priority, strip_path, path_handling, preserve_host, request_buffering, response_buffering,"
        " service_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    db.commit()
    db.close()
    t0 = time.monotonic()
    node = Node("startup2", "sqlite", prefix=prefix, wait=False)
    try:
        run.wait_http(f"{node.proxy}/r{opts.startup_routes - 1}", node.proc, node.log, timeout=900)
        took = time.monotonic() - t0
        print(
            f"[startup] {opts.startup_routes:,} routes (SQLite): first proxied answer after "
            f"{took:.1f} s; RSS {rss_mib(node.proc.pid):.0f} MiB",
            flush=True,
        )
    finally:
        node.stop()


# --------------------------------------------------------------------------- main

UPSTREAM_URL: list[str] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="writes,credentials,startup")
    parser.add_argument("--routes", type=int, default=10000)
    parser.add_argument("--credentials", type=int, default=1000000)
    parser.add_argument("--startup-routes", type=int, default=100000)
    parser.add_argument("--seconds", type=int, default=30)
    opts = parser.parse_args()
    run.ensure_tools(False)
    upstream = run.free_port()
    run.start_upstream(upstream)
    UPSTREAM_URL.append(f"http://127.0.0.1:{upstream}/")
    print(
        f"kongtx scale bench on {os.cpu_count()} cores ({run._cpu_model()}); load average "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )
    parts = {"writes": part_writes, "credentials": part_credentials, "startup": part_startup}
    for name in opts.only.split(","):
        parts[name.strip()](opts)


if __name__ == "__main__":
    main()
