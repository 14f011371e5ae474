"""PostgreSQL runs: the relay on PostgreSQL instead of SQLite, end to end over TLS loopback.

The design says the relay must also run on PostgreSQL with no SQLite-only SQL. These tests
start one throwaway PostgreSQL cluster for the session (tests/support/postgres.py), give
every test its own empty database, and drive the important flows against it: migration to
head, login and subscribe, devices, a report with a chunked JPEG, claims, chat with
receipts, geofenced alerts with counts, resume with `since`, idempotency, the audit chain,
group commit with a failing job, and a restart.

Every test id starts with `test_pg_` and lives in this module, so `pytest -k postgres`
(or `-k test_pg_`) runs exactly these. Without PostgreSQL server binaries they skip
with the reason (set LOOKOUT_REQUIRE_POSTGRES=1 to make that a failure instead).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic import autogenerate
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from PIL import Image
from sqlalchemy import Engine, func, inspect, select, text

from backend_client import messages as m
from backend_client.errors import ProtocolError
from relay import admin
from relay.db import models as db
from relay.db.engine import alembic_config, make_engine, migrate
from relay.db.uow import AUDIT_LOCK, EVENT_HEAD, NOTE_HEAD, Database
from tests.conftest import PASSWORD, RunningRelay
from tests.support import postgres
from tests.support.flows import PRESTON, alert_info, device, officer, report, square
from tests.support.peer import Peer, next_id
from tests.support.pg_relay import start_pg_relay

pytest.importorskip("psycopg", reason="PostgreSQL runs need the psycopg[binary] driver (v3)")

# ------------------------------------------------------------------ fixtures
# (pg_cluster: tests/integration/conftest.py, shared with the email tests)


@pytest.fixture
def pg_url(pg_cluster: postgres.PostgresCluster) -> str:
    """A fresh, empty PostgreSQL database for this test."""
    return pg_cluster.create_database()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
async def pg_relay(tmp_path: Path, pg_url: str) -> AsyncIterator[RunningRelay]:
    running = await start_pg_relay(tmp_path / "relay", pg_url, counts_interval_s=0.1)
    try:
        yield running
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.effect_noise((96, 64), 60).convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


# ------------------------------------------------------------------ schema


def test_pg_migration_to_head_on_an_empty_database(pg_engine: Engine) -> None:
    assert inspect(pg_engine).get_table_names() == []
    migrate(pg_engine)
    migrate(pg_engine)  # idempotent
    head = ScriptDirectory.from_config(alembic_config(str(pg_engine.url))).get_current_head()
    with pg_engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head
        # the migrated schema is exactly what the models declare, on this engine
        diff = autogenerate.compare_metadata(MigrationContext.configure(conn), db.Base.metadata)
        assert diff == []
        types = dict(
            conn.execute(
                text(
                    "SELECT table_name || '.' || column_name, data_type"
                    " FROM information_schema.columns WHERE table_schema = 'public'"
                )
            ).all()
        )
    # unix timestamps must round-trip exactly as 64-bit floats (the audit hash covers them)
    for col in ("audit_log.at", "events.at", "reports.created_at", "devices.lat"):
        assert types[col] == "double precision", (col, types[col])
    assert types["devices.category_mask"] == "bigint"
    assert types["report_media.size"] == "bigint"
    stamp = time.time() + 0.123456789012345
    with pg_engine.begin() as conn:
        conn.execute(
            db.Event.__table__.insert().values(seq=1, at=stamp, frame="{}")  # type: ignore[attr-defined]
        )
        back = conn.execute(select(db.Event.at)).scalar_one()
    assert back == stamp


def test_pg_relays_starting_together_migrate_one_after_another(pg_url: str) -> None:
    """Three nodes of a new release start at the same moment on an empty database: each
    migration waits for the one before (an advisory lock) and all find the same head."""
    engines = [make_engine(pg_url) for _ in range(3)]
    try:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(migrate, engines))  # raises if any of them failed
        heads = set()
        for e in engines:
            with e.connect() as conn:
                heads.add(
                    conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
                )
        assert len(heads) == 1
        Database(engines[0]).close()  # and the shared counters are there once
    finally:
        for e in engines:
            e.dispose()


async def test_pg_failed_job_is_undone_alone_in_group_commit(pg_engine: Engine) -> None:
    """PostgreSQL aborts a transaction on an error unless a SAVEPOINT is rolled back: a
    failing job (a database error, not only a protocol error) must not sink its batch."""
    migrate(pg_engine)
    store = Database(pg_engine)
    try:

        def good(name: str):
            def job(tx):
                tx.s.add(db.Counter(name=name, value=1))
                tx.audit("test", "counter.add", name)
                return name

            return job

        def duplicate(tx):
            tx.s.add(db.Counter(name="a", value=2))
            tx.s.flush()  # unique violation inside this job's savepoint

        def refused(tx):
            tx.s.add(db.Counter(name="never", value=3))
            tx.s.flush()
            raise ProtocolError("conflict", "refused on purpose")

        assert await store.write(good("a")) == "a"
        results = await asyncio.gather(
            store.write(good("b")),
            store.write(duplicate),
            store.write(refused),
            store.write(good("c")),
            return_exceptions=True,
        )
        assert results[0] == "b" and results[3] == "c"
        assert not isinstance(results[1], str) and isinstance(results[2], ProtocolError)
        names = store.read_sync(lambda s: sorted(s.scalars(select(db.Counter.name)).all()))
        assert [n for n in names if n not in (AUDIT_LOCK, EVENT_HEAD, NOTE_HEAD)] == ["a", "b", "c"]
        verdict = admin.verify_audit(pg_engine)
        assert verdict.ok and verdict.checked == 3
    finally:
        store.close()


# ------------------------------------------------------------------ flows


async def test_pg_report_with_media_claim_and_chat(pg_relay: RunningRelay) -> None:
    off = await officer(pg_relay, "dana")
    dev = await officer(pg_relay, "dev")
    cit, reg = await device(pg_relay, categories=("burglary", "other"))
    photo = _jpeg()
    assert len(photo) > 2000
    sha = hashlib.sha256(photo).hexdigest()
    acc = await report(
        cit,
        text="Window forced",
        media=[m.MediaDecl(sha256=sha, mime="image/jpeg", size=len(photo))],
    )
    assert acc.missing == [sha]
    created = await off.wait_for(lambda e: isinstance(e, m.ReportCreated))
    assert created.report.report_id == acc.report_id
    assert [(x.sha256, x.stored) for x in created.report.media] == [(sha, False)]

    step = len(photo) // 3 + 1
    for offset in range(0, len(photo), step):
        prog = await cit.request(
            m.MediaChunk(
                id=next_id(),
                report_id=acc.report_id,
                sha256=sha,
                offset=offset,
                data=photo[offset : offset + step],
            )
        )
        assert isinstance(prog, m.MediaProgress), prog
        assert prog.received == min(offset + step, len(photo))
    assert prog.complete
    upd = await off.wait_for(
        lambda e: (
            isinstance(e, m.ReportUpdated)
            and e.report.report_id == acc.report_id
            and e.report.media[0].stored
        )
    )
    assert upd.report.media[0].size == len(photo)
    data = await off.request(m.MediaGet(id=next_id(), sha256=sha))
    assert isinstance(data, m.MediaData) and data.data == photo and data.mime == "image/jpeg"

    # claim, and a second dispatcher is told who holds it
    claim = await off.request(m.ReportClaim(id=next_id(), idem=next_id(), report_id=acc.report_id))
    assert isinstance(claim, m.Ack), claim
    err = await dev.request(m.ReportClaim(id=next_id(), idem=next_id(), report_id=acc.report_id))
    assert isinstance(err, m.Error) and err.code == "conflict" and "dana" in err.message
    claimed = await dev.wait_for(
        lambda e: isinstance(e, m.ReportUpdated) and e.report.claimed_by == "dana"
    )
    assert claimed.report.status == "claimed"

    # officer -> citizen, with the citizen's read receipt back
    sent = await off.request(
        m.OfficerChatSend(id=next_id(), idem=next_id(), report_id=acc.report_id, text="Safe?")
    )
    assert isinstance(sent, m.ChatSent)
    got = await cit.wait_for(lambda x: isinstance(x, m.ChatDeliver))
    assert got.message.text == "Safe?" and got.message.message_id == sent.message.message_id
    ack = await cit.request(
        m.ChatReceipt(id=next_id(), message_ids=[got.message.message_id], status="read")
    )
    assert isinstance(ack, m.Ack)
    st = await off.wait_for(lambda e: isinstance(e, m.ChatStatusChanged) and e.status == "read")
    assert st.message_id == sent.message.message_id

    # citizen -> officer, and the citizen hears it was delivered
    reply = await cit.request(
        m.CitizenChatSend(id=next_id(), report_id=acc.report_id, text="Yes", client_ref="c1")
    )
    assert isinstance(reply, m.ChatSent)
    posted = await off.wait_for(
        lambda e: isinstance(e, m.ChatPosted) and e.message.sender == "citizen"
    )
    assert posted.message.text == "Yes"
    st2 = await cit.wait_for(
        lambda x: isinstance(x, m.ChatStatusUpdate) and x.message_id == reply.message.message_id
    )
    assert st2.status == "delivered"

    # the rows are in PostgreSQL, with the device's settings
    def rows(s):
        d = s.scalar(select(db.Device).where(db.Device.public_id == reg.device_id))
        return (
            d.category_mask,
            d.lat,
            d.lon,
            s.scalar(select(func.count()).select_from(db.ChatMessage)),
            s.scalar(select(db.ReportMedia.stored)),
        )

    mask, lat, lon, chats, stored = pg_relay.relay.db.read_sync(rows)  # type: ignore[attr-defined]
    assert mask == (1 << m.CATEGORIES.index("burglary")) | (1 << m.CATEGORIES.index("other"))
    assert (lat, lon) == PRESTON and chats == 2 and stored is True
    for p in (off, dev, cit):
        await p.close()


async def test_pg_alert_preview_send_deliver_ack_and_counts(pg_relay: RunningRelay) -> None:
    off = await officer(pg_relay)
    inside, _ = await device(pg_relay, categories=("burglary",))
    also, _ = await device(pg_relay, categories=("other", "burglary"))
    wrong_cat, _ = await device(pg_relay, categories=("canal",))
    outside, _ = await device(pg_relay, lat=PRESTON[0] + 0.2, categories=("burglary",))
    count = await off.request(m.AlertPreview(id=next_id(), area=square(), categories=["burglary"]))
    assert isinstance(count, m.AlertCount) and count.recipients == 2
    acc = await off.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
    assert isinstance(acc, m.AlertAccepted), acc
    assert acc.alert.state == "active" and acc.alert.recipients == 2
    alert_id = acc.alert.alert_id
    for p in (inside, also):
        got = await p.wait_for(lambda x: isinstance(x, m.AlertDeliver))
        assert got.alert.alert_id == alert_id and got.alert.headline == "Burglaries tonight"
    await inside.request(m.AlertAck(id=next_id(), alert_id=alert_id, status="delivered"))
    await also.request(m.AlertAck(id=next_id(), alert_id=alert_id, status="read"))
    prog = await off.wait_for(
        lambda e: (
            isinstance(e, m.AlertChanged)
            and e.alert.alert_id == alert_id
            and e.alert.delivered == 2
            and e.alert.read == 1
        )
    )
    assert prog.alert.recipients == 2
    for p in (wrong_cat, outside):
        pong = await p.request(m.Ping(id=next_id()))
        assert isinstance(pong, m.Pong)
        assert not any(isinstance(x, m.AlertDeliver) for x in p.seen)

    def stored(s):
        a = s.scalar(select(db.Alert).where(db.Alert.public_id == alert_id))
        statuses = sorted(
            s.scalars(select(db.AlertRecipient.status).where(db.AlertRecipient.alert_id == a.id))
        )
        return a.recipients, a.delivered, a.read, statuses

    assert pg_relay.relay.db.read_sync(stored) == (2, 2, 1, ["delivered", "read"])  # type: ignore[attr-defined]
    capx = await off.request(m.AlertExport(id=next_id(), alert_id=alert_id))
    assert isinstance(capx, m.AlertCap) and "urn:oasis:names:tc:emergency:cap:1.2" in capx.xml


async def test_pg_resume_since_gets_every_missed_event_once_in_order(
    pg_relay: RunningRelay,
) -> None:
    off = await officer(pg_relay)
    cit, _ = await device(pg_relay)
    await report(cit, text="first")
    first = await off.wait_for(lambda e: isinstance(e, m.ReportCreated))
    await off.close()
    for i in range(25):  # events happen while the officer is away
        await report(cit, text=f"while away {i}")
    back = await officer(pg_relay, "dev", subscribe=None)  # codes are single-use: another officer
    await back.send(m.Subscribe(id=next_id(), since=first.seq))
    sub = await back.wait_for(lambda e: isinstance(e, m.Subscribed))
    seqs = [e.seq for e in back.seen if hasattr(e, "seq")]
    assert seqs == list(range(first.seq + 1, sub.head + 1))
    texts = [e.report.text for e in back.seen if isinstance(e, m.ReportCreated)]
    assert texts == [f"while away {i}" for i in range(25)]
    await report(cit, text="live")
    live = await back.wait_for(lambda e: isinstance(e, m.ReportCreated) and e.report.text == "live")
    assert live.seq == sub.head + 1

    # a burst written while subscribing from zero: nothing lost, nothing doubled
    async def writer() -> None:
        for i in range(40):
            await report(cit, text=f"burst {i}")

    task = asyncio.create_task(writer())
    fresh = await officer(pg_relay, "sam", subscribe=None)
    await fresh.send(m.Subscribe(id=next_id(), since=0))
    await task
    await fresh.wait_for(
        lambda e: isinstance(e, m.ReportCreated) and e.report.text == "burst 39", timeout=20
    )
    seqs = [e.seq for e in fresh.seen if hasattr(e, "seq")]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_pg_idempotent_action_is_applied_once(pg_relay: RunningRelay) -> None:
    off = await officer(pg_relay)
    idem = next_id()
    one = await off.request(m.IncidentCreate(id=next_id(), idem=idem, title="Op Nightjar"))
    two = await off.request(m.IncidentCreate(id=next_id(), idem=idem, title="Op Nightjar"))
    assert isinstance(one, m.IncidentCreated) and isinstance(two, m.IncidentCreated)
    assert one.incident_ref == two.incident_ref and two.re != one.re
    other = await off.request(m.IncidentCreate(id=next_id(), idem=next_id(), title="Op Kestrel"))
    assert isinstance(other, m.IncidentCreated) and other.incident_ref != one.incident_ref
    await off.request(m.Ping(id=next_id()))
    opened = [e for e in off.seen if isinstance(e, m.IncidentOpened)]
    assert len(opened) == 2
    titles = pg_relay.relay.db.read_sync(  # type: ignore[attr-defined]
        lambda s: sorted(s.scalars(select(db.Incident.title)).all())
    )
    assert titles == ["Op Kestrel", "Op Nightjar"]


async def test_pg_audit_chain_verifies_and_detects_tampering(
    pg_relay: RunningRelay, pg_url: str
) -> None:
    off = await officer(pg_relay)
    cit, _ = await device(pg_relay)
    acc = await report(cit)
    await off.request(m.ReportClaim(id=next_id(), idem=next_id(), report_id=acc.report_id))
    await off.request(
        m.OfficerChatSend(id=next_id(), idem=next_id(), report_id=acc.report_id, text="hello")
    )
    await off.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
    engine = admin.open_engine(pg_relay.data_dir, pg_url)
    try:
        assert engine.dialect.name == "postgresql"
        verdict = admin.verify_audit(engine)
        # officer.add x3, login, claim, chat, alert
        assert verdict.ok and verdict.checked >= 7, verdict
        cli = [sys.executable, "-m", "relay.cli", "audit", "verify"]
        cli += ["--data-dir", str(pg_relay.data_dir), "--database-url", pg_url]
        done = await asyncio.to_thread(subprocess.run, cli, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
        with engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET actor='mallory' WHERE action='report.claim'"))
        verdict = admin.verify_audit(engine)
        assert not verdict.ok and verdict.first_bad_seq is not None
        done = await asyncio.to_thread(
            subprocess.run, cli, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 1 and "TAMPERED" in done.stderr
    finally:
        engine.dispose()


async def test_pg_officer_added_while_the_relay_runs_keeps_actions_working(
    pg_relay: RunningRelay, pg_url: str
) -> None:
    off = await officer(pg_relay)  # its login is audited by the running relay
    engine = admin.open_engine(pg_relay.data_dir, pg_url)
    try:
        admin.add_officer(engine, "zed", "dispatcher", PASSWORD)  # the CLI, beside the relay
        cit, _ = await device(pg_relay)
        acc = await report(cit)
        claim = await off.request(
            m.ReportClaim(id=next_id(), idem=next_id(), report_id=acc.report_id)
        )
        assert isinstance(claim, m.Ack), claim
        verdict = admin.verify_audit(engine)
        assert verdict.ok and verdict.checked >= 6, verdict
    finally:
        engine.dispose()


async def test_pg_relay_restart_keeps_data(tmp_path: Path, pg_url: str) -> None:
    data = tmp_path / "r"
    first = await start_pg_relay(data, pg_url)
    cit, reg = await device(first)
    acc = await report(cit, text="before restart")
    off = await officer(first)
    inc = await off.request(m.IncidentCreate(id=next_id(), idem=next_id(), title="Op Before"))
    assert isinstance(inc, m.IncidentCreated)
    head = first.relay.db.head_seq  # type: ignore[attr-defined]
    await first.relay.stop()  # type: ignore[attr-defined]
    second = await start_pg_relay(data, pg_url)
    second.totp.update(first.totp)
    try:
        off = await officer(second)
        ev = [e for e in off.seen if isinstance(e, m.ReportCreated)]
        assert [e.report.report_id for e in ev] == [acc.report_id]
        assert second.relay.db.head_seq == head  # type: ignore[attr-defined]
        again = await Peer.open(second.citizen_url, second.ssl, officer=False)
        ok = await again.request(
            m.DeviceAuth(id=next_id(), device_id=reg.device_id, secret=reg.secret)
        )
        assert isinstance(ok, m.DeviceAuthed) and ok.categories == ["burglary"]
        count = await off.request(
            m.AlertPreview(id=next_id(), area=square(), categories=["burglary"])
        )
        assert isinstance(count, m.AlertCount) and count.recipients == 1
        # new events continue the sequence, and the incident counter continues too
        nxt = await off.request(m.IncidentCreate(id=next_id(), idem=next_id(), title="Op After"))
        assert isinstance(nxt, m.IncidentCreated) and nxt.incident_ref != inc.incident_ref
        opened = await off.wait_for(lambda e: isinstance(e, m.IncidentOpened) and e.seq > head)
        assert opened.seq == head + 1
        engine = admin.open_engine(data, pg_url)
        try:
            assert admin.verify_audit(engine).ok
        finally:
            engine.dispose()
    finally:
        await second.relay.stop()  # type: ignore[attr-defined]
