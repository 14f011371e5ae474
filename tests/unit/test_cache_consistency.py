"""The cache's promises of issue 13: unread is "not opened by this officer" on every
sign-in (the opened marks live in the cache, per officer), and a cache belongs to one
relay (another relay's data is set aside, never shown)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend_client import messages as m
from backend_client.cache import LocalCache, RelayChanged, relay_identity, set_aside
from backend_client.client import ClientConfig, Credentials
from tests.unit.test_cache import KEY, created, report

PIN_A = "AA:" * 31 + "AA"
PIN_B = "BB:" * 31 + "BB"


def test_opened_marks_are_kept_per_officer_across_reopening(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with LocalCache(path, KEY) as cache:
        cache.apply_many([created(1, report("R-1")), created(2, report("R-2"))])
        cache.mark_opened("dana", ["R-1", "R-1"])
        cache.mark_opened("dev", ["R-2"])
    with LocalCache(path, KEY) as cache:
        assert cache.opened_reports("dana") == {"R-1"}
        assert cache.opened_reports("dev") == {"R-2"}
        assert cache.opened_reports("sam") == set()


def test_an_erased_report_leaves_no_opened_mark(tmp_path: Path) -> None:
    with LocalCache(tmp_path / "c.sqlite", KEY) as cache:
        cache.apply(created(1, report("R-1")))
        cache.mark_opened("dana", ["R-1"])
        cache.apply(m.ReportErased(seq=2, at=2.0, report_ids=["R-1"], tombstoned=[]))
        assert cache.opened_reports("dana") == set()


def test_relay_identity_names_the_pin_else_the_ca_else_the_address(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"a CA")
    assert relay_identity("wss://r:1", PIN_A.lower(), None) == f"pin:{PIN_A}"
    assert relay_identity("wss://r:1", None, ca).startswith("ca:")
    assert relay_identity("wss://r:1", None, ca).endswith("@wss://r:1")
    assert relay_identity("wss://r:1", None, None) == "url:wss://r:1"
    assert relay_identity("wss://r:1", PIN_A, None) != relay_identity("wss://r:1", PIN_B, None)


def test_a_cache_refuses_another_relays_data(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with LocalCache(path, KEY, relay="pin:A") as cache:
        cache.apply(created(1, report("R-1")))
        assert cache.relay() == "pin:A"
    with LocalCache(path, KEY, relay="pin:A") as cache:  # the same relay: its data
        assert [r.report_id for r in cache.reports()] == ["R-1"]
    with pytest.raises(RelayChanged, match="another relay"):
        LocalCache(path, KEY, relay="pin:B")


def test_a_filled_cache_of_no_known_relay_is_not_adopted(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with LocalCache(path, KEY) as cache:  # written before caches named their relay
        cache.apply(created(1, report("R-1")))
    with pytest.raises(RelayChanged, match="does not say which relay"):
        LocalCache(path, KEY, relay="pin:A")
    empty = tmp_path / "empty.sqlite"
    LocalCache(empty, KEY).close()
    with LocalCache(empty, KEY, relay="pin:A") as cache:  # nothing in it to mistake
        assert cache.relay() == "pin:A"


def test_set_aside_keeps_the_file_under_a_dated_name(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"old")
    (tmp_path / "cache.sqlite-wal").write_bytes(b"wal")
    kept = set_aside(path)
    assert kept is not None and kept.read_bytes() == b"old"
    assert kept.name.startswith("cache.sqlite.other-relay-")
    assert Path(str(kept) + "-wal").read_bytes() == b"wal"
    assert not path.exists()
    assert set_aside(path) is None


def test_opening_a_session_for_another_relay_starts_a_fresh_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend_client import cache as cache_mod
    from console.compose import open_cache

    monkeypatch.setattr(cache_mod, "cache_key", lambda **_kw: KEY)
    creds = Credentials("dana", "pw", lambda: None)
    a = ClientConfig(url="wss://127.0.0.1:1", pin_sha256=PIN_A)
    b = ClientConfig(url="wss://127.0.0.1:2", pin_sha256=PIN_B)
    first = open_cache(tmp_path, creds, a)
    assert first is not None
    first.apply(created(1, report("R-old")))
    first.close()
    (tmp_path / "outbox.sqlite").write_bytes(b"actions meant for relay A")
    second = open_cache(tmp_path, creds, b)
    assert second is not None
    try:
        assert second.reports() == [] and second.last_seq() == 0
        assert second.relay() == f"pin:{PIN_B}"
    finally:
        second.close()
    kept = sorted(p.name for p in tmp_path.iterdir() if "other-relay" in p.name)
    assert any(n.startswith("cache.sqlite.other-relay-") for n in kept), kept
    assert any(n.startswith("outbox.sqlite.other-relay-") for n in kept), kept
    assert not (tmp_path / "outbox.sqlite").exists()
