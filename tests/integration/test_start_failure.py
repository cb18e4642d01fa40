"""A start that cannot succeed ends ``twistd -n kongtx`` with a non-zero status and the reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.pg import create_database, drop_database

ROOT = Path(__file__).resolve().parents[2]


def _twistd(tmp_path: Path, conf: str) -> subprocess.CompletedProcess[bytes]:
    (tmp_path / "kongtx.conf").write_text(conf)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KONG_", "KONGTX_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from twisted.scripts.twistd import run; run()",
            "-n",
            "--pidfile=",
            "--logfile",
            str(tmp_path / "twistd.log"),
            "kongtx",
            "-c",
            str(tmp_path / "kongtx.conf"),
        ],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_unbootstrapped_postgres_exits_non_zero(tmp_path: Path) -> None:
    """A PostgreSQL database never bootstrapped: status 1, Kong's hint on stderr, nothing left running."""
    db = create_database()
    try:
        done = _twistd(
            tmp_path,
            f"prefix = {tmp_path / 'prefix'}\n"
            "database = postgres\n"
            f"pg_host = {db.host}\npg_port = {db.port}\npg_user = {db.user}\n"
            f"pg_database = {db.name}\n"
            "proxy_listen = 127.0.0.1:0\nadmin_listen = 127.0.0.1:0\nplugins = off\n",
        )
    finally:
        drop_database(db)
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert (
        b"Error: kongtx failed to start: Database needs bootstrapping; "
        b"run 'kongtx migrations bootstrap'" in done.stderr
    )


def test_taken_port_exits_non_zero(tmp_path: Path) -> None:
    """A proxy port already in use: status 1 and the bind error on stderr."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = _twistd(
            tmp_path,
            f"prefix = {tmp_path / 'prefix'}\n"
            f"proxy_listen = 127.0.0.1:{port}\nadmin_listen = 127.0.0.1:0\nplugins = off\n",
        )
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert b"Error: kongtx failed to start: " in done.stderr
    assert b"Address already in use" in done.stderr
