"""Several relays on one PostgreSQL behind HAProxy (tests/support/cluster.py), issue 15.

One cluster (PostgreSQL, three `lookout-relay serve --node-id` processes, HAProxy in TCP
mode) serves the whole module; the tests that kill or stop parts of it have a two-node
cluster of their own. docs/scaling.md has the design.

Every test id starts with `test_cluster_`, so `pytest -k cluster` runs exactly these.
Without PostgreSQL server binaries or HAProxy they skip, saying why
(LOOKOUT_REQUIRE_CLUSTER=1 or LOOKOUT_REQUIRE_POSTGRES=1 makes that a failure).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed

from backend_client import codec
from backend_client import messages as m
from backend_client.client import ClientConfig, Credentials, RelayClient
from backend_client.limits import MEDIA_CHUNK_BYTES
from backend_client.outbox import Outbox
from relay.db import models as db
from relay.db.engine import make_engine
from relay.db.uow import Database, Tx
from tests.conftest import PASSWORD
from tests.support import cluster as cl
from tests.support.flows import alert_info, device, device_back, officer, report, square
from tests.support.peer import Peer, next_id, wait_until, wait_until_async
from tests.support.totp import coder

pytest.importorskip("psycopg", reason="the cluster runs on PostgreSQL: needs psycopg (v3)")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cl.Cluster]:
    yield from cl.running(tmp_path_factory.mktemp("cluster"), relays=3)


def _node_of(before: list[tuple[int, int]], after: list[tuple[int, int]], kind: int) -> int:
    """Which node's officer (kind 0) or citizen (kind 1) count went up by one."""
    moved = [k for k, (b, a) in enumerate(zip(before, after, strict=True)) if a[kind] > b[kind]]
    assert len(moved) == 1, (before, after)
    return moved[0]


async def _connections_settle(c: cl.Cluster, want_officers: int, want_citizens: int) -> None:
    """The nodes' gauges count a connection once it is routed: wait for the totals."""

    def settled() -> bool:
        now = c.connections()
        return (sum(o for o, _ in now), sum(d for _, d in now)) == (want_officers, want_citizens)

    await wait_until(settled, timeout=10)


def _ours(e: m.Msg) -> bool:
    """A report.created of this test's reports (the module's cluster has others' too)."""
    return isinstance(e, m.ReportCreated) and e.report.text.startswith("in order: ")


async def _reports_seen(p: Peer, n: int, timeout: float = 20.0) -> list[int]:
    """The seqs of the first `n` of this test's report.created events this console got."""
    seqs: list[int] = []
    while len(seqs) < n:
        ev = await p.wait_for(_ours, timeout=timeout)
        assert isinstance(ev, m.ReportCreated)
        seqs.append(ev.seq)
    return seqs


async def test_cluster_console_and_phone_on_two_nodes_through_haproxy(cluster: cl.Cluster) -> None:
    lb = cluster.through_balancer()
    start = cluster.connections()
    base_o, base_d = sum(o for o, _ in start), sum(d for _, d in start)
    console = await officer(lb)
    await _connections_settle(cluster, base_o + 1, base_d)
    mid = cluster.connections()
    phone, _reg = await device(lb)
    await _connections_settle(cluster, base_o + 1, base_d + 1)
    end = cluster.connections()
    try:
        on_console, on_phone = _node_of(start, mid, 0), _node_of(mid, end, 1)
        assert on_console != on_phone  # round robin: two nodes, one database
        acc = await report(phone, text="Van reversing into the garages")
        ev = await console.wait_for(
            lambda e: isinstance(e, m.ReportCreated) and e.report.report_id == acc.report_id
        )
        assert (
            isinstance(ev, m.ReportCreated) and ev.report.text == "Van reversing into the garages"
        )
    finally:
        await console.close()
        await phone.close()


