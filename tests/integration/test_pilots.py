"""Pilots over the real relay on TLS loopback (issue 12, deliverables 3 and 4).

An inspector creates a pilot and issues invite codes; a simulated phone joins with one and
becomes a participant; everything it sends reaches officers marked exercise with the
pilot's id; an exercise alert reaches the pilot's participants inside its area and no
other phone standing in the same street; a real alert reaches everyone; codes work once,
expire, and guessing them is rate-limited; a purge after review erases the pilot's data,
leaves everyone else's, and the audit chain still verifies. The same flow runs on
PostgreSQL when the suite's PostgreSQL fixture is available.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic import autogenerate, command
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, select, text

from backend_client import messages as m
from backend_client import rules
from relay import admin
from relay.db import models as db
from relay.db.engine import alembic_config, make_engine, migrate, sqlite_url
from tests.conftest import PASSWORD, RunningRelay, start_relay
from tests.support import postgres
from tests.support.flows import PRESTON, alert_info, device, officer, report, square
from tests.support.peer import Peer, next_id, wait_until

PILOT = "preston-2017"
#: a spot inside the pilot's area (square(0.01) round Preston centre)
INSIDE = (PRESTON[0] + 0.002, PRESTON[1] + 0.002)
#: inside a wider alert area but outside the pilot's
OUTSIDE = (PRESTON[0] + 0.03, PRESTON[1] + 0.03)


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RunningRelay]:
    running = await start_relay(tmp_path / "relay", counts_interval_s=0.1)
    add_inspector(running)
    try:
        yield running
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


def add_inspector(r: RunningRelay, url: str | None = None) -> None:
    """The suite's accounts have no inspector: add one while the relay runs."""
    engine = admin.open_engine(r.data_dir, url)
    try:
        r.totp["ivy"] = admin.add_officer(engine, "ivy", "inspector", PASSWORD).totp_secret
    finally:
        engine.dispose()


async def create_pilot(off: Peer, pilot_id: str = PILOT) -> m.PilotInfo:
    ok = await off.request(
        m.PilotCreate(
            id=next_id(),
            idem=next_id(),
            pilot_id=pilot_id,
            title="Preston community pilot",
            area=square(0.01),
            groups=[m.PilotGroupSpec("students", 30), m.PilotGroupSpec("police", 5)],
            ends_at=time.time() + 3 * 86400,
        )
    )
    assert isinstance(ok, m.PilotAccepted), ok
    return ok.pilot


async def codes(off: Peer, n: int = 3, group: str = "students", **kw: Any) -> m.PilotInvites:
    got = await off.request(m.PilotInvite(id=next_id(), pilot_id=PILOT, group=group, count=n, **kw))
    assert isinstance(got, m.PilotInvites), got
    return got


async def join(p: Peer, code: str) -> m.Msg:
    return await p.request(m.PilotJoin(id=next_id(), code=code))


def is_error(reply: m.Msg, code: str) -> bool:
    return isinstance(reply, m.Error) and reply.code == code


