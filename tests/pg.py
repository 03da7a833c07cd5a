"""A throwaway PostgreSQL cluster for tests and benchmarks: initdb + pg_ctl on a free 127.0.0.1 port, in a temp dir.

Password authentication (scram-sha-256) over TCP, so a wrong password is really refused. initdb refuses to run
as root: as root the cluster is made and run by the `postgres` user, in a temp dir given to that user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

USER = "cnpj_test"
# Characters that need URL-quoting: the DSN code must not trip on them, and redaction must still hide them.
PASSWORD = "s3cr3t-Pa%ss:word"
DATABASE = "cnpj_test"


@dataclass(frozen=True)
class PgServer:
    """A running cluster: where it listens, who may log in, and where its files are."""

    bin_dir: Path
    root: Path
    port: int
    host: str = "127.0.0.1"
    user: str = USER
    password: str = PASSWORD
    database: str = DATABASE

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def dsn(self, password: str | None = None, port: int | None = None, database: str | None = None) -> str:
        """A postgresql:// URL for this server (another password, port or database for the failure tests)."""
        secret = quote(self.password if password is None else password, safe="")
        return (
            f"postgresql://{quote(self.user, safe='')}:{secret}@{self.host}:{port or self.port}/"
            f"{database or self.database}"
        )

    def psql(self, sql: str, database: str | None = None) -> str:
        """Run SQL with psql (unaligned, tuples only) and return its output: a check independent of the code."""
        env = {**os.environ, "PGPASSWORD": self.password}
        out = subprocess.run(
            [
                str(self.bin_dir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database or self.database,
                "-c",
                sql,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode != 0:
            raise RuntimeError(f"psql failed: {out.stderr.strip()}")
        return out.stdout.strip()


def find_bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: PATH first, then Debian's /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    if on_path:
        folder = Path(os.path.realpath(on_path)).parent
        if (folder / "pg_ctl").is_file() and (folder / "postgres").is_file():
            return folder
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(args: list[str]) -> list[str]:
    """Run a server program as `postgres` when we are root (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return args
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "postgres", "--", *args]
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *args]


def start_server(settings: dict[str, str] | None = None) -> PgServer:
    """Create and start a cluster; raises RuntimeError with initdb's or the server's words when it cannot."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("no PostgreSQL server binaries (initdb) on PATH or in /usr/lib/postgresql/*/bin")
    root = Path(tempfile.mkdtemp(prefix="cnpj-duck-pg-"))
    try:
        return _start(bin_dir, root, settings or {})
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _start(bin_dir: Path, root: Path, settings: dict[str, str]) -> PgServer:
    (root / "pwfile").write_text(PASSWORD + "\n", encoding="utf-8")
    (root / "socket").mkdir()
    if os.geteuid() == 0:
        import pwd

        owner = pwd.getpwnam("postgres")
        for path in (root, root / "pwfile", root / "socket"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    run = subprocess.run(
        _as_server_user(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                USER,
                "--pwfile",
                str(root / "pwfile"),
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-sync",
                "--locale=C.UTF-8",
            ]
        ),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if run.returncode != 0:
        raise RuntimeError(f"initdb failed: {run.stderr.strip() or run.stdout.strip()}")
    options = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(root / "socket"),
        # A throwaway cluster: durability buys nothing here, and tests and benchmarks share 2 cores.
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_wal_size": "4GB",
        "shared_buffers": "256MB",
        **settings,
    }
    for attempt in range(5):
        port = free_port()
        conf = "".join(f"{k} = '{v}'\n" for k, v in {**options, "port": str(port)}.items())
        (root / "data" / "postgresql.auto.conf").write_text(conf, encoding="utf-8")
        started = subprocess.run(
            _as_server_user(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(root / "data"),
                    "-l",
                    str(root / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            capture_output=True,
            text=True,
            env=env,
            timeout=90,
        )
        if started.returncode == 0:
            server = PgServer(bin_dir, root, port)
            server.psql(f"CREATE DATABASE {DATABASE}", database="postgres")
            return server
        log = (
            (root / "server.log").read_text(encoding="utf-8", errors="replace")
            if (root / "server.log").exists()
            else ""
        )
        if "already in use" not in log or attempt == 4:  # another process took the port between the check and us
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()} {log[-2000:]}")
        time.sleep(0.2)
    raise AssertionError("unreachable")


def stop_server(server: PgServer) -> None:
    """Stop the cluster at once and delete its files."""
    subprocess.run(
        _as_server_user([str(server.bin_dir / "pg_ctl"), "-D", str(server.data_dir), "-m", "immediate", "-w", "stop"]),
        capture_output=True,
        timeout=60,
    )
    shutil.rmtree(server.root, ignore_errors=True)
