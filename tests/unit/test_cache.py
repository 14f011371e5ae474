"""The console's local cache keeps the latest state of what arrived, and media sealed.

Events are real `messages` structs; the cache file is inspected with plain `sqlite3` and
by reading its bytes, to check what actually reaches the disk.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keyring
import keyring.backend
import keyring.backends.fail
import keyring.errors
import msgspec
import pytest

from backend_client import cache as cache_mod
from backend_client import messages as m
from backend_client.cache import (
    CacheSchemaError,
    LocalCache,
    MediaIntegrityError,
    NoKeyAvailable,
    cache_key,
)

KEY = bytes(range(32))

# ---------------------------------------------------------------- builders


def report(
    report_id: str = "R-1",
    status: m.ReportStatus = "new",
    created_at: float = 1000.0,
    text: str = "two men trying car doors",
    priority: m.Priority = "normal",
) -> m.Report:
    return m.Report(
        report_id=report_id,
        reporter="quiet-otter",
        category="vehicle",
        text=text,
        lat=52.95,
        lon=-1.15,
        created_at=created_at,
        status=status,
        priority=priority,
        claimed_by=None,
        incident_ref=None,
        media=[],
    )


def created(seq: int, r: m.Report) -> m.ReportCreated:
    return m.ReportCreated(seq=seq, at=r.created_at, report=r)


def updated(seq: int, r: m.Report, by: str | None = "dana") -> m.ReportUpdated:
    return m.ReportUpdated(seq=seq, at=r.created_at + seq, report=r, by=by)


def chat_msg(
    message_id: str, sent_at: float, report_id: str = "R-1", text: str = "hello"
) -> m.ChatMessage:
    return m.ChatMessage(
        message_id=message_id,
        report_id=report_id,
        sender="citizen",
        author="quiet-otter",
        text=text,
        sent_at=sent_at,
        status="sent",
    )


def posted(seq: int, msg: m.ChatMessage) -> m.ChatPosted:
    return m.ChatPosted(seq=seq, at=msg.sent_at, message=msg)


def status_changed(
    seq: int, message_id: str, status: m.ChatStatus, report_id: str = "R-1"
) -> m.ChatStatusChanged:
    return m.ChatStatusChanged(
        seq=seq, at=2000.0 + seq, message_id=message_id, report_id=report_id, status=status
    )


def alert(
    alert_id: str = "A-1",
    state: m.AlertState = "active",
    delivered: int = 0,
    sent_at: float = 1500.0,
) -> m.Alert:
    info = m.AlertInfo(
        categories=["vehicle"],
        area=m.Circle(lat=52.95, lon=-1.15, radius_m=500.0),
        area_desc="Lenton",
        headline="Thefts from vehicles",
        expires_at=sent_at + 3600,
    )
    return m.Alert(
        alert_id=alert_id,
        sender="dana",
        sent_at=sent_at,
        msg_type="Alert",
        state=state,
        info=info,
        recipients=10,
        delivered=delivered,
        read=0,
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "console.sqlite"


@pytest.fixture
def cache(db_path: Path) -> Iterator[LocalCache]:
    c = LocalCache(db_path, KEY)
    yield c
    c.close()


# ---------------------------------------------------------------- events


def test_an_empty_cache_has_nothing_and_resumes_from_zero(cache: LocalCache) -> None:
    assert cache.last_seq() == 0
    assert cache.reports(include_closed=True) == []
    assert cache.report("R-1") is None
    assert cache.chat("R-1") == []
    assert cache.alerts() == []


def test_events_are_read_back_as_the_structs_that_arrived(cache: LocalCache) -> None:
    r = report()
    msg = chat_msg("C-1", 1001.0)
    a = alert()
    cache.apply(created(1, r))
    cache.apply(posted(2, msg))
    cache.apply(m.AlertChanged(seq=3, at=1500.0, alert=a))
    cache.apply(m.IncidentOpened(seq=4, at=1600.0, incident_ref="INC-7", title="Cars", by="sam"))

    assert cache.report("R-1") == r
    assert cache.reports() == [r]
    assert cache.chat("R-1") == [msg]
    assert cache.alerts() == [a]
    assert cache.incidents() == [cache_mod.Incident("INC-7", "Cars", "sam", 1600.0)]
    assert cache.last_seq() == 4


def test_the_same_event_twice_changes_nothing(cache: LocalCache, db_path: Path) -> None:
    events: list[m.OfficerEvent] = [
        created(1, report()),
        posted(2, chat_msg("C-1", 1001.0)),
        status_changed(3, "C-1", "delivered"),
        m.AlertChanged(seq=4, at=1500.0, alert=alert()),
        m.IncidentOpened(seq=5, at=1600.0, incident_ref="INC-7", title="Cars", by="sam"),
    ]
    cache.apply_many(events)
    before = _dump(db_path)
    for ev in events:
        cache.apply(ev)
    cache.apply_many(events)
    assert _dump(db_path) == before
    assert len(cache.chat("R-1")) == 1
    assert cache.chat("R-1")[0].status == "delivered"
    assert cache.last_seq() == 5


def test_an_older_report_state_never_overwrites_a_newer_one(cache: LocalCache) -> None:
    cache.apply(updated(5, report(status="claimed", priority="high")))
    cache.apply(updated(3, report(status="in_progress")))
    cache.apply(created(1, report(status="new")))
    got = cache.report("R-1")
    assert got is not None
    assert (got.status, got.priority) == ("claimed", "high")
    assert cache.last_seq() == 5

    cache.apply(updated(6, report(status="in_progress", priority="high")))
    got = cache.report("R-1")
    assert got is not None and got.status == "in_progress"


def test_an_older_alert_state_never_overwrites_a_newer_one(cache: LocalCache) -> None:
    cache.apply(m.AlertChanged(seq=9, at=1.0, alert=alert(state="cancelled", delivered=7)))
    cache.apply(m.AlertChanged(seq=8, at=1.0, alert=alert(state="active", delivered=3)))
    assert [(a.state, a.delivered) for a in cache.alerts()] == [("cancelled", 7)]


def test_last_seq_is_the_highest_applied_whatever_the_order(cache: LocalCache) -> None:
    cache.apply_many([created(7, report("R-7")), created(3, report("R-3"))])
    assert cache.last_seq() == 7
    cache.apply(created(5, report("R-5")))
    assert cache.last_seq() == 7
    cache.apply_many([])
    assert cache.last_seq() == 7


def test_closed_reports_are_hidden_unless_asked_and_newest_come_first(cache: LocalCache) -> None:
    cache.apply_many(
        [
            created(1, report("R-old", created_at=100.0)),
            created(2, report("R-new", created_at=300.0)),
            created(3, report("R-mid", created_at=200.0)),
            updated(4, report("R-mid", status="closed", created_at=200.0)),
        ]
    )
    assert [r.report_id for r in cache.reports()] == ["R-new", "R-old"]
    assert [r.report_id for r in cache.reports(include_closed=True)] == [
        "R-new",
        "R-mid",
        "R-old",
    ]
    closed = cache.report("R-mid")
    assert closed is not None and closed.status == "closed"


def test_chat_is_in_order_per_report_with_the_latest_status(cache: LocalCache) -> None:
    cache.apply_many(
        [
            posted(1, chat_msg("C-2", 1002.0, text="second")),
            posted(2, chat_msg("C-1", 1001.0, text="first")),
            posted(3, chat_msg("C-9", 1001.5, report_id="R-2", text="elsewhere")),
            status_changed(4, "C-1", "delivered"),
            status_changed(5, "C-1", "read"),
            status_changed(6, "C-2", "delivered"),
        ]
    )
    assert [(c.text, c.status) for c in cache.chat("R-1")] == [
        ("first", "read"),
        ("second", "delivered"),
    ]
    assert [c.text for c in cache.chat("R-2")] == ["elsewhere"]

    # A late or replayed "delivered" does not take a read message backwards.
    cache.apply(status_changed(7, "C-1", "delivered"))
    assert cache.chat("R-1")[0].status == "read"


def test_a_status_that_arrives_before_its_message_is_kept(cache: LocalCache) -> None:
    cache.apply(status_changed(8, "C-1", "read"))
    assert cache.chat("R-1") == []  # nothing to show yet
    cache.apply(posted(4, chat_msg("C-1", 1001.0)))
    assert [(c.message_id, c.status) for c in cache.chat("R-1")] == [("C-1", "read")]


def test_a_batch_that_fails_part_way_stores_none_of_it(
    cache: LocalCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.apply(created(1, report("R-1")))
    real = cache_mod._apply

    def fail_on_r3(s: object, ev: m.OfficerEvent) -> None:
        if isinstance(ev, m.ReportCreated) and ev.report.report_id == "R-3":
            raise RuntimeError("boom")
        real(s, ev)  # type: ignore[arg-type]

    monkeypatch.setattr(cache_mod, "_apply", fail_on_r3)
    with pytest.raises(RuntimeError):
        cache.apply_many([created(2, report("R-2")), created(3, report("R-3"))])
    assert [r.report_id for r in cache.reports()] == ["R-1"]
    assert cache.last_seq() == 1


def test_writers_on_several_threads_lose_nothing(cache: LocalCache) -> None:
    def write(worker: int) -> None:
        for i in range(25):
            seq = worker * 100 + i + 1
            cache.apply(created(seq, report(f"R-{seq}", created_at=float(seq))))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(4)))
    assert len(cache.reports()) == 100
    assert cache.last_seq() == 325


# ---------------------------------------------------------------- media


def test_media_round_trip(cache: LocalCache) -> None:
    data = os.urandom(200_000)
    cache.put_media(sha(data), "image/jpeg", data)
    assert cache.get_media(sha(data)) == ("image/jpeg", data)
    assert cache.get_media(sha(b"never stored")) is None
    cache.put_media(sha(data), "image/jpeg", data)  # storing again is harmless
    assert cache.get_media(sha(data)) == ("image/jpeg", data)


def test_media_whose_bytes_do_not_match_the_hash_is_refused(cache: LocalCache) -> None:
    data = b"\xff\xd8\xff real jpeg bytes"
    with pytest.raises(MediaIntegrityError):
        cache.put_media(sha(b"something else"), "image/jpeg", data)
    assert cache.get_media(sha(b"something else")) is None
    with pytest.raises(ValueError):
        cache.put_media("not-a-hash", "image/jpeg", data)


def test_a_flipped_ciphertext_byte_is_detected(cache: LocalCache, db_path: Path) -> None:
    data = os.urandom(5000)
    cache.put_media(sha(data), "image/png", data)
    with sqlite3.connect(db_path) as raw:
        (blob,) = raw.execute(
            "SELECT ciphertext FROM media WHERE sha256 = ?", (sha(data),)
        ).fetchone()
        flipped = bytearray(blob)
        flipped[len(flipped) // 2] ^= 0x01
        raw.execute("UPDATE media SET ciphertext = ? WHERE sha256 = ?", (bytes(flipped), sha(data)))
    raw.close()
    with pytest.raises(MediaIntegrityError):
        cache.get_media(sha(data))


def test_ciphertext_is_bound_to_its_hash_and_type(cache: LocalCache, db_path: Path) -> None:
    a, b = os.urandom(3000), os.urandom(3000)
    cache.put_media(sha(a), "image/png", a)
    cache.put_media(sha(b), "image/png", b)
    with sqlite3.connect(db_path) as raw:
        # Give b's row a's sealed bytes: a valid ciphertext, in the wrong place.
        raw.execute(
            "UPDATE media SET nonce = (SELECT nonce FROM media WHERE sha256 = :a),"
            " ciphertext = (SELECT ciphertext FROM media WHERE sha256 = :a) WHERE sha256 = :b",
            {"a": sha(a), "b": sha(b)},
        )
        raw.execute("UPDATE media SET mime = 'video/mp4' WHERE sha256 = ?", (sha(a),))
    raw.close()
    for digest in (sha(a), sha(b)):
        with pytest.raises(MediaIntegrityError):
            cache.get_media(digest)


def test_plaintext_media_never_reaches_the_disk(cache: LocalCache, db_path: Path) -> None:
    data = b"PLAINTEXT-MEDIA-MARKER" + os.urandom(64_000)
    cache.put_media(sha(data), "image/jpeg", data)
    probes = [data[:22], data[1000:1032], data[40_000:40_032]]
    wal = db_path.with_name(db_path.name + "-wal")
    assert wal.exists(), "expected the write to sit in the WAL while the cache is open"
    files = [db_path, wal]
    on_disk = b"".join(p.read_bytes() for p in files)
    assert len(on_disk) > len(data)  # the ciphertext is in there somewhere
    for probe in probes:
        assert probe not in on_disk
    cache.close()  # checkpoints the WAL into the main file
    on_disk = b"".join(p.read_bytes() for p in files if p.exists())
    for probe in probes:
        assert probe not in on_disk


def test_the_cache_file_is_readable_by_its_owner_only(cache: LocalCache, db_path: Path) -> None:
    cache.apply(created(1, report()))
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


# ---------------------------------------------------------------- reopening


def test_reopening_with_the_same_key_reads_everything_back(db_path: Path) -> None:
    data = os.urandom(10_000)
    r, msg, a = report(), chat_msg("C-1", 1001.0), alert()
    with LocalCache(db_path, KEY) as c:
        c.apply_many(
            [
                created(1, r),
                posted(2, msg),
                status_changed(3, "C-1", "read"),
                m.AlertChanged(seq=4, at=1.0, alert=a),
            ]
        )
        c.put_media(sha(data), "video/mp4", data)

    with LocalCache(db_path, KEY) as c:
        assert c.last_seq() == 4
        assert c.reports() == [r]
        assert [(x.message_id, x.status) for x in c.chat("R-1")] == [("C-1", "read")]
        assert c.alerts() == [a]
        assert c.get_media(sha(data)) == ("video/mp4", data)

    with LocalCache(db_path, bytes(32)) as c:
        assert c.reports() == [r]  # the text is readable; only media is sealed
        with pytest.raises(MediaIntegrityError):
            c.get_media(sha(data))


def test_a_cache_from_another_layout_is_refused_with_what_to_do(db_path: Path) -> None:
    LocalCache(db_path, KEY).close()
    with sqlite3.connect(db_path) as raw:
        raw.execute("UPDATE meta SET value = 99 WHERE key = 'schema_version'")
    raw.close()
    with pytest.raises(CacheSchemaError, match="delete the file"):
        LocalCache(db_path, KEY)


def test_a_key_of_the_wrong_length_is_refused(db_path: Path) -> None:
    with pytest.raises(ValueError):
        LocalCache(db_path, b"short")


# ---------------------------------------------------------------- key management


class DictKeyring(keyring.backend.KeyringBackend):
    """A keyring that lives in a dict, for tests only."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.store[(service, username)]