async def test_a_participant_s_report_and_chat_reach_officers_marked_exercise(
    relay: RunningRelay,
) -> None:
    ivy = await officer(relay, "ivy")
    dana = await officer(relay, "dana")
    live_desk = await officer(relay, "dev", subscribe=None)
    sub = await live_desk.request(m.Subscribe(id=next_id(), since=0, exclude_exercise=True))
    assert isinstance(sub, m.Subscribed), sub
    info = await create_pilot(ivy)
    assert info.state == "active" and [g.name for g in info.groups] == ["students", "police"]
    invites = await codes(ivy)
    assert len(set(invites.codes)) == 3
    for c in invites.codes:  # short, readable, from the unambiguous alphabet
        plain = rules.normalise_invite_code(c)
        assert len(plain) == rules.INVITE_CODE_LENGTH
        assert set(plain) <= set(rules.INVITE_ALPHABET)

    phone, _ = await device(relay, *INSIDE)
    joined = await join(phone, invites.codes[0].lower().replace("-", " "))  # as typed
    assert isinstance(joined, m.PilotJoined), joined
    assert (joined.pilot_id, joined.title, joined.group) == (PILOT, info.title, "students")
    assert joined.ends_at == info.ends_at and joined.starts_at == info.starts_at

    acc = await report(phone, "Exercise: someone trying car doors")
    created = await dana.wait_for(
        lambda e: isinstance(e, m.ReportCreated) and e.report.report_id == acc.report_id
    )
    assert isinstance(created, m.ReportCreated)
    assert created.report.exercise and created.report.pilot_id == PILOT
    sent = await phone.request(
        m.CitizenChatSend(id=next_id(), report_id=acc.report_id, text="a blue van", client_ref="c1")
    )
    assert isinstance(sent, m.ChatSent) and sent.message.exercise
    posted = await dana.wait_for(lambda e: isinstance(e, m.ChatPosted))
    assert isinstance(posted, m.ChatPosted)
    assert posted.message.exercise and posted.message.pilot_id == PILOT

    # a phone outside the pilot files a live report: unmarked, and the only one the
    # desk that excluded exercise traffic sees
    other, _ = await device(relay, *INSIDE)
    live = await report(other, "Real: a window smashed")
    got = await dana.wait_for(
        lambda e: isinstance(e, m.ReportCreated) and e.report.report_id == live.report_id
    )
    assert isinstance(got, m.ReportCreated) and not got.report.exercise
    assert got.report.pilot_id is None
    first = await live_desk.wait_for(lambda e: isinstance(e, m.ReportCreated))
    assert isinstance(first, m.ReportCreated) and first.report.report_id == live.report_id
    assert not any(
        rules.event_pilot(e)
        for e in live_desk.seen
        if isinstance(e, m.ReportCreated | m.ChatPosted)
    )
    # a late desk excluding exercise replays the log without the pilot's events
    late = await officer(relay, "sam", subscribe=None)
    assert isinstance(
        await late.request(m.Subscribe(id=next_id(), since=0, exclude_exercise=True)),
        m.Subscribed,
    )
    replayed = [e for e in late.seen if isinstance(e, m.ReportCreated)]
    assert [e.report.report_id for e in replayed] == [live.report_id]
    assert not any(isinstance(e, m.PilotChanged | m.ChatPosted) for e in late.seen)

    listed = await ivy.request(m.PilotList(id=next_id()))
    assert isinstance(listed, m.PilotListed)
    (pilot,) = listed.pilots
    students = next(g for g in pilot.groups if g.name == "students")
    assert (students.planned, students.joined, students.active) == (30, 1, 1)

    # leaving makes the phone an ordinary one again
    assert isinstance(await phone.request(m.PilotLeave(id=next_id())), m.Ack)
    after = await report(phone, "Real this time")
    ev = await dana.wait_for(
        lambda e: isinstance(e, m.ReportCreated) and e.report.report_id == after.report_id
    )
    assert isinstance(ev, m.ReportCreated) and not ev.report.exercise
    assert is_error(await phone.request(m.PilotLeave(id=next_id())), "not_found")


