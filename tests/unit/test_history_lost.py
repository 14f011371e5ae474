"""The log's epoch without a relay: the console's side keeps (epoch, seq), sends it, and
on `history_lost` starts over; the cache drops every item at once; the relay's rule for
when a position cannot be resumed (relay/log_epoch.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from backend_client import messages as m
from backend_client.cache import LocalCache
from backend_client.protocol import Event, OfficerProtocol, Reply
from backend_client.state import IllegalTransition, Phase
from relay.log_epoch import LogPosition, lost
from tests.unit.test_cache import KEY, report

OLD, NEW = "00000000000000aa", "00000000000000bb"


def _subscribed(rid: str, head: int, epoch: str, history_lost: bool = False) -> str:
    return json.dumps(
        {
            "type": "subscribed",
            "re": rid,
            "head": head,
            "epoch": epoch,
            "history_lost": history_lost,
        }
    )


def _event(seq: int) -> str:
    return json.dumps(
        {
            "type": "incident.opened",
            "seq": seq,
            "at": 1.0,
            "incident_ref": f"I-{seq}",
            "title": "t",
            "by": "dana",
        }
    )


def _authenticated(last_seq: int, epoch: str | None) -> OfficerProtocol:
    p = OfficerProtocol(last_seq=last_seq, epoch=epoch)
    p.connection_made()
    rid, _ = p.resume("tok")
    p.receive(
        json.dumps(
            {
                "type": "auth.ok",
                "re": rid,
                "token": "tok",
                "expires_at": 9e9,
                "username": "dana",
                "role": "dispatcher",
            }
        )
    )
    assert p.phase is Phase.AUTHENTICATED
    return p


# ---------------------------------------------------------------- the protocol


def test_the_epoch_goes_out_with_since_and_the_relays_is_kept() -> None:
    p = _authenticated(41, OLD)
    rid, text = p.subscribe()
    assert json.loads(text) | {"id": ""} == {
        "type": "subscribe",
        "v": 1,
        "id": "",
        "since": 41,
        "exclude_exercise": False,
        "epoch": OLD,
    }
    [done] = p.receive(_subscribed(rid, 41, OLD))
    assert isinstance(done, Reply) and p.phase is Phase.LIVE
    assert (p.epoch, p.last_seq, p.lost) == (OLD, 41, None)


def test_a_first_subscribe_has_no_epoch_and_takes_the_relays() -> None:
    p = _authenticated(0, None)
    rid, text = p.subscribe()
    assert json.loads(text)["epoch"] is None
    p.receive(_subscribed(rid, 0, NEW))
    assert p.epoch == NEW


def test_history_lost_starts_over_from_zero_in_the_new_epoch() -> None:
    p = _authenticated(41, OLD)
    rid, _ = p.subscribe()
    [lost_reply] = p.receive(_subscribed(rid, 12, NEW, history_lost=True))
    assert isinstance(lost_reply, Reply) and isinstance(lost_reply.msg, m.Subscribed)
    # not live: nothing was replayed; the client must drop its cache, then subscribe again
    assert p.phase is Phase.AUTHENTICATED
    assert (p.last_seq, p.epoch, p.lost) == (0, NEW, lost_reply.msg)
    with pytest.raises(TypeError):
        p.send_request(m.Subscribe(id="", since=0))  # only through subscribe()
    p.history_dropped()
    rid, text = p.subscribe()
    assert json.loads(text)["since"] == 0 and json.loads(text)["epoch"] == NEW
    # seqs the old log had already shown are new again in this one
    replay = [i for s in (1, 2) for i in p.receive(_event(s))]
    assert [e.seq for e in replay if isinstance(e, Event)] == [1, 2]
    p.receive(_subscribed(rid, 2, NEW))
    assert p.phase is Phase.LIVE and p.epoch == NEW


def test_history_lost_is_only_an_answer_to_a_subscribe() -> None:
    p = _authenticated(5, OLD)
    rid, _ = p.subscribe()
    p.receive(_subscribed(rid, 5, OLD))
    assert p.phase is Phase.LIVE
    with pytest.raises(IllegalTransition):
        p.subscribe()  # live: a second subscribe is a caller bug, as before


# ---------------------------------------------------------------- the cache


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _filled(path: Path) -> LocalCache:
    cache = LocalCache(path, KEY, relay="relay-a")
    cache.apply_many(
        [
            m.ReportCreated(seq=1, at=1.0, report=report("R-1")),
            m.ChatPosted(
                seq=2,
                at=2.0,
                message=m.ChatMessage(
                    message_id="C-1",
                    report_id="R-1",
                    sender="citizen",
                    author="quiet-otter",
                    text="hello",
                    sent_at=2.0,
                    status="sent",
                ),
            ),
            m.IncidentOpened(seq=3, at=3.0, incident_ref="I-1", title="Burglaries", by="dana"),
        ]
    )
    cache.put_media(_sha(b"x"), "image/png", b"x")
    cache.mark_opened("dana", ["R-1"])
    cache.keep_epoch(OLD)
    return cache


def test_the_cache_keeps_the_epoch_beside_the_seq(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "c.sqlite", KEY)
    assert cache.epoch() is None
    cache.keep_epoch(OLD)
    cache.close()
    again = LocalCache(tmp_path / "c.sqlite", KEY)
    assert again.epoch() == OLD
    again.close()


def test_starting_over_drops_every_item_at_once_and_keeps_the_new_epoch(tmp_path: Path) -> None:
    cache = _filled(tmp_path / "c.sqlite")
    assert cache.last_seq() == 3 and cache.reports() and cache.incidents()
    cache.start_over(NEW)
    assert cache.last_seq() == 0 and cache.epoch() == NEW
    assert cache.reports(include_closed=True) == [] and cache.chat("R-1") == []
    assert cache.alerts() == [] and cache.incidents() == [] and cache.tombstoned() == set()
    assert cache.get_media(_sha(b"x")) is None
    assert cache.opened_reports("dana") == {"R-1"}  # marks name reports, not their state
    assert cache.relay() == "relay-a"
    # the replay from 0 fills it again, seqs counted anew
    cache.apply(m.ReportCreated(seq=1, at=9.0, report=report("R-9")))
    assert [r.report_id for r in cache.reports()] == ["R-9"] and cache.last_seq() == 1
    cache.close()
    reopened = LocalCache(tmp_path / "c.sqlite", KEY, relay="relay-a")  # still its relay's
    assert reopened.epoch() == NEW
    reopened.close()


# ---------------------------------------------------------------- the relay's rule

AT = LogPosition(epoch=OLD, floor=10, head=100)


@pytest.mark.parametrize(
    ("since", "epoch", "expected"),
    [
        (50, OLD, False),  # the same log, inside what it keeps
        (100, OLD, False),  # up to date
        (50, None, False),  # no epoch yet: trusted, checked by seq
        (10, OLD, False),  # at the floor: nothing it needs is gone
        (50, NEW, True),  # another log
        (9, OLD, True),  # below the oldest kept
        (101, OLD, True),  # beyond the head: the log went back in time
        (101, None, True),
        (0, NEW, False),  # nothing processed: nothing to lose
    ],
)
def test_when_a_position_cannot_be_resumed(since: int, epoch: str | None, expected: bool) -> None:
    assert lost(since, epoch, AT) is expected


def test_the_relay_makes_its_epoch_once_and_renews_it_after_a_restore(tmp_path: Path) -> None:
    from sqlalchemy.orm import Session

    from relay import log_epoch
    from relay.db.engine import make_engine, migrate, sqlite_url

    engine = make_engine(sqlite_url(tmp_path))
    try:
        migrate(engine)
        made = log_epoch.ensure(engine)
        assert len(made) == 16 and log_epoch.ensure(engine) == made  # kept across starts
        # no audit record in the database, but this relay signed a checkpoint at 7: the
        # database was restored from a backup older than what consoles saw
        renewed = log_epoch.ensure(engine, audit_seen=7)
        assert renewed != made
        with Session(engine) as s:
            assert log_epoch.position(s) == LogPosition(epoch=renewed, floor=0, head=0)
    finally:
        engine.dispose()


def test_a_loss_not_yet_handled_outlives_the_socket() -> None:
    """The link drops after `history_lost` but before the cache was dropped: the next
    socket must still start over, never replay from 0 onto the old items."""
    p = _authenticated(41, OLD)
    rid, _ = p.subscribe()
    p.receive(_subscribed(rid, 12, NEW, history_lost=True))
    p.connection_lost()
    p.connection_made()
    assert p.lost is not None and p.lost.epoch == NEW and p.last_seq == 0
