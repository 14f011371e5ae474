"""relay/cluster.py's EventFollower without a cluster: the order rules on a real log.

The log is a real relay database (SQLite here: the follower reads through
`Database.read` alike); rows another node committed are inserted beside the follower,
as another node's batch would. The PostgreSQL side (LISTEN, NOTIFY at COMMIT, the lock)
is tests/integration/test_cluster.py's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import insert

from relay import admin, cluster
from relay.db import models as db
from relay.db.uow import Database

FAKE_URL = "postgresql+psycopg://u:p@127.0.0.1:1/lookout"  # never connected to here


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(admin.open_engine(tmp_path))
    try:
        yield database
    finally:
        database.close()


def _other_node_commits(database: Database, *seqs: int, pilot: str | None = None) -> None:
    rows = [{"seq": s, "at": 0.0, "frame": f"frame {s}", "pilot_id": pilot} for s in seqs]
    with database.sessions() as s, s.begin():
        s.execute(insert(db.Event), rows)


class Published:
    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.exercise: set[int] = set()

    def __call__(self, events: list[tuple[int, bytes]], exercise: frozenset[int]) -> None:
        self.seqs.extend(seq for seq, _ in events)
        self.exercise |= exercise


async def test_own_batch_right_after_the_cursor_goes_out_without_a_read(log: Database) -> None:
    out = Published()
    f = cluster.EventFollower(log, FAKE_URL, out)
    f.local([(1, b"a"), (2, b"b")], frozenset())
    assert out.seqs == [1, 2] and f.cursor == 2 and f.reads == 0


async def test_own_batch_after_a_gap_waits_for_the_read_that_brings_both_in_order(
    log: Database,
) -> None:
    out = Published()
    f = cluster.EventFollower(log, FAKE_URL, out)
    _other_node_commits(log, 1, 2)  # another node's batch committed first...
    _other_node_commits(log, 3)  # ...then ours (seq 3), told to us straight from the commit
    f.local([(3, b"frame 3")], frozenset())
    assert out.seqs == []  # not before 1 and 2
    assert await f.catch_up() == 3
    assert out.seqs == [1, 2, 3] and f.cursor == 3
    f.local([(3, b"frame 3")], frozenset())  # a late repeat of what went out: dropped
    assert await f.catch_up() == 0
    assert out.seqs == [1, 2, 3]


async def test_catch_up_reads_pages_and_marks_exercise_events(
    log: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster, "PAGE", 2)
    out = Published()
    f = cluster.EventFollower(log, FAKE_URL, out)
    _other_node_commits(log, 1, 2, 3)
    _other_node_commits(log, 4, 5, pilot="pilot-a")
    assert await f.catch_up() == 5
    assert out.seqs == [1, 2, 3, 4, 5] and out.exercise == {4, 5}
    assert f.reads == 3  # 2 + 2 + 1 rows: the short page ends it


def test_payload_carries_stream_and_seq_only() -> None:
    text = cluster.payload(42, "relay-2")
    assert cluster.parse_payload(text) == ("events", 42)
    assert len(text.encode()) < 100  # NOTIFY's limit is 8,000 bytes; never the event
    assert cluster.parse_payload("garbage") is None
    assert cluster.parse_payload("events x relay-2") is None


def test_libpq_url_drops_the_sqlalchemy_driver_name() -> None:
    assert cluster.libpq_url(FAKE_URL) == "postgresql://u:p@127.0.0.1:1/lookout"


def test_no_follower_on_sqlite(tmp_path: Path) -> None:
    database = Database(admin.open_engine(tmp_path))
    try:
        assert not database.shared_log
        assert cluster.follower_for(None, database, Published(), "") is None
    finally:
        database.close()


async def test_only_other_nodes_events_are_told_as_remote(log: Database) -> None:
    out, remote = Published(), Published()
    f = cluster.EventFollower(log, FAKE_URL, out, on_remote=lambda ev: remote(ev, frozenset()))
    f._own.update({2})  # what `announce` notes in our batch's transaction (PostgreSQL only)
    _other_node_commits(log, 1, 2, 3)  # 2 is ours, read before `local` was told of it
    assert await f.catch_up() == 3
    assert out.seqs == [1, 2, 3] and remote.seqs == [1, 3]
    assert not f._own  # forgotten once published