async def test_an_exercise_alert_reaches_only_the_pilot_s_participants_in_its_area(
    relay: RunningRelay,
) -> None:
    ivy = await officer(relay, "ivy")
    dana = await officer(relay, "dana")
    await create_pilot(ivy)
    invites = await codes(ivy, 2)
    participant, _ = await device(relay, *INSIDE)
    bystander, _ = await device(relay, *INSIDE)  # same street, not in the pilot
    away, _ = await device(relay, *OUTSIDE)  # in the pilot, outside its area
    assert isinstance(await join(participant, invites.codes[0]), m.PilotJoined)
    assert isinstance(await join(away, invites.codes[1]), m.PilotJoined)
    wide = square(0.05)

    preview = await dana.request(
        m.AlertPreview(id=next_id(), area=wide, categories=["burglary"], pilot_id=PILOT)
    )
    assert isinstance(preview, m.AlertCount) and preview.recipients == 1, preview
    everyone = await dana.request(m.AlertPreview(id=next_id(), area=wide, categories=["burglary"]))
    assert isinstance(everyone, m.AlertCount) and everyone.recipients == 3

    # the status and the pilot go together, both ways
    no_pilot = alert_info(area=wide, status="Exercise")
    refused = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=no_pilot))
    assert is_error(refused, "invalid") and "pilot" in refused.message  # type: ignore[union-attr]
    marked = alert_info(area=wide, pilot_id=PILOT)
    refused = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=marked))
    assert is_error(refused, "invalid")

    drill = alert_info(area=wide, status="Exercise", pilot_id=PILOT, headline="Drill")
    sent = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=drill))
    assert isinstance(sent, m.AlertAccepted) and sent.alert.recipients == 1
    assert sent.alert.info.pilot_id == PILOT and sent.alert.emails == 0
    got = await participant.wait_for(lambda e: isinstance(e, m.AlertDeliver))
    assert isinstance(got, m.AlertDeliver)
    assert got.alert.status == "Exercise" and got.alert.headline == "Drill"
    changed = await dana.wait_for(
        lambda e: isinstance(e, m.AlertChanged) and e.alert.alert_id == sent.alert.alert_id
    )
    assert rules.event_pilot(changed) == PILOT

    # an update cannot turn the drill into a real alert for everyone
    moved = await dana.request(
        m.AlertUpdate(
            id=next_id(), idem=next_id(), alert_id=sent.alert.alert_id, info=alert_info(area=wide)
        )
    )
    assert is_error(moved, "conflict")

    real = alert_info(area=wide, headline="Real burglaries")
    sent_real = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=real))
    assert isinstance(sent_real, m.AlertAccepted) and sent_real.alert.recipients == 3
    for phone in (participant, bystander, away):
        got = await phone.wait_for(
            lambda e: isinstance(e, m.AlertDeliver) and e.alert.headline == "Real burglaries"
        )
        assert isinstance(got, m.AlertDeliver) and got.alert.status == "Actual"
    # frames arrive in order: had the drill reached them, it would be before the real one
    for phone in (bystander, away):
        drills = [e for e in phone.seen if isinstance(e, m.AlertDeliver)]
        assert [d.alert.headline for d in drills] == ["Real burglaries"]
    # and it is not held for them either: reconnecting brings nothing
    rows = await relay.relay.db.read(  # type: ignore[attr-defined]
        lambda s: s.scalar(select(func.count()).select_from(db.AlertRecipient))
    )
    assert rows == 4


async def test_a_pilot_alert_s_receipts_keep_their_times_and_a_live_alert_s_keep_none(
    relay: RunningRelay,
) -> None:
    """The pilot's time to read (issue 12, deliverable 7) needs when each phone read an
    exercise alert; a live alert's receipts stay bare (no live operation needs a phone's
    reading times), an Update starts the clock again, and the purge erases the times."""
    ivy = await officer(relay, "ivy")
    dana = await officer(relay, "dana")
    await create_pilot(ivy)
    phone, _ = await device(relay, *INSIDE)
    assert isinstance(await join(phone, (await codes(ivy, 1)).codes[0]), m.PilotJoined)
    drill = alert_info(status="Exercise", pilot_id=PILOT, headline="Drill")
    sent = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=drill))
    live = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
    assert isinstance(sent, m.AlertAccepted) and isinstance(live, m.AlertAccepted)
    ids = (sent.alert.alert_id, live.alert.alert_id)

    async def ack(alert_id: str, status: str) -> float:
        ok = await phone.request(m.AlertAck(id=next_id(), alert_id=alert_id, status=status))  # type: ignore[arg-type]
        assert isinstance(ok, m.Ack), ok
        return time.time()

    def times(s: Any) -> dict[str, tuple[float | None, float | None]]:
        return {
            pid: (d, r)
            for pid, d, r in s.execute(
                select(
                    db.Alert.public_id, db.AlertRecipient.delivered_at, db.AlertRecipient.read_at
                ).join(db.AlertRecipient, db.AlertRecipient.alert_id == db.Alert.id)
            )
        }

    before = time.time()
    delivered = await ack(ids[0], "delivered")
    read = await ack(ids[0], "read")
    await ack(ids[1], "delivered")
    await ack(ids[1], "read")
    got = await relay.relay.db.read(times)  # type: ignore[attr-defined]
    d, r = got[ids[0]]
    assert d is not None and r is not None
    assert before <= d <= delivered <= r <= read  # each stamped by the ack that moved it
    assert got[ids[1]] == (None, None)

    update = alert_info(status="Exercise", pilot_id=PILOT, headline="Drill, updated")
    moved = await dana.request(
        m.AlertUpdate(id=next_id(), idem=next_id(), alert_id=ids[0], info=update)
    )
    assert isinstance(moved, m.AlertAccepted), moved
    got = await relay.relay.db.read(times)  # type: ignore[attr-defined]
    assert got[ids[0]] == (None, None)  # the new version has not been read yet
    again = await ack(ids[0], "read")  # straight to read: delivered at the same moment
    d, r = (await relay.relay.db.read(times))[ids[0]]  # type: ignore[attr-defined]
    assert d == r and r is not None and read <= r <= again

    await ivy.request(m.PilotEnd(id=next_id(), idem=next_id(), pilot_id=PILOT))
    done = await ivy.request(m.PilotPurge(id=next_id(), pilot_id=PILOT, confirm=True))
    assert isinstance(done, m.PilotPurged) and done.receipts == 1
    assert await relay.relay.db.read(times) == {ids[1]: (None, None)}  # type: ignore[attr-defined]


