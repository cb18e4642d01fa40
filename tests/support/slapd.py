"""A real OpenLDAP ``slapd`` for the ldap-auth tests, in a temporary directory.

:class:`Slapd` seeds a small directory (``dc=example,dc=com``, users under
``ou=people``) with ``slapadd``, then runs slapd in the foreground on two free
loopback ports: ``ldap://`` (plain, StartTLS offered) and ``ldaps://``, both
with a server certificate (SAN ``localhost`` and ``127.0.0.1``) issued by a CA
generated here. :meth:`stop` / :meth:`start` take it down and bring it back on
the same ports (the "server went away" tests).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from kongtx.tls import make_certificate

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"
SCHEMA_DIR = "/etc/ldap/schema"
MODULE_DIR = "/usr/lib/ldap"

BASE_DN = "ou=people,dc=example,dc=com"
#: uid -> password of the seeded users.
USERS = {
    "einstein": "password",
    "curie": "rad:ium",
    "newton": "apple",
    "tesla": "Zz-Unique-Secret-77",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed() -> str:
    entries = [
        "dn: dc=example,dc=com\nobjectClass: dcObject\nobjectClass: organization\n"
        "dc: example\no: Example",
        "dn: ou=people,dc=example,dc=com\nobjectClass: organizationalUnit\nou: people",
    ]
    for uid, password in USERS.items():
        entries.append(
            f"dn: uid={uid},{BASE_DN}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
            f"cn: {uid.title()}\nsn: {uid.title()}\nuserPassword: {password}"
        )
    return "\n\n".join(entries) + "\n"


class Slapd:
    """One slapd process (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.tls_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.ca_pem, ca_key = make_certificate("kongtx test LDAP CA", is_ca=True)
        cert, key = make_certificate(
            "localhost", sans=["localhost", "127.0.0.1"], issuer=(self.ca_pem, ca_key)
        )
        (directory / "db").mkdir(parents=True, exist_ok=True)
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self.ca_pem)
        (directory / "server.pem").write_bytes(cert)
        (directory / "server.key").write_bytes(key)
        os.chmod(directory / "server.key", 0o600)
        self.conf = directory / "slapd.conf"
        self.conf.write_text(
            "\n".join(
                [
                    f"include {SCHEMA_DIR}/core.schema",
                    f"include {SCHEMA_DIR}/cosine.schema",
                    f"include {SCHEMA_DIR}/inetorgperson.schema",
                    f"modulepath {MODULE_DIR}",
                    "moduleload back_mdb",
                    f"pidfile {directory}/slapd.pid",
                    f"TLSCACertificateFile {self.ca_file}",
                    f"TLSCertificateFile {directory}/server.pem",
                    f"TLSCertificateKeyFile {directory}/server.key",
                    "database mdb",
                    "maxsize 10485760",
                    'suffix "dc=example,dc=com"',
                    'rootdn "cn=admin,dc=example,dc=com"',
                    "rootpw admin-secret",
                    f"directory {directory}/db",
                    "access to attrs=userPassword by anonymous auth by * none",
                    "access to * by * read",
                    "",
                ]
            )
        )
        seed = directory / "seed.ldif"
        seed.write_text(_seed())
        subprocess.run(
            [SLAPADD, "-f", str(self.conf), "-l", str(seed)],
            check=True,
            capture_output=True,
        )

    @property
    def urls(self) -> str:
        return f"ldap://127.0.0.1:{self.port}/ ldaps://127.0.0.1:{self.tls_port}/"

    def start(self) -> None:
        """Run slapd in the foreground (``-d 0``) and wait until both ports accept."""
        log = open(self.dir / "slapd.log", "ab")  # noqa: SIM115 - kept by the process
        self.process = subprocess.Popen(
            [SLAPD, "-f", str(self.conf), "-h", self.urls, "-d", "0"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 15
        for port in (self.port, self.tls_port):
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        "slapd exited: " + (self.dir / "slapd.log").read_text(errors="replace")
                    )
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("slapd did not start listening") from None
                    time.sleep(0.05)

    def stop(self) -> None:
        """Terminate slapd and wait for it to exit."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