class LockedKeyring(DictKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("the login keyring is locked")


@pytest.fixture
def restore_keyring() -> Iterator[None]:
    before = keyring.get_keyring()
    yield
    keyring.set_keyring(before)


@pytest.fixture
def no_keyring(restore_keyring: None) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())


def test_keyring_key_is_created_once_then_reused(restore_keyring: None) -> None:
    ring = DictKeyring()
    keyring.set_keyring(ring)
    first = cache_key(service="lookout-test", account="dana")
    assert len(first) == 32
    assert ("lookout-test", "dana") in ring.store
    assert cache_key(service="lookout-test", account="dana") == first
    other = cache_key(service="lookout-test", account="dev")
    assert other != first
    # A passphrase does not override a working keyring.
    assert cache_key(service="lookout-test", account="dana", passphrase="x") == first


def test_a_keyring_entry_that_is_not_a_key_is_reported(restore_keyring: None) -> None:
    ring = DictKeyring()
    ring.store[("lookout", "dana")] = "hunter2"
    keyring.set_keyring(ring)
    with pytest.raises(NoKeyAvailable, match="remove it"):
        cache_key(account="dana")
    assert ring.store[("lookout", "dana")] == "hunter2"  # never overwritten


def test_passphrase_key_depends_on_passphrase_and_salt(no_keyring: None, tmp_path: Path) -> None:
    salt = tmp_path / "cache.salt"
    k1 = cache_key(account="dana", passphrase="blue lamp", salt_path=salt)
    assert len(k1) == 32
    assert salt.stat().st_size == 16
    assert cache_key(account="dana", passphrase="blue lamp", salt_path=salt) == k1
    assert cache_key(account="dana", passphrase="red lamp", salt_path=salt) != k1
    other_salt = tmp_path / "other.salt"
    assert cache_key(account="dana", passphrase="blue lamp", salt_path=other_salt) != k1
    assert list(tmp_path.iterdir()) and not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_a_locked_keyring_falls_back_to_the_passphrase(
    restore_keyring: None, tmp_path: Path
) -> None:
    keyring.set_keyring(LockedKeyring())
    salt = tmp_path / "cache.salt"
    key = cache_key(account="dana", passphrase="blue lamp", salt_path=salt)
    keyring.set_keyring(keyring.backends.fail.Keyring())
    assert cache_key(account="dana", passphrase="blue lamp", salt_path=salt) == key
    keyring.set_keyring(LockedKeyring())
    with pytest.raises(NoKeyAvailable, match="locked"):
        cache_key(account="dana")