async def test_codes_work_once_expire_and_guessing_is_rate_limited(relay: RunningRelay) -> None:
    ivy = await officer(relay, "ivy")
    await create_pilot(ivy)
    invites = await codes(ivy, 1)
    first, _ = await device(relay, *INSIDE)
    second, _ = await device(relay, *INSIDE)
    assert isinstance(await join(first, invites.codes[0]), m.PilotJoined)
    again = await join(first, invites.codes[0])
    assert is_error(again, "conflict")  # already a participant: the code is not looked at
    used = await join(second, invites.codes[0])
    assert is_error(used, "not_found") and "used" in used.message  # type: ignore[union-attr]

    short = await codes(ivy, 1, valid_s=0.3)
    await wait_until(lambda: time.time() > short.expires_at + 0.05)
    expired = await join(second, short.codes[0])
    assert is_error(expired, "not_found") and "expired" in expired.message  # type: ignore[union-attr]
    # only the digest is stored: the code itself is nowhere in the database
    plain = rules.normalise_invite_code(short.codes[0])
    dump = await relay.relay.db.read(  # type: ignore[attr-defined]
        lambda s: " ".join(
            str(row)
            for t in ("pilot_invites", "audit_log", "idempotency", "events")
            for row in s.execute(text(f"SELECT * FROM {t}")).all()
        )
    )
    assert plain not in dump and short.codes[0] not in dump

    # brute force: a fresh device's guesses are answered until its allowance is spent,
    # then refused with a retry time, even for a good code
    guesser, _ = await device(relay, *INSIDE)
    answers = [await join(guesser, "ABCD-EFGH-JK" + c) for c in "MNPQRS"]
    assert all(is_error(a, "not_found") for a in answers[:5]), answers
    limited = answers[5]
    assert is_error(limited, "rate_limited") and limited.retry_after_s  # type: ignore[union-attr]
    good = (await codes(ivy, 1)).codes[0]
    assert is_error(await join(guesser, good), "rate_limited")
    # ... and the good code still works for a device that did not guess
    third, _ = await device(relay, *INSIDE)
    assert isinstance(await join(third, good), m.PilotJoined)