async def test_cluster_events_reach_every_console_once_in_seq_order(cluster: cl.Cluster) -> None:
    """Reports filed on all three nodes at once: each node's console sees the same events,
    each once, in one gap-free seq order; a fourth console resuming mid-way through
    another node gets exactly the rest."""
    nodes = [cluster.direct(k) for k in range(3)]
    consoles = [
        await officer(r, name) for r, name in zip(nodes, ("dev", "kim", "lee"), strict=True)
    ]
    phones = [(await device(r))[0] for r in nodes]
    per_phone = 8
    try:

        async def file(p: Peer, k: int) -> None:
            for i in range(per_phone):
                await report(p, text=f"in order: node {k} report {i}")

        await asyncio.gather(*(file(p, k) for k, p in enumerate(phones)))
        total = per_phone * len(phones)
        seen = [await _reports_seen(c, total) for c in consoles]
        first = seen[0]
        assert all(s == first for s in seen), seen  # the same order on every node
        assert first == list(range(first[0], first[0] + total))  # once each, no gap
        for c in consoles:  # and nothing more arrives (no repeat): a ping round-trips first
            assert isinstance(await c.request(m.Ping(id=next_id())), m.Pong)
            assert sum(_ours(e) for e in c.seen) == total

        half = first[total // 2 - 1]
        late = await officer(cluster.through_balancer(), "max", subscribe=half)
        try:
            rest = [e.seq for e in late.seen if isinstance(e, m.ReportCreated) and _ours(e)]
            assert rest == first[total // 2 :]
        finally:
            await late.close()
    finally:
        for p in (*consoles, *phones):
            await p.close()


async def test_cluster_appends_commit_in_seq_order(cluster: cl.Cluster) -> None:
    """The late-commit trap (DESIGN.md): node A's batch has taken seq N and is still open
    when node B writes. B must neither take N nor commit N+1 before A commits, or a
    console resuming "after N+1" would never see N. Two Databases stand for two nodes."""
    a = Database(make_engine(cluster.database_url))
    b = Database(make_engine(cluster.database_url))
    held, release = threading.Event(), threading.Event()

    def slow(tx: Tx) -> int:
        ev = tx.emit(m.ChatStatusChanged, message_id="a", report_id="r", status="read")
        held.set()
        assert release.wait(10), "the test never released node A's transaction"
        return int(ev.seq)  # type: ignore[attr-defined]

    def quick(tx: Tx) -> int:
        ev = tx.emit(m.ChatStatusChanged, message_id="b", report_id="r", status="read")
        return int(ev.seq)  # type: ignore[attr-defined]

    try:
        first = asyncio.ensure_future(a.write(slow))
        assert await asyncio.to_thread(held.wait, 10)
        second = asyncio.ensure_future(b.write(quick))
        with pytest.raises(TimeoutError):  # B waits for A's COMMIT (the audit lock)
            await asyncio.wait_for(asyncio.shield(second), 0.5)
        release.set()
        seq_a, seq_b = await asyncio.wait_for(asyncio.gather(first, second), 10)
        assert seq_b == seq_a + 1
    finally:
        release.set()
        await asyncio.to_thread(a.close)
        await asyncio.to_thread(b.close)


async def test_cluster_citizen_chat_reaches_a_console_on_another_node(
    cluster: cl.Cluster,
) -> None:
    console = await officer(cluster.direct(0), "ned")
    phone, _ = await device(cluster.direct(1))
    try:
        acc = await report(phone)
        sent = await phone.request(
            m.CitizenChatSend(
                id=next_id(), report_id=acc.report_id, text="Still here", client_ref="c1"
            )
        )
        assert isinstance(sent, m.ChatSent)
        posted = await console.wait_for(
            lambda e: (
                isinstance(e, m.ChatPosted) and e.message.message_id == sent.message.message_id
            )
        )
        assert isinstance(posted, m.ChatPosted) and posted.message.text == "Still here"
    finally:
        await console.close()
        await phone.close()


# ---------------------------------------------------------------- alerts and chat across nodes


async def _alert_across(cluster: cl.Cluster) -> tuple[m.Msg, Peer, Peer]:
    phone, _ = await device(cluster.direct(1))  # registered and located on node 2
    console = await officer(cluster.direct(0), "oli")  # the alert is sent on node 1
    acc = await console.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
    return acc, phone, console


async def test_cluster_alert_sent_on_one_node_reaches_a_phone_on_another(
    cluster: cl.Cluster,
) -> None:
    acc, phone, console = await _alert_across(cluster)
    try:
        assert isinstance(acc, m.AlertAccepted), acc
        got = await phone.wait_for(lambda x: isinstance(x, m.AlertDeliver), timeout=5)
        assert isinstance(got, m.AlertDeliver) and got.alert.alert_id == acc.alert.alert_id
    finally:
        await console.close()
        await phone.close()


async def test_cluster_officer_chat_reaches_a_phone_on_another_node(cluster: cl.Cluster) -> None:
    console = await officer(cluster.direct(0), "pat")
    phone, _ = await device(cluster.direct(1))
    try:
        acc = await report(phone)
        sent = await console.request(
            m.OfficerChatSend(id=next_id(), idem=next_id(), report_id=acc.report_id, text="Safe?")
        )
        assert isinstance(sent, m.ChatSent), sent
        got = await phone.wait_for(lambda x: isinstance(x, m.ChatDeliver), timeout=5)
        assert isinstance(got, m.ChatDeliver) and got.message.text == "Safe?"
        ack = await phone.request(
            m.ChatReceipt(id=next_id(), message_ids=[got.message.message_id], status="read")
        )
        assert isinstance(ack, m.Ack)
        st = await console.wait_for(
            lambda e: isinstance(e, m.ChatStatusChanged) and e.message_id == sent.message.message_id
        )
        assert isinstance(st, m.ChatStatusChanged) and st.status == "read"
        assert isinstance(await phone.request(m.Ping(id=next_id())), m.Pong)
        assert sum(isinstance(x, m.ChatDeliver) for x in phone.seen) == 1  # once
    finally:
        await console.close()
        await phone.close()


def _area(centre: tuple[float, float]) -> m.Polygon:
    """A block around `centre`, a place of the test's own (the module's cluster has every
    other test's phones in Preston)."""
    return square(0.002, centre)


async def _reaches(console: Peer, centre: tuple[float, float], n: int) -> None:
    """Wait until the console's node counts `n` phones in the block (its index learns of
    devices on other nodes from their notes, a moment after they commit)."""

    async def counted() -> bool:
        got = await console.request(
            m.AlertPreview(id=next_id(), area=_area(centre), categories=["burglary"])
        )
        assert isinstance(got, m.AlertCount), got
        return got.recipients == n

    await wait_until_async(counted, timeout=10)


async def _delivered_once(alert_id: str, *links: Peer) -> None:
    """One phone's connections in turn (the last one open): the alert reached the phone on
    one of them and (after a round trip on the last) exactly once over all."""

    def the_alert(x: m.Msg) -> bool:
        return isinstance(x, m.AlertDeliver) and x.alert.alert_id == alert_id

    if not any(the_alert(x) for p in links[:-1] for x in p.seen):
        await links[-1].wait_for(the_alert, timeout=10)
    assert isinstance(await links[-1].request(m.Ping(id=next_id())), m.Pong)
    frames = [x for p in links for x in p.seen if the_alert(x)]
    assert len(frames) == 1, frames


async def test_cluster_alert_counts_and_reaches_devices_on_every_node(
    cluster: cl.Cluster,
) -> None:
    """Sent on node 1 to a block holding one phone on node 2 and one on node 3: the count
    previewed and stored is both, and each phone gets it once."""
    centre = (53.7712, -2.7101)
    phones = [(await device(cluster.direct(k), *centre))[0] for k in (1, 2)]
    console = await officer(cluster.direct(0), "ann")
    try:
        await _reaches(console, centre, 2)
        acc = await console.request(
            m.AlertSend(id=next_id(), idem=next_id(), info=alert_info(area=_area(centre)))
        )
        assert isinstance(acc, m.AlertAccepted), acc
        assert acc.alert.recipients == 2
        for phone in phones:
            await _delivered_once(acc.alert.alert_id, phone)
    finally:
        for p in (console, *phones):
            await p.close()


async def test_cluster_device_leaving_the_block_on_its_node_leaves_every_index(
    cluster: cl.Cluster,
) -> None:
    """A phone on node 2 moves out of the block, then asks for no burglary alerts: node 1
    stops counting it each time (fix and category notes)."""
    centre = (53.7655, -2.6833)
    phone, _ = await device(cluster.direct(1), *centre)
    console = await officer(cluster.direct(0), "bob")
    try:
        await _reaches(console, centre, 1)
        away = await phone.request(m.LocationUpdate(id=next_id(), lat=53.9, lon=-2.9))
        assert isinstance(away, m.Ack)
        await _reaches(console, centre, 0)
        back = await phone.request(m.LocationUpdate(id=next_id(), lat=centre[0], lon=centre[1]))
        assert isinstance(back, m.Ack)
        await _reaches(console, centre, 1)
        quiet = await phone.request(m.SetCategories(id=next_id(), categories=["vehicle"]))
        assert isinstance(quiet, m.Ack)
        await _reaches(console, centre, 0)
    finally:
        await console.close()
        await phone.close()


async def test_cluster_held_alert_and_chat_reach_a_phone_back_on_another_node(
    cluster: cl.Cluster,
) -> None:
    """A phone registered on node 2 goes offline; an alert and an officer's message are sent
    on node 1 meanwhile; it comes back on node 3 and gets both."""
    centre = (53.7601, -2.7305)
    phone, reg = await device(cluster.direct(1), *centre)
    console = await officer(cluster.direct(0), "cal")
    try:
        filed = await report(phone, lat=centre[0], lon=centre[1])
        await _reaches(console, centre, 1)
        await phone.close()
        acc = await console.request(
            m.AlertSend(id=next_id(), idem=next_id(), info=alert_info(area=_area(centre)))
        )
        assert isinstance(acc, m.AlertAccepted) and acc.alert.recipients == 1, acc
        sent = await console.request(
            m.OfficerChatSend(
                id=next_id(), idem=next_id(), report_id=filed.report_id, text="Are you safe?"
            )
        )
        assert isinstance(sent, m.ChatSent), sent
        phone = await device_back(cluster.direct(2), reg)
        await _delivered_once(acc.alert.alert_id, phone)
        chat = await phone.wait_for(lambda x: isinstance(x, m.ChatDeliver))
        assert isinstance(chat, m.ChatDeliver) and chat.message.text == "Are you safe?"
    finally:
        await console.close()
        await phone.close()


async def test_cluster_second_connection_replaces_the_first_across_nodes(
    cluster: cl.Cluster,
) -> None:
    """The same device authenticates on node 2 while connected to node 1: node 1 closes
    its older connection; then again on node 1: node 2 closes the one it holds. The newest
    stays up, and an alert reaches the device once, there."""
    centre = (53.7522, -2.7014)
    first, reg = await device(cluster.direct(0), *centre)
    second = third = None
    console = await officer(cluster.direct(2), "eve")
    try:
        second = await device_back(cluster.direct(1), reg)
        with pytest.raises(ConnectionClosed) as closed:
            await first.recv(timeout=10)
        assert "replaced" in (closed.value.rcvd.reason if closed.value.rcvd else "")
        assert isinstance(await second.request(m.Ping(id=next_id())), m.Pong)
        third = await device_back(cluster.direct(0), reg)
        with pytest.raises(ConnectionClosed):
            await second.recv(timeout=10)
        await _reaches(console, centre, 1)
        acc = await console.request(
            m.AlertSend(id=next_id(), idem=next_id(), info=alert_info(area=_area(centre)))
        )
        assert isinstance(acc, m.AlertAccepted), acc
        await _delivered_once(acc.alert.alert_id, third)
    finally:
        for p in (console, first, second, third):
            if p is not None:
                await p.close()


async def test_cluster_chat_marks_reach_a_phone_on_another_node(cluster: cl.Cluster) -> None:
    """A citizen's message from a phone on node 2, read by an officer on node 1: the phone
    is told `delivered`, then `read`."""
    console = await officer(cluster.direct(0), "fay")
    phone, _ = await device(cluster.direct(1))
    try:
        acc = await report(phone)
        sent = await phone.request(
            m.CitizenChatSend(id=next_id(), report_id=acc.report_id, text="Hello?", client_ref="m")
        )
        assert isinstance(sent, m.ChatSent), sent
        mid = sent.message.message_id

        def mark(status: str) -> Callable[[m.Msg], bool]:
            return lambda x: (
                isinstance(x, m.ChatStatusUpdate) and x.message_id == mid and x.status == status
            )

        await phone.wait_for(mark("delivered"))
        read = await console.request(m.OfficerChatRead(id=next_id(), message_ids=[mid]))
        assert isinstance(read, m.Ack), read
        await phone.wait_for(mark("read"))
    finally:
        await console.close()
        await phone.close()


async def test_cluster_photo_begun_on_one_node_finished_on_another_is_seen_on_a_third(
    cluster: cl.Cluster,
) -> None:
    """Media in the store every node reaches: half a photo sent to node 1, the link lost,
    the rest to node 2 (resuming at the offset node 2 reports), then fetched by a console
    on node 3 byte for byte."""
    noise = Image.frombytes("RGB", (1100, 1100), random.Random(15).randbytes(1100 * 1100 * 3))
    buf = io.BytesIO()
    noise.save(buf, "JPEG", quality=95)
    photo = buf.getvalue()
    assert len(photo) > 2 * MEDIA_CHUNK_BYTES  # three chunks at least
    sha = hashlib.sha256(photo).hexdigest()
    decl = m.MediaDecl(sha256=sha, mime="image/jpeg", size=len(photo))
    phone, reg = await device(cluster.direct(0))
    console = await officer(cluster.direct(2), "gil")
    try:
        filed = await report(phone, media=[decl])
        chunk = MEDIA_CHUNK_BYTES
        first = await phone.request(
            m.MediaChunk(
                id=next_id(), report_id=filed.report_id, sha256=sha, offset=0, data=photo[:chunk]
            )
        )
        assert isinstance(first, m.MediaProgress) and not first.complete, first
        await phone.close()
        phone = await device_back(cluster.direct(1), reg)
        offset = first.received
        while True:
            got = await phone.request(
                m.MediaChunk(
                    id=next_id(),
                    report_id=filed.report_id,
                    sha256=sha,
                    offset=offset,
                    data=photo[offset : offset + chunk],
                )
            )
            assert isinstance(got, m.MediaProgress), got
            if got.complete:
                break
            offset = got.received
        fetched = b""
        while len(fetched) < len(photo):
            data = await console.request(m.MediaGet(id=next_id(), sha256=sha, offset=len(fetched)))
            assert isinstance(data, m.MediaData) and data.total == len(photo), data
            fetched += data.data
        assert fetched == photo
    finally:
        await console.close()
        await phone.close()


# ---------------------------------------------------------------- failures


@pytest.fixture
def small_cluster(tmp_path: Path) -> Iterator[cl.Cluster]:
    """A cluster of its own (two nodes), for tests that kill or stop parts of it."""
    yield from cl.running(tmp_path / "cluster", relays=2)


async def _file_until_accepted(phone: Peer, text: str, timeout: float = 30.0) -> m.ReportAccepted:
    """Submit one report (one client_ref, so retries are one report) until it is stored;
    meanwhile the only answer allowed is `unavailable` (retry later)."""
    ref = next_id()
    accepted: list[m.ReportAccepted] = []

    async def stored() -> bool:
        got = await phone.request(
            m.ReportSubmit(
                id=next_id(), client_ref=ref, category="burglary", text=text, lat=53.759, lon=-2.699
            )
        )
        if isinstance(got, m.ReportAccepted):
            accepted.append(got)
            return True
        assert isinstance(got, m.Error) and got.code == "unavailable", got
        return False

    await wait_until_async(stored, timeout=timeout, poll=0.2)
    return accepted[0]


async def test_cluster_postgres_restart_answers_unavailable_then_recovers(
    small_cluster: cl.Cluster,
) -> None:
    """PostgreSQL stopped: writes answer `unavailable`; started again: the relays recover by
    themselves, the retried report is stored once, and it reaches a console on the other
    node (its follower reconnected its LISTEN and caught up)."""
    console = await officer(small_cluster.direct(0), "dana")
    phone, _ = await device(small_cluster.direct(1))
    try:
        small_cluster.stop_postgres()
        refused = await phone.request(
            m.ReportSubmit(
                id=next_id(),
                client_ref=next_id(),
                category="burglary",
                text="x",
                lat=53.759,
                lon=-2.699,
            )
        )
        assert isinstance(refused, m.Error) and refused.code == "unavailable", refused
        small_cluster.start_postgres()
        acc = await _file_until_accepted(phone, "after the restart")
        ev = await console.wait_for(
            lambda e: isinstance(e, m.ReportCreated) and e.report.report_id == acc.report_id,
            timeout=20,
        )
        assert isinstance(ev, m.ReportCreated)
    finally:
        await console.close()
        await phone.close()


async def test_cluster_console_of_a_killed_node_resumes_through_another(
    small_cluster: cl.Cluster,
) -> None:
    """`kill -9` of the node a console is on: it reconnects through HAProxy (to the other
    node) within 10 s and, resuming from the last seq it saw, gets what was filed meanwhile."""
    console = await officer(small_cluster.direct(0), "dana")
    phone, _ = await device(small_cluster.direct(1))
    try:
        before = await report(phone, text="before the kill")
        ev = await console.wait_for(
            lambda e: isinstance(e, m.ReportCreated) and e.report.report_id == before.report_id
        )
        assert isinstance(ev, m.ReportCreated)
        last = ev.seq
        small_cluster.kill(0)
        with pytest.raises(Exception):  # noqa: B017  (the link dies with the process)
            await console.recv(timeout=10)
        during = await report(phone, text="while node 1 is dead")
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        again = await officer(small_cluster.through_balancer(), "dev", subscribe=last)
        reconnected_s = loop.time() - t0
        try:
            assert reconnected_s < 10
            got = [e for e in again.seen if isinstance(e, m.ReportCreated)]
            assert [e.report.report_id for e in got] == [during.report_id]
            assert got[0].seq == last + 1
        finally:
            await again.close()
    finally:
        await console.close()
        await phone.close()


async def _back_through_balancer(
    c: cl.Cluster, reg: m.DeviceRegistered, deadline_s: float = 10.0
) -> Peer:
    """A phone whose node died comes back through HAProxy, retrying as the app does."""
    peers: list[Peer] = []

    async def authed() -> bool:
        try:
            peers.append(await device_back(c.through_balancer(), reg))
        except (OSError, ConnectionClosed, TimeoutError):
            return False
        return True

    await wait_until_async(authed, timeout=deadline_s, poll=0.2)
    return peers[0]


async def test_cluster_kill_9_under_load_loses_nothing(small_cluster: cl.Cluster) -> None:
    """`kill -9` of the node a console (the real client, with its outbox) and half the
    phones are on, while the console is sending and an alert goes out on the other node:
    the phones and the console are back through HAProxy within 10 s, the alert reached
    every phone in the block exactly once, and every queued action is applied exactly once."""
    c = small_cluster
    home = c.root / "console"
    home.mkdir()
    client = RelayClient(
        ClientConfig(
            url=f"wss://127.0.0.1:{c.balancer_port}", ca_file=c.ca, backoff_base=0.2, backoff_cap=1
        ),
        Credentials("kim", PASSWORD, coder(c.totp["kim"])),
        Outbox(home / "outbox.sqlite"),
    )
    replies: list[m.Msg] = []
    client.on_outbox(lambda _entry, reply: reply is not None and replies.append(reply))
    before = c.connections()
    await client.start()
    await client.wait_live(timeout=15)
    await _connections_settle(c, sum(o for o, _ in before) + 1, sum(d for _, d in before))
    doomed = _node_of(before, c.connections(), 0)  # the console's node dies
    sender = await officer(c.direct(1 - doomed), "lee")
    centre = (53.7450, -2.6950)
    phones = [await device(c.through_balancer(), *centre) for _ in range(8)]
    links: list[list[Peer]] = [[p] for p, _ in phones]  # each phone's connections in turn
    filed = await report(phones[0][0], lat=centre[0], lon=centre[1])
    try:
        await _reaches(sender, centre, len(phones))
        texts = [f"during failover {i}" for i in range(20)]
        for text in texts[:10]:
            client.submit(m.OfficerChatSend(id="", idem="", report_id=filed.report_id, text=text))
        loop = asyncio.get_running_loop()
        c.kill(doomed)
        killed_at = loop.time()
        acc = await sender.request(
            m.AlertSend(id=next_id(), idem=next_id(), info=alert_info(area=_area(centre)))
        )
        assert isinstance(acc, m.AlertAccepted) and acc.alert.recipients == len(phones), acc
        for text in texts[10:]:
            client.submit(m.OfficerChatSend(id="", idem="", report_id=filed.report_id, text=text))

        for k, (p, reg) in enumerate(phones):
            try:
                assert isinstance(await p.request(m.Ping(id=next_id()), timeout=3), m.Pong)
            except (ConnectionClosed, TimeoutError):  # it was on the dead node
                links[k].append(await _back_through_balancer(c, reg))
        phones_back_s = loop.time() - killed_at
        assert sum(len(ls) > 1 for ls in links) == len(phones) // 2  # round robin: half died
        await wait_until(lambda: len(replies) >= len(texts), timeout=10)
        console_back_s = loop.time() - killed_at
        assert phones_back_s < 10 and console_back_s < 10, (phones_back_s, console_back_s)
        print(f"back through HAProxy: phones {phones_back_s:.1f} s, console {console_back_s:.1f} s")

        for ls in links:
            await _delivered_once(acc.alert.alert_id, *ls)

        assert all(isinstance(r, m.ChatSent) for r in replies), replies
        posted = await asyncio.to_thread(_chat_texts_logged, c.database_url)
        assert posted == Counter(dict.fromkeys(texts, 1))
    finally:
        await client.stop()
        client.outbox.close()
        for ls in links:
            for p in ls:
                await p.close()
        await sender.close()


def _chat_texts_logged(url: str) -> Counter[str]:
    """The officers' chat messages in the shared event log (read straight from PostgreSQL)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            frames = conn.execute(select(db.Event.frame).order_by(db.Event.seq)).scalars()
            events = [codec.officer_outbound.decode(f) for f in frames]
    finally:
        engine.dispose()
    return Counter(
        e.message.text
        for e in events
        if isinstance(e, m.ChatPosted) and e.message.text.startswith("during failover")
    )


async def test_cluster_draining_node_hands_its_phones_over_without_losing_an_alert(
    small_cluster: cl.Cluster,
) -> None:
    """SIGTERM to a node (as systemd stops it, `drain_s` set): /healthz says 404 at once,
    its phones are told "going away" and come back through HAProxy on the other node, an
    alert sent meanwhile reaches every phone once (those that had it acknowledged it, as
    the portal does, so it is not held for them), and the node exits cleanly."""
    c = small_cluster
    sender = await officer(c.direct(1), "max")
    centre = (53.7380, -2.7222)
    phones = [await device(c.through_balancer(), *centre) for _ in range(6)]
    links: list[list[Peer]] = [[p] for p, _ in phones]
    try:
        await _reaches(sender, centre, len(phones))
        c.drain(0)
        await wait_until(lambda: c.healthz(0) == 404, timeout=5)
        acc = await sender.request(
            m.AlertSend(id=next_id(), idem=next_id(), info=alert_info(area=_area(centre)))
        )
        assert isinstance(acc, m.AlertAccepted), acc

        async def phone_app(k: int) -> None:
            p, reg = phones[k]
            try:
                while True:  # the drained node's phones are told to go, within drain_s
                    got = await p.recv(timeout=5)
                    if isinstance(got, m.AlertDeliver):  # acknowledged, as the portal does
                        await p.send(
                            m.AlertAck(
                                id=next_id(), alert_id=got.alert.alert_id, status="delivered"
                            )
                        )
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 1001, closed
                links[k].append(await _back_through_balancer(c, reg))
            except TimeoutError:  # on the node that stays
                pass

        await asyncio.gather(*(phone_app(k) for k in range(len(phones))))
        assert sum(len(ls) > 1 for ls in links) == len(phones) // 2
        node = c.nodes[0]
        await wait_until(lambda: not node.alive, timeout=10)
        assert node.proc is not None and node.proc.returncode == 0
        for ls in links:
            await _delivered_once(acc.alert.alert_id, *ls)
    finally:
        for ls in links:
            for p in ls:
                await p.close()
        await sender.close()