def test_no_keyring_and_no_passphrase_says_what_to_do(no_keyring: None) -> None:
    with pytest.raises(NoKeyAvailable, match="passphrase"):
        cache_key(account="dana")


def test_a_damaged_salt_file_is_reported(no_keyring: None, tmp_path: Path) -> None:
    salt = tmp_path / "cache.salt"
    salt.write_bytes(b"short")
    with pytest.raises(NoKeyAvailable, match="damaged"):
        cache_key(account="dana", passphrase="blue lamp", salt_path=salt)


def test_a_passphrase_key_opens_the_cache_it_sealed(no_keyring: None, tmp_path: Path) -> None:
    db = tmp_path / "console.sqlite"
    salt = tmp_path / "console.salt"
    data = os.urandom(1000)
    with LocalCache(db, cache_key(account="dana", passphrase="blue lamp", salt_path=salt)) as c:
        c.put_media(sha(data), "image/png", data)
    with LocalCache(db, cache_key(account="dana", passphrase="blue lamp", salt_path=salt)) as c:
        assert c.get_media(sha(data)) == ("image/png", data)
    wrong = cache_key(account="dana", passphrase="wrong", salt_path=salt)
    with LocalCache(db, wrong) as c, pytest.raises(MediaIntegrityError):
        c.get_media(sha(data))