async def test_purge_after_review_erases_the_pilot_and_nothing_else(relay: RunningRelay) -> None:
    ivy = await officer(relay, "ivy")
    dana = await officer(relay, "dana")
    await create_pilot(ivy)
    invites = await codes(ivy, 3)
    phone, _ = await device(relay, *INSIDE)
    citizen, _ = await device(relay, *INSIDE)
    assert isinstance(await join(phone, invites.codes[0]), m.PilotJoined)
    drill_report = await report(phone, "Exercise: fly tipping behind the halls")
    await phone.request(
        m.CitizenChatSend(
            id=next_id(), report_id=drill_report.report_id, text="photo soon", client_ref="x"
        )
    )
    await dana.request(
        m.OfficerChatSend(
            id=next_id(), idem=next_id(), report_id=drill_report.report_id, text="thanks"
        )
    )
    drill = alert_info(status="Exercise", pilot_id=PILOT, headline="Drill")
    assert isinstance(
        await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=drill)), m.AlertAccepted
    )
    live_report = await report(citizen, "A real one")
    live_alert = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
    assert isinstance(live_alert, m.AlertAccepted)

    early = await ivy.request(m.PilotPurge(id=next_id(), pilot_id=PILOT, confirm=True))
    assert is_error(early, "conflict")  # still running: end it first
    ended = await ivy.request(m.PilotEnd(id=next_id(), idem=next_id(), pilot_id=PILOT))
    assert isinstance(ended, m.PilotAccepted) and ended.pilot.state == "ended"
    # once ended its phones are ordinary again and its codes stop working
    after = await report(phone, "after the pilot")
    ev = await dana.wait_for(
        lambda e: isinstance(e, m.ReportCreated) and e.report.report_id == after.report_id
    )
    assert isinstance(ev, m.ReportCreated) and not ev.report.exercise
    late, _ = await device(relay, *INSIDE)
    assert is_error(await join(late, invites.codes[1]), "not_found")

    dry = await ivy.request(m.PilotPurge(id=next_id(), pilot_id=PILOT))
    assert isinstance(dry, m.PilotPurged) and dry.dry_run
    counts = (dry.reports, dry.chat, dry.alerts, dry.receipts, dry.participants, dry.invites)
    assert counts == (1, 2, 1, 1, 1, 3), dry
    still = await relay.relay.db.read(  # type: ignore[attr-defined]
        lambda s: s.scalar(
            select(func.count()).select_from(db.Report).where(db.Report.pilot_id == PILOT)
        )
    )
    assert still == 1  # the dry run erased nothing

    done = await ivy.request(m.PilotPurge(id=next_id(), pilot_id=PILOT, confirm=True))
    assert isinstance(done, m.PilotPurged) and not done.dry_run and done.reports == 1
    erased = await dana.wait_for(lambda e: isinstance(e, m.ReportErased))
    assert isinstance(erased, m.ReportErased) and erased.report_ids == [drill_report.report_id]

    def left(s: Any) -> dict[str, object]:
        return {
            "reports": sorted(s.scalars(select(db.Report.public_id))),
            "pilot_reports": s.scalar(
                select(func.count()).select_from(db.Report).where(db.Report.pilot_id.is_not(None))
            ),
            "alerts": s.scalar(select(func.count()).select_from(db.Alert)),
            "pilot_events": s.scalar(
                select(func.count()).select_from(db.Event).where(db.Event.pilot_id.is_not(None))
            ),
            "frames": s.scalar(
                select(func.count())
                .select_from(db.Event)
                .where(db.Event.frame.like(f"%{drill_report.report_id}%"))
            ),
            "links": s.scalar(select(func.count()).select_from(db.PilotParticipant)),
            "invites": s.scalar(select(func.count()).select_from(db.PilotInvite)),
            "chat": s.scalar(select(func.count()).select_from(db.ChatMessage)),
        }

    now = await relay.relay.db.read(left)  # type: ignore[attr-defined]
    assert now["reports"] == sorted([live_report.report_id, after.report_id])
    # the live alert stays; the purge's own events (report.erased, pilot.changed) remain,
    # the erased report is in no frame but the erasure's
    assert now["alerts"] == 1 and now["pilot_reports"] == 0 and now["chat"] == 0
    assert now["links"] == 0 and now["invites"] == 0
    assert now["pilot_events"] == 1 and now["frames"] == 1
    listed = await ivy.request(m.PilotList(id=next_id(), include_purged=True))
    assert isinstance(listed, m.PilotListed) and listed.pilots[0].state == "purged"
    again = await ivy.request(m.PilotPurge(id=next_id(), pilot_id=PILOT, confirm=True))
    assert isinstance(again, m.PilotPurged) and again.reports == 0

    engine = admin.open_engine(relay.data_dir)
    try:
        verdict = admin.verify_audit(engine)
        assert verdict.ok, verdict
        with engine.connect() as conn:
            purge = conn.execute(
                text("SELECT actor, detail FROM audit_log WHERE action = 'pilot.purge'")
            ).all()
        assert len(purge) == 2 and purge[0][0] == "ivy"
    finally:
        engine.dispose()


async def test_only_pilot_roles_run_pilots(relay: RunningRelay) -> None:
    for name in ("dana", "ann"):  # a dispatcher, an analyst
        off = await officer(relay, name)
        for msg in (
            m.PilotCreate(
                id=next_id(),
                idem=next_id(),
                pilot_id="nope",
                title="x",
                area=square(),
                groups=[m.PilotGroupSpec("a", 1)],
            ),
            m.PilotInvite(id=next_id(), pilot_id=PILOT, group="students", count=1),
            m.PilotEnd(id=next_id(), idem=next_id(), pilot_id=PILOT),
            m.PilotPurge(id=next_id(), pilot_id=PILOT, confirm=True),
        ):
            assert is_error(await off.request(msg), "forbidden"), (name, msg)
        # listing: a dispatcher names the pilot of an exercise alert; an analyst may not
        listed = await off.request(m.PilotList(id=next_id()))
        if name == "dana":
            assert isinstance(listed, m.PilotListed)
        else:
            assert is_error(listed, "forbidden")
    sam = await officer(relay, "sam")  # a supervisor may
    await create_pilot(sam, "sam-pilot")
    dup = await sam.request(
        m.PilotCreate(
            id=next_id(),
            idem=next_id(),
            pilot_id="sam-pilot",
            title="again",
            area=square(),
            groups=[m.PilotGroupSpec("a", 1)],
        )
    )
    assert is_error(dup, "conflict")


