"""A throwaway PostgreSQL cluster for the test session.

`start_cluster()` finds the server binaries (PATH, then /usr/lib/postgresql/*/bin, newest
first), runs `initdb` into a fresh temporary directory and starts the server listening only
on 127.0.0.1 (a free port) and on a unix socket inside that directory, with durability off
(`fsync=off`: a test cluster is thrown away) unless `settings` say otherwise (the ingest
benchmark runs with fsync and synchronous_commit on). `create_database()` returns a SQLAlchemy URL
(`postgresql+psycopg://...`) for a new, empty database. `stop()` shuts the server down and
deletes the directory.

initdb and postgres refuse to run as root, so as root both run as the `postgres` system
user (or `nobody` when there is none) through `runuser`/`setpriv`/`su`, with the temporary
directory handed to that user. TCP logins need a random password (scram-sha-256); only the
unix socket, inside a directory no one else can enter, trusts its peer.

When no binaries exist `start_cluster` raises `PostgresUnavailable`, which a fixture turns
into a skip (or a failure when LOOKOUT_REQUIRE_POSTGRES=1, for a CI that must run them).
Any other failure to start is a real error and says why, with the server's log.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "lookout"
START_TIMEOUT_S = 60


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine: the caller should skip."""


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or None."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent

    def version(path: str) -> tuple[int, ...]:
        m = re.search(r"/postgresql/([\d.]+)/bin$", path)
        return tuple(int(x) for x in m.group(1).split(".") if x) if m else (0,)

    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        d = Path(cand)
        if all((d / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as_prefix(user: str) -> list[str]:
    """argv prefix that runs a command as `user` (we are root)."""
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--"]
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid", user, "--regid", user, "--init-groups", "--"]
    raise PostgresUnavailable("running as root and neither runuser nor setpriv is available")


def _service_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresUnavailable("running as root and there is no 'postgres' or 'nobody' user")


@dataclass
class PostgresCluster:
    bindir: Path
    root: Path  # the temporary directory: data/, socket, log
    port: int
    password: str
    prefix: list[str] = field(default_factory=list)  # run-as-user argv prefix (root only)
    #: server settings over the test defaults (a benchmark wants fsync=on)
    settings: dict[str, str] = field(default_factory=dict)
    _dbs: int = 0
    _running: bool = False

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def _pg(self, exe: str, *args: str, timeout: float = START_TIMEOUT_S) -> str:
        argv = [*self.prefix, str(self.bindir / exe), *args]
        done = subprocess.run(
            argv,
            cwd=self.root,  # a directory the service user can enter
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "LC_ALL": "C", "PGTZ": "UTC"},
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{exe} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
                f"{self._log_tail()}"
            )
        return done.stdout

    def _log_tail(self) -> str:
        try:
            return "\n--- server log ---\n" + self.logfile.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def _init(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        self._chown(pwfile)
        self._pg(
            "initdb",
            "-D",
            str(self.datadir),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        pwfile.unlink()

    def _start(self) -> None:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            "timezone": "UTC",
            **self.settings,
        }
        opts = " ".join(f"-c {name}={value}" for name, value in settings.items())
        self._pg(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-l",
            str(self.logfile),
            "-o",
            opts,
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "start",
            timeout=START_TIMEOUT_S + 10,
        )
        self._running = True

    def _chown(self, path: Path) -> None:
        if self.prefix:
            user = _service_user()
            os.chown(path, user.pw_uid, user.pw_gid)

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        self._dbs += 1
        name = name or f"lookout_test_{self._dbs}"
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"unsafe database name {name!r}")
        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            password=self.password,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete everything it wrote."""
        try:
            if self._running:
                try:
                    self._pg("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")
                except (RuntimeError, subprocess.TimeoutExpired):
                    self._pg("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
                self._running = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(
    bindir: Path | None = None, settings: dict[str, str] | None = None
) -> PostgresCluster:
    """Start a fresh cluster; raises PostgresUnavailable when there are no binaries.
    `settings` override the server's test defaults (`-c name=value`, no spaces)."""
    bindir = bindir or find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or in "
            "/usr/lib/postgresql/*/bin; install postgresql-15 (Debian) to run these tests"
        )
    prefix: list[str] = []
    parent: str | None = None
    if os.geteuid() == 0:
        prefix = _run_as_prefix(_service_user().pw_name)
        parent = "/tmp"  # $TMPDIR may sit under /root, which the service user cannot enter
    root = Path(tempfile.mkdtemp(prefix="lookout-pg-", dir=parent))
    os.chmod(root, 0o700)
    cluster = PostgresCluster(bindir, root, 0, secrets.token_hex(16), prefix, dict(settings or {}))
    cluster._chown(root)
    try:
        cluster._init()
        last: Exception | None = None
        for _ in range(3):  # the free port may be taken between probing and binding
            cluster.port = _free_port()
            try:
                cluster._start()
                break
            except RuntimeError as exc:
                last = exc
        else:
            raise RuntimeError(f"PostgreSQL did not start: {last}")
    except BaseException:
        cluster.stop()
        raise
    return cluster


@contextlib.contextmanager
def cluster(bindir: Path | None = None) -> Iterator[PostgresCluster]:
    c = start_cluster(bindir)
    try:
        yield c
    finally:
        c.stop()


def required() -> bool:
    """True when the environment says PostgreSQL tests must run, not skip."""
    return os.environ.get("LOOKOUT_REQUIRE_POSTGRES", "") not in ("", "0", "false", "no")


__all__: Sequence[str] = (
    "PostgresCluster",
    "PostgresUnavailable",
    "cluster",
    "find_bindir",
    "required",
    "start_cluster",
)