# ---------------------------------------------------------------- helpers


def _dump(db_path: Path) -> list[tuple[object, ...]]:
    """Every row of every table, to compare the whole cache before and after."""
    with sqlite3.connect(db_path) as raw:
        tables = [t for (t,) in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [
            (t, *row)
            for t in sorted(tables)
            for row in raw.execute(f"SELECT * FROM {t} ORDER BY 1")
        ]
    raw.close()
    return rows


# ---------------------------------------------------------------- a citizen's erasure


def _with_photo(r: m.Report, data: bytes) -> m.Report:
    info = m.MediaInfo(
        sha256=hashlib.sha256(data).hexdigest(), mime="image/jpeg", size=4, stored=True
    )
    return msgspec.structs.replace(r, media=[info])


def test_erasure_purges_reports_chat_and_unshared_media_and_stays_purged(
    cache: LocalCache, db_path: Path
) -> None:
    mine, shared = b"mine", b"both"
    gone = _with_photo(report("R-1", text="erase this shed"), mine)
    gone2 = _with_photo(report("R-2", text="erase this too"), shared)
    theirs = _with_photo(report("R-3", text="a bystander's"), shared)
    kept = report("R-4", text="kept for the incident")
    cache.apply_many([created(i, r) for i, r in enumerate((gone, gone2, theirs, kept), 1)])
    cache.apply(m.ChatPosted(seq=5, at=1.0, message=chat_msg("M-1", 1.0, "R-1", "gone chat")))
    for data in (mine, shared):
        cache.put_media(hashlib.sha256(data).hexdigest(), "image/jpeg", data)

    cache.apply(m.ReportErased(seq=6, at=2.0, report_ids=["R-1", "R-2"], tombstoned=["R-4"]))
    assert [r.report_id for r in cache.reports()] == ["R-4", "R-3"]
    assert cache.chat("R-1") == [] and cache.last_seq() == 6
    assert cache.get_media(hashlib.sha256(mine).hexdigest()) is None
    assert cache.get_media(hashlib.sha256(shared).hexdigest()) is not None  # R-3 declares it
    assert cache.tombstoned() == {"R-4"}
    # an overlapping replay (older seqs) does not bring the report or its chat back
    cache.apply_many(
        [
            updated(4, gone),
            m.ChatPosted(seq=5, at=1.0, message=chat_msg("M-1", 1.0, "R-1", "gone chat")),
            m.ChatStatusChanged(seq=5, at=1.0, message_id="M-2", report_id="R-1", status="read"),
        ]
    )
    assert cache.report("R-1") is None and cache.chat("R-1") == []
    cache.close()
    raw = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    assert b"erase this shed" not in raw and b"gone chat" not in raw
    assert b"kept for the incident" in raw
    again = LocalCache(db_path, KEY)
    try:
        assert again.report("R-1") is None and again.tombstoned() == {"R-4"}
    finally:
        again.close()