def test_migration_0006_keeps_existing_rows_live_and_matches_the_models(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    engine = make_engine(url)
    try:
        command.upgrade(alembic_config(url), "0005")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO devices (id, public_id, secret_hash, pseudonym, platform,"
                    " category_mask, created_at) VALUES (1, 'D1', 'x', 'Citizen-A', 't', 1, 0)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO reports (id, public_id, device_id, client_ref, category, text,"
                    " lat, lon, created_at, status, priority) VALUES"
                    " (1, 'R-1', 1, 'c', 'burglary', 'old', 53.7, -2.7, 0, 'new', 'normal')"
                )
            )
        migrate(engine)
        _schema_matches_models(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pilot_id FROM reports")).scalar_one() is None
    finally:
        engine.dispose()


def test_migration_0007_leaves_existing_receipts_without_times(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    engine = make_engine(url)
    try:
        command.upgrade(alembic_config(url), "0006")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO devices (id, public_id, secret_hash, pseudonym, platform,"
                    " category_mask, created_at) VALUES (1, 'D1', 'x', 'Citizen-A', 't', 1, 0)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO alerts (id, public_id, sender, sent_at, msg_type, state,"
                    " info_json, expires_at, recipients, delivered, read, references_json)"
                    " VALUES (1, 'A-1', 'dana', 0, 'Alert', 'active', '{}', 1, 1, 1, 1, '[]')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO alert_recipients (alert_id, device_id, status, cancel_seen)"
                    " VALUES (1, 1, 'read', false)"
                )
            )
        migrate(engine)
        _schema_matches_models(engine)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT status, delivered_at, read_at FROM alert_recipients"))
            assert row.one() == ("read", None, None)
    finally:
        engine.dispose()


def _schema_matches_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = autogenerate.compare_metadata(MigrationContext.configure(conn), db.Base.metadata)
    assert diff == []


async def test_pilot_flow_on_postgresql(
    tmp_path: Path, pg_cluster: postgres.PostgresCluster
) -> None:
    pytest.importorskip("psycopg", reason="PostgreSQL runs need the psycopg[binary] driver (v3)")
    from tests.support.pg_relay import start_pg_relay

    url = pg_cluster.create_database()
    r = await start_pg_relay(tmp_path / "relay", url, counts_interval_s=0.1)
    try:
        pg = make_engine(url)
        try:
            _schema_matches_models(pg)
        finally:
            pg.dispose()
        add_inspector(r, url)
        ivy = await officer(r, "ivy")
        dana = await officer(r, "dana")
        await create_pilot(ivy)
        invites = await codes(ivy, 1)
        phone, _ = await device(r, *INSIDE)
        bystander, _ = await device(r, *INSIDE)
        assert isinstance(await join(phone, invites.codes[0]), m.PilotJoined)
        acc = await report(phone, "Exercise on PostgreSQL")
        ev = await dana.wait_for(
            lambda e: isinstance(e, m.ReportCreated) and e.report.report_id == acc.report_id
        )
        assert isinstance(ev, m.ReportCreated) and ev.report.pilot_id == PILOT
        drill = alert_info(status="Exercise", pilot_id=PILOT)
        sent = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=drill))
        assert isinstance(sent, m.AlertAccepted) and sent.alert.recipients == 1
        assert isinstance(
            await phone.wait_for(lambda e: isinstance(e, m.AlertDeliver)), m.AlertDeliver
        )
        await ivy.request(m.PilotEnd(id=next_id(), idem=next_id(), pilot_id=PILOT))
        done = await ivy.request(m.PilotPurge(id=next_id(), pilot_id=PILOT, confirm=True))
        assert isinstance(done, m.PilotPurged) and (done.reports, done.alerts) == (1, 1)
        engine = admin.open_engine(r.data_dir, url)
        try:
            assert admin.verify_audit(engine).ok
        finally:
            engine.dispose()
        assert not [e for e in bystander.seen if isinstance(e, m.AlertDeliver)]
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]
