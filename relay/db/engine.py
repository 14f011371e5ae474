"""Open the relay database: WAL and foreign keys on SQLite, migrations to head on start.

Privacy at rest: `hide_parameters` keeps bound values (coordinates, texts) out of every
exception and log line, and SQLite's `secure_delete` zeroes deleted or overwritten
content, so a superseded location fix does not linger in free pages; `checkpoint_wal`
then empties the WAL file, where old page images would otherwise stay.

Files are the relay user's alone, whatever the umask: the data directory is 0700 and the
SQLite file is created 0600 before SQLite opens it (its -wal and -shm files take the
database file's mode), and tightened if an older relay left it readable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine.url import make_url

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'relay.sqlite').resolve()}"


def private_dir(path: Path) -> None:
    """Make `path` (and parents) if needed; the directory itself is 0700."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 if absent; make it 0600 if it exists."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        os.chmod(path, 0o600)


def _private_sqlite(url: str) -> None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.is_dir():
        return  # SQLite will say so
    private_file(path)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.chmod(side, 0o600)


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, synchronous=FULL (durable commits) and FKs."""
    is_sqlite = make_url(url).get_backend_name() == "sqlite"
    kwargs: dict[str, Any] = {"hide_parameters": True}
    if is_sqlite:
        _private_sqlite(url)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, **kwargs)
    if is_sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()
            # pysqlite's own BEGIN handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

    return engine


def checkpoint_wal(engine: Engine) -> bool:
    """Copy the WAL into the database file and truncate it to zero bytes (SQLite only).

    Blocking (the server calls it from a thread). True if the WAL was emptied; False if a
    reader still needed an old page (the next call finishes the job) or not SQLite."""
    if engine.dialect.name != "sqlite":
        return False
    raw = engine.raw_connection()
    try:  # autocommit connection (isolation_level None): the pragma runs outside a transaction
        cur = raw.cursor()
        busy, _log_pages, _done = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        cur.close()
        return int(busy) == 0
    finally:
        raw.close()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


#: the advisory lock key every relay's migration takes on PostgreSQL ("LOOKOUT" in ASCII)
MIGRATION_LOCK = 0x4C4F4F4B4F5554


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent).

    On PostgreSQL the migration holds an advisory lock to its COMMIT: several relays
    started at once on a new release (docs/scaling.md) migrate one after another, and
    those after the first find the schema current (PostgreSQL's DDL is transactional)."""
    cfg = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
