"""A real PostgreSQL server for a test: initdb into a temporary folder, pg_ctl start on a free port, stop after.

PostgreSQL refuses to run as root; under root (CI here) the server runs as the `postgres` system user. The
server listens on 127.0.0.1 only, with a password (scram) for its one role, which the test hands to Dagster
through the environment as a deployment would.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    db_name: str

    def env(self) -> dict[str, str]:
        """What deploy/dagster.postgres.yaml reads."""
        return {"DAGSTER_PG_HOST": self.host, "DAGSTER_PG_PORT": str(self.port), "DAGSTER_PG_USER": self.user,
                "DAGSTER_PG_PASSWORD": self.password, "DAGSTER_PG_DB": self.db_name}

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        import psycopg2  # comes with dagster-postgres

        with contextlib.closing(psycopg2.connect(host=self.host, port=self.port, user=self.user,
                                                 password=self.password, dbname=self.db_name)) as conn, \
                conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()


def _bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (Debian: apt-get install postgresql)")
    return str(found)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_postgres() -> Iterator[Postgres]:
    """The server, in a temporary folder of its own (pytest's tmp_path is root's alone; the server's user must
    reach its data), removed after."""
    with tempfile.TemporaryDirectory(prefix="crm-sync-pg-") as folder:
        os.chmod(folder, 0o711)
        yield from _serve(Path(folder))


def _serve(root: Path) -> Iterator[Postgres]:
    as_server = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data, sockets, pwfile = root / "data", root / "sockets", root / "pw"
    sockets.mkdir()
    server = Postgres("127.0.0.1", _free_port(), "crm_sync", secrets.token_urlsafe(16), "dagster")
    pwfile.write_text(server.password)
    if as_server:
        for path in (root, sockets, pwfile):
            shutil.chown(path, "postgres", "postgres")
    subprocess.run([*as_server, _bin("initdb"), "-D", str(data), "-U", server.user, "--pwfile", str(pwfile),
                    "--auth=scram-sha-256", "-E", "UTF8"], check=True, capture_output=True)
    pwfile.unlink()
    options = f"-p {server.port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_server, _bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "server.log"),
                    "-w", "-t", "60", "start"], check=True, capture_output=True)
    try:
        subprocess.run([*as_server, _bin("createdb"), "-h", str(sockets), "-p", str(server.port), "-U", server.user,
                        server.db_name], check=True, capture_output=True,
                       env={**os.environ, "PGPASSWORD": server.password})
        yield server
    finally:
        subprocess.run([*as_server, _bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True)
