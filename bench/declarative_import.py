"""Time ``kongtx config db_import`` of a large file: 10,000 services with a route each and
100,000 consumers with a key-auth credential each (the issue's figures).

Usage::

    python bench/declarative_import.py --database sqlite [--services 10000 --consumers 100000]
    python bench/declarative_import.py --database postgres --pg-database NAME   # an empty, bootstrapped database

Prints the time to read and validate the file and the time to write it, each phase
separately, then the total. The database must be empty (SQLite: a fresh prefix).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_document(services: int, consumers: int, generation: int = 0) -> dict[str, Any]:
    """The benchmark's declarative document (``generation`` varies upstreams and keys)."""
    return {
        "_format_version": "3.0",
        "services": [
            {
                "name": f"svc-{i}",
                "url": f"http://10.{generation}.{i // 250}.{i % 250}:8080/",
                "routes": [{"name": f"route-{i}", "paths": [f"/svc-{i}"]}],
            }
            for i in range(services)
        ],
        "consumers": [
            {"username": f"user-{i}", "keyauth_credentials": [{"key": f"key-{generation}-{i:08d}"}]}
            for i in range(consumers)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--consumers", type=int, default=100000)
    parser.add_argument("--pg-database", default="kongtx_bench")
    args = parser.parse_args()

    from twisted.internet import task
    from twisted.internet.defer import Deferred

    from kongtx.config import load_config
    from kongtx.declarative import parse_text
    from kongtx.declarative.load import import_parsed
    from kongtx.plugins.base import load_plugins
    from kongtx.schema import registry
    from kongtx.store import open_store

    load_plugins(["bundled"])
    workdir = tempfile.mkdtemp(prefix="kongtx-bench-")
    path = os.path.join(workdir, "kong.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(make_document(args.services, args.consumers), fh)
    settings = {"database": args.database, "prefix": os.path.join(workdir, "prefix")}
    if args.database == "postgres":
        settings["pg_database"] = args.pg_database
        settings["pg_user"] = "postgres"
    config = load_config(None, env={}, overrides=settings, search_default_paths=False)

    async def run(reactor: Any) -> None:
        started = time.perf_counter()
        with open(path, "rb") as fh:
            parsed = parse_text(fh.read(), registry, time.time())
        parsed_at = time.perf_counter()
        dao = await open_store(config, reactor, auto_migrate=True)
        try:
            opened_at = time.perf_counter()
            counts = await import_parsed(dao, parsed)
            done = time.perf_counter()
        finally:
            await dao.close()
        total = sum(counts.values())
        print(f"{args.database}: {total} entities ({counts})")
        print(f"  read + validate: {parsed_at - started:.1f} s")
        print(f"  write (one transaction): {done - opened_at:.1f} s")
        print(f"  total: {done - started:.1f} s")

    task.react(lambda reactor: Deferred.fromCoroutine(run(reactor)))


if __name__ == "__main__":
    main()
