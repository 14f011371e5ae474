"""The log's epoch against a real relay (relay/log_epoch.py, docs/protocol.md 5.2): a console
whose cache belongs to another history is told `history_lost`, drops what it held and
reloads from seq 0; one whose position is good resumes as before."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend_client import messages as m
from backend_client.cache import LocalCache
from backend_client.client import ClientConfig, Credentials, RelayClient
from backend_client.outbox import Outbox
from backend_client.state import State
from relay import log_epoch
from tests.conftest import PASSWORD, RunningRelay
from tests.support import cluster as cl
from tests.support.flows import device, officer, report
from tests.support.peer import next_id, wait_until
from tests.support.totp import coder

KEY = bytes(range(32))
WRONG = "ffffffffffffffff"


def _epoch_of(r: RunningRelay) -> str:
    return r.relay.db.read_sync(log_epoch.position).epoch  # type: ignore[attr-defined,no-any-return]


def _client(r: RunningRelay, home: Path, cache: LocalCache) -> RelayClient:
    cfg = ClientConfig(url=r.relay.url, ca_file=r.relay.ca_path)  # type: ignore[attr-defined]
    creds = Credentials("dana", PASSWORD, coder(r.totp["dana"]))
    return RelayClient(cfg, creds, Outbox(home / "dana-outbox.sqlite"), sink=cache)


def _stale(report_id: str) -> m.Report:
    return m.Report(
        report_id=report_id,
        reporter="old-otter",
        category="burglary",
        text="from a history the relay no longer has",
        lat=53.75,
        lon=-2.69,
        created_at=1.0,
        status="new",
        priority="normal",
        claimed_by=None,
        incident_ref=None,
        media=[],
    )


async def _drain(q: asyncio.Queue[m.Msg]) -> list[m.Msg]:
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


async def test_a_console_with_another_epoch_is_told_history_lost_and_reloads(
    relay: RunningRelay, tmp_path: Path
) -> None:
    phone, _ = await device(relay)
    real = await report(phone, text="Shed door forced")
    # a cache from another history: a report the relay never had, at a seq it has
    cache = LocalCache(tmp_path / "cache.sqlite", KEY)
    cache.apply(m.ReportCreated(seq=1, at=1.0, report=_stale("rep_gone")))
    cache.keep_epoch(WRONG)
    client = _client(relay, tmp_path, cache)
    q = client.subscribe_queue()
    await client.start()
    try:
        await client.wait_live(15)
        await wait_until(lambda: any(r.report_id == real.report_id for r in cache.reports()))
        seen = await _drain(q)
        # the console was told first, then the whole log came again
        assert isinstance(seen[0], m.Subscribed) and seen[0].history_lost, seen[:2]
        assert seen[0].epoch == _epoch_of(relay)
        created = [e for e in seen if isinstance(e, m.ReportCreated)]
        assert [e.report.report_id for e in created] == [real.report_id]
        assert [r.report_id for r in cache.reports()] == [real.report_id]  # no stale item
        assert cache.epoch() == _epoch_of(relay) and cache.last_seq() == created[0].seq
    finally:
        await client.stop()
    # the same cache again: its position is good, nothing is lost or replayed twice
    again = _client(relay, tmp_path, cache)
    q = again.subscribe_queue()
    await again.start()
    try:
        await again.wait_live(15)
        assert again.status.state is State.LIVE
        assert isinstance(await again.request(m.Ping(id="")), m.Pong)  # a round trip after live
        assert [x for x in await _drain(q) if not isinstance(x, m.TeamChanged)] == []
    finally:
        await again.stop()
        cache.close()
        await phone.close()


async def test_the_relay_answers_by_epoch_and_seq(relay: RunningRelay) -> None:
    phone, _ = await device(relay)
    await report(phone)
    p = await officer(relay, "dana", subscribe=None)
    first = await p.request(m.Subscribe(id=next_id(), since=0))
    assert isinstance(first, m.Subscribed) and not first.history_lost
    epoch, head = first.epoch, first.head
    assert epoch == _epoch_of(relay) and len(epoch) == 16
    await p.close()
    # the right epoch at the head: an ordinary resume, live after
    p = await officer(relay, "dev", subscribe=None)
    again = await p.request(m.Subscribe(id=next_id(), since=head, epoch=epoch))
    assert isinstance(again, m.Subscribed) and not again.history_lost and again.epoch == epoch
    await p.close()
    # another epoch: history lost, nothing replayed, not live
    p = await officer(relay, "sam", subscribe=None)
    other = await p.request(m.Subscribe(id=next_id(), since=head, epoch=WRONG))
    assert isinstance(other, m.Subscribed) and other.history_lost and other.epoch == epoch
    watcher = await officer(relay, "dana")  # a live console: when it has the event, so would p
    filed = await report(phone)
    await watcher.wait_for(
        lambda x: isinstance(x, m.ReportCreated) and x.report.report_id == filed.report_id
    )
    await watcher.close()
    assert isinstance(await p.request(m.Ping(id=next_id())), m.Pong)
    assert not any(isinstance(x, m.ReportCreated) for x in p.seen)  # it is not live
    # ... until it subscribes again from 0
    sub = await p.request(m.Subscribe(id=next_id(), since=0, epoch=other.epoch))
    assert isinstance(sub, m.Subscribed) and not sub.history_lost
    assert any(isinstance(x, m.ReportCreated) for x in p.seen)
    await p.close()
    # a console that saw more than the log holds: the log went back in time, so the
    # epoch is renewed for every console
    p = await officer(relay, "sue", subscribe=None)
    beyond = await p.request(m.Subscribe(id=next_id(), since=sub.head + 100, epoch=epoch))
    assert isinstance(beyond, m.Subscribed) and beyond.history_lost
    assert beyond.epoch != epoch and beyond.epoch == _epoch_of(relay)
    await p.close()
    await phone.close()


async def test_events_discarded_below_a_console_are_history_lost(relay: RunningRelay) -> None:
    phone, _ = await device(relay)
    for _ in range(3):
        await report(phone)
    p = await officer(relay, "dana", subscribe=None)
    sub = await p.request(m.Subscribe(id=next_id(), since=0))
    assert isinstance(sub, m.Subscribed)
    await p.close()
    db = relay.relay.db  # type: ignore[attr-defined]
    await db.write(lambda tx: log_epoch.forget_through(tx, sub.head - 1))
    p = await officer(relay, "dev", subscribe=None)
    below = await p.request(m.Subscribe(id=next_id(), since=1, epoch=sub.epoch))
    assert isinstance(below, m.Subscribed) and below.history_lost
    assert below.epoch == sub.epoch  # what is kept is the same history
    await p.close()
    p = await officer(relay, "sam", subscribe=None)
    at_floor = await p.request(m.Subscribe(id=next_id(), since=sub.head - 1, epoch=sub.epoch))
    assert isinstance(at_floor, m.Subscribed) and not at_floor.history_lost
    await p.close()
    await phone.close()


# ---------------------------------------------------------------- several relays


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cl.Cluster]:
    yield from cl.running(tmp_path_factory.mktemp("epoch"), relays=2)


async def test_cluster_one_epoch_for_every_node(cluster: cl.Cluster) -> None:
    """The epoch is the database's, not a node's: a console that moves to another node
    resumes there by seq, and one with another epoch is told history_lost there too."""
    one, two = cluster.direct(0), cluster.direct(1)
    phone, _ = await device(one)
    await report(phone)
    p = await officer(one, "dana", subscribe=None)
    first = await p.request(m.Subscribe(id=next_id(), since=0))
    assert isinstance(first, m.Subscribed) and first.head > 0 and len(first.epoch) == 16
    await p.close()
    p = await officer(two, "dev", subscribe=None)
    moved = await p.request(m.Subscribe(id=next_id(), since=first.head, epoch=first.epoch))
    assert isinstance(moved, m.Subscribed) and not moved.history_lost
    assert moved.epoch == first.epoch
    await p.close()
    p = await officer(two, "kim", subscribe=None)
    other = await p.request(m.Subscribe(id=next_id(), since=first.head, epoch=WRONG))
    assert isinstance(other, m.Subscribed) and other.history_lost and other.epoch == first.epoch
    await p.close()
    await phone.close()
