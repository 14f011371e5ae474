"""PostgreSQL for the benchmarks: a durable throwaway server and where its time goes.

Not a benchmark itself (`make bench` skips `bench/_*.py`). `durable_cluster()` starts
tests/support/postgres.py's throwaway cluster with the durability a deployment has
(fsync, synchronous_commit and full_page_writes on) and pg_stat_statements loaded.
`Observer` reads what the server says about a run: its durability settings, the
statements by total time, the WAL flushes and their time (pg_stat_wal), and the sessions'
states and wait events sampled from pg_stat_activity while the load runs (a session
"idle in transaction" is waiting for the relay, one waiting on `Lock:transactionid` or
`Lock:tuple` is waiting for another node's batch to release the audit lock row, one on
`IO:WALSync` or `LWLock:WALWrite` is in COMMIT's flush).
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support import postgres

#: what a deployment runs with (the test cluster's defaults switch durability off)
DURABLE = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
    "track_io_timing": "on",
    "track_wal_io_timing": "on",
    "max_connections": "200",
}
SHOWN = ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "server_version")


@contextlib.contextmanager
def durable_cluster() -> Iterator[str]:
    """A fresh database on a fresh durable server; yields its SQLAlchemy URL."""
    pg = postgres.start_cluster(settings=DURABLE)
    try:
        yield pg.create_database("lookout_bench")
    finally:
        pg.stop()


def _connect(url: str) -> Any:
    import psycopg

    from relay.cluster import libpq_url

    return psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=10)


class Observer:
    """The server's view of one run: reset before the load, sampled during, read after."""

    def __init__(self, url: str, interval_s: float = 0.01) -> None:
        self.url = url
        self.interval_s = interval_s
        self.samples: collections.Counter[str] = collections.Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.statements = False

    def settings(self) -> dict[str, str]:
        with _connect(self.url) as conn:
            return {name: str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in SHOWN}

    def start(self) -> None:
        with _connect(self.url) as conn:
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                conn.execute("SELECT pg_stat_statements_reset()")
                self.statements = True
            except Exception:  # an external server without the library: no statements
                self.statements = False
            conn.execute("SELECT pg_stat_reset_shared('wal')")
        self.cpu0 = self._server_cpu()
        self._thread = threading.Thread(target=self._sample, name="pg-sampler", daemon=True)
        self._thread.start()

    def _server_cpu(self) -> dict[int, float]:
        """CPU seconds so far of each server process (backends, WAL writer, checkpointer),
        from /proc: the server runs on this machine (a throwaway one; {} for another)."""
        with _connect(self.url) as conn:
            pids = [int(p) for (p,) in conn.execute("SELECT pid FROM pg_stat_activity")]
        tick = os.sysconf("SC_CLK_TCK")
        out: dict[int, float] = {}
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        return out

    def _sample(self) -> None:
        query = (
            "SELECT state, coalesce(wait_event_type || ':' || wait_event, 'CPU'), "
            "left(regexp_replace(query, '\\s+', ' ', 'g'), 48) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' AND state <> 'idle'"
        )
        with _connect(self.url) as conn:
            while not self._stop.wait(self.interval_s):
                for state, wait, text in conn.execute(query).fetchall():
                    where = wait if state == "active" else "(relay's turn)"
                    self.samples[f"{state} | {where} | {text}"] += 1

    def finish(self, top: int = 10) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        cpu1 = self._server_cpu()
        out: dict[str, Any] = {
            "cpu_s": sum(t - self.cpu0.get(pid, 0.0) for pid, t in cpu1.items()),
        }
        with _connect(self.url) as conn:
            wal = conn.execute(
                "SELECT wal_records, wal_bytes, wal_write, wal_sync, "
                "round(wal_write_time::numeric, 1), round(wal_sync_time::numeric, 1) "
                "FROM pg_stat_wal"
            ).fetchone()
            out["wal"] = dict(
                zip(
                    ("records", "bytes", "writes", "syncs", "write_ms", "sync_ms"),
                    [float(x) for x in wal],
                    strict=True,
                )
            )
            if self.statements:
                rows = conn.execute(
                    "SELECT calls, round(total_exec_time::numeric, 1), "
                    "round(mean_exec_time::numeric, 3), "
                    "left(regexp_replace(query, '\\s+', ' ', 'g'), 70) "
                    "FROM pg_stat_statements WHERE dbid = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                    "ORDER BY total_exec_time DESC LIMIT %s",
                    (top,),
                ).fetchall()
                out["statements_by_time"] = [
                    {"calls": c, "total_ms": float(t), "mean_ms": float(mn), "query": q}
                    for c, t, mn, q in rows
                ]
        n = sum(self.samples.values())
        out["activity_samples"] = n
        out["activity"] = (
            {k: round(v / n, 3) for k, v in self.samples.most_common(top)} if n else {}
        )
        return out


def stored(url: str) -> dict[str, Any]:
    """What the database holds after a run, counted by SELECT (any dialect)."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from relay.db import models as db
    from relay.db.engine import make_engine

    engine = make_engine(url)
    try:
        with Session(engine) as s:
            ids = set(s.scalars(select(db.Report.public_id)))
            rows = int(s.scalar(select(func.count()).select_from(db.Report)) or 0)
            distinct = int(
                s.scalar(
                    select(func.count()).select_from(
                        select(db.Report.device_id, db.Report.client_ref).distinct().subquery()
                    )
                )
                or 0
            )
            events = int(s.scalar(select(func.count()).select_from(db.Event)) or 0)
            lo = int(s.scalar(select(func.min(db.Event.seq))) or 1)
            hi = int(s.scalar(select(func.max(db.Event.seq))) or 0)
    finally:
        engine.dispose()
    return {
        "ids": ids,
        "duplicates": rows - distinct,  # one (device, client_ref) stored twice
        "event_seq_gaps": (hi - lo + 1) - events if events else 0,
    }
