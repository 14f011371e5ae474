"""Attacks on issue 13's relay messages over the real relay on TLS loopback.

An outsider (the officer endpoint's unauthenticated login, a citizen's socket), a curious
analyst, and a dispatcher trying to mix exercise and live traffic, against incidents and
merges, the team, report history and notes, alert history and close reasons. What held
is pinned compactly where nothing else pins it; what did not is pinned here with its fix.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select

from backend_client import codec
from backend_client import messages as m
from relay.db import models as db
from tests.conftest import RunningRelay
from tests.support.flows import device, officer, report
from tests.support.peer import Peer, next_id


def _q(relay: RunningRelay, fn: Any) -> Any:
    return relay.relay.db.read_sync(fn)  # type: ignore[attr-defined]


async def _history(p: Peer, rid: str) -> m.ReportHistory:
    got = await p.request(m.ReportHistoryGet(id=next_id(), report_id=rid))
    assert isinstance(got, m.ReportHistory), got
    return got


async def test_a_failed_login_named_after_a_report_never_enters_its_history(
    relay: RunningRelay,
) -> None:
    # the citizen knows its own report's and chat message's ids; the officer endpoint's
    # login audits the user name it was given as the record's subject, unauthenticated
    cit, _ = await device(relay)
    rid = (await report(cit)).report_id
    sent = await cit.request(
        m.CitizenChatSend(id=next_id(), report_id=rid, client_ref=next_id(), text="hello")
    )
    assert isinstance(sent, m.ChatSent), sent
    mid = sent.message.message_id
    dana = await officer(relay, "dana")
    await dana.request(m.OfficerChatRead(id=next_id(), message_ids=[mid]))
    stranger = await Peer.open(relay.officer_url, relay.ssl, officer=True)
    for name in (rid, mid):
        bad = await stranger.request(
            m.Login(id=next_id(), username=name, password="guess", totp="000000")
        )
        assert isinstance(bad, m.Error) and bad.code == "bad_credentials", bad
    got = await _history(dana, rid)
    said = [(e.by, e.action) for e in got.entries]
    assert said == [
        ("citizen", "report.created"),
        ("dana", "chat.read"),
    ], said
    assert not any(e.action.startswith("login") for e in got.entries)


async def test_the_citizen_endpoint_knows_none_of_the_new_officer_messages(
    relay: RunningRelay,
) -> None:
    cit, _ = await device(relay)
    rid = (await report(cit)).report_id
    frames = {
        "report.unlink": {"idem": "k", "report_id": rid},
        "report.merge": {"idem": "k", "into": rid, "report_ids": [rid]},
        "incident.create": {"idem": "k", "title": "x", "report_ids": [rid]},
        "team.list": {},
        "alert.history": {"alert_id": "A-1"},
        "report.history": {"report_id": rid},
        "report.note": {"idem": "k", "report_id": rid, "text": "x"},
        "report.set_status": {"idem": "k", "report_id": rid, "status": "closed"},
    }
    for i, (kind, body) in enumerate(frames.items()):
        rid_ = f"c{i}"
        await cit.send_raw(json.dumps({"type": kind, "v": 1, "id": rid_} | body))
        err = await cit.wait_for(lambda e, r=rid_: isinstance(e, m.Error) and e.re == r)
        assert isinstance(err, m.Error) and err.code == "unknown_type", (kind, err)


async def test_an_analyst_reads_but_changes_nothing_new(relay: RunningRelay) -> None:
    cit, _ = await device(relay)
    a = (await report(cit, text="one")).report_id
    b = (await report(cit, text="two")).report_id
    ann = await officer(relay, "ann")
    for msg in (
        m.ReportUnlink(id=next_id(), idem=next_id(), report_id=a),
        m.ReportMerge(id=next_id(), idem=next_id(), into=a, report_ids=[b]),
        m.IncidentCreate(id=next_id(), idem=next_id(), title="x", report_ids=[a]),
        m.ReportNoteAdd(id=next_id(), idem=next_id(), report_id=a, text="x"),
        m.ReportSetStatus(id=next_id(), idem=next_id(), report_id=a, status="claimed"),
    ):
        reply = await ann.request(msg)
        assert isinstance(reply, m.Error) and reply.code == "forbidden", (msg, reply)
    assert isinstance(await ann.request(m.TeamList(id=next_id())), m.TeamListed)
    assert isinstance(await _history(ann, a), m.ReportHistory)
    rows = _q(relay, lambda s: list(s.execute(select(db.Report.status, db.Report.incident_ref))))
    assert {tuple(r) for r in rows} == {("new", None)}
    assert _q(relay, lambda s: list(s.scalars(select(db.Incident.ref)))) == []


async def test_an_exercise_incident_stays_exercise_traffic_and_goes_with_the_purge(
    tmp_path: Any,
) -> None:
    from tests.conftest import start_relay
    from tests.integration.test_pilots import (
        INSIDE,
        PILOT,
        add_inspector,
        codes,
        create_pilot,
        join,
    )

    running = await start_relay(tmp_path / "relay")
    add_inspector(running)
    try:
        ivy = await officer(running, "ivy")
        live_desk = await officer(running, "dev", subscribe=None)
        sub = await live_desk.request(m.Subscribe(id=next_id(), since=0, exclude_exercise=True))
        assert isinstance(sub, m.Subscribed), sub
        await create_pilot(ivy)
        invites = await codes(ivy, 1)
        phone, _ = await device(running, *INSIDE)
        assert isinstance(await join(phone, invites.codes[0]), m.PilotJoined)
        a = (await report(phone, "Exercise: boy seen by the halls bins")).report_id
        b = (await report(phone, "Exercise: boy again")).report_id
        # no title: the incident is named after the primary's text (the exercise's words)
        merged = await ivy.request(
            m.ReportMerge(id=next_id(), idem=next_id(), into=a, report_ids=[b])
        )
        assert isinstance(merged, m.IncidentCreated), merged
        opened = await ivy.wait_for(lambda e: isinstance(e, m.IncidentOpened))
        assert isinstance(opened, m.IncidentOpened) and "halls bins" in opened.title
        assert opened.pilot_id == PILOT
        noted = await ivy.request(
            m.ReportNoteAdd(id=next_id(), idem=next_id(), report_id=a, text="drill note")
        )
        assert isinstance(noted, m.ReportNoteAdded) and noted.note.pilot_id == PILOT
        # the live desk: neither live nor on a resume that leaves exercise traffic out
        await live_desk.request(m.Ping(id=next_id()))
        exercise = (m.IncidentOpened, m.ReportNoted, m.ReportUpdated, m.ReportCreated)
        assert not any(isinstance(e, exercise) for e in live_desk.seen), live_desk.seen
        late = await officer(running, "sam", subscribe=None)
        assert isinstance(
            await late.request(m.Subscribe(id=next_id(), since=0, exclude_exercise=True)),
            m.Subscribed,
        )
        assert "halls bins" not in repr(late.seen) and "drill note" not in repr(late.seen)
        assert isinstance(
            await ivy.request(m.PilotEnd(id=next_id(), idem=next_id(), pilot_id=PILOT)),
            m.PilotAccepted,
        )
        done = await ivy.request(m.PilotPurge(id=next_id(), pilot_id=PILOT, confirm=True))
        assert isinstance(done, m.PilotPurged) and done.reports == 2

        def left(s: Any) -> tuple[list[str], str]:
            return list(s.scalars(select(db.Incident.title))), "".join(
                s.scalars(select(db.Event.frame))
            )

        titles, frames = _q(running, left)
        assert titles == [] and "halls bins" not in frames
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def test_nul_in_a_note_reason_title_or_report_is_a_clear_refusal(
    relay: RunningRelay,
) -> None:
    # on PostgreSQL each of these failed the write as `internal`, with a traceback logged
    cit, _ = await device(relay)
    await cit.send_raw(
        json.dumps(
            {"type": "report.submit", "v": 1, "id": "c1", "client_ref": "r1"}
            | {"category": "burglary", "text": "door\x00", "lat": 53.759, "lon": -2.699}
        )
    )
    err = await cit.wait_for(lambda e: isinstance(e, m.Error) and e.re == "c1")
    assert isinstance(err, m.Error) and err.code == "invalid", err
    rid = (await report(cit)).report_id
    dana = await officer(relay, "dana")
    await dana.request(m.ReportClaim(id=next_id(), idem=next_id(), report_id=rid))
    for i, body in enumerate(
        (
            {"type": "report.note", "idem": "a", "report_id": rid, "text": "x\x00"},
            {"type": "incident.create", "idem": "b", "title": "\x00", "report_ids": [rid]},
            {"type": "report.set_status", "idem": "c"}
            | {"report_id": rid, "status": "closed", "reason": "Resolved\x00"},
        )
    ):
        await dana.send_raw(json.dumps({"v": 1, "id": f"o{i}"} | body))
        err = await dana.wait_for(lambda e, r=f"o{i}": isinstance(e, m.Error) and e.re == r)
        assert isinstance(err, m.Error) and err.code == "invalid" and "NUL" in err.message, err
    stored = _q(relay, lambda s: s.execute(select(db.Report.status, db.Report.incident_ref)).all())
    assert [tuple(x) for x in stored] == [("claimed", None)]


async def test_a_report_with_ten_thousand_audit_rows_answers_its_history_quickly(
    relay: RunningRelay,
) -> None:
    cit, _ = await device(relay)
    rid = (await report(cit)).report_id
    other = (await report(cit)).report_id

    def fill(tx: Any) -> None:
        for i in range(10_000):
            tx.audit("dana", "report.priority", rid, priority="high" if i % 2 else "low")
            tx.audit("dana", "report.priority", other, priority="low")

    await relay.relay.db.write(fill)  # type: ignore[attr-defined]
    dana = await officer(relay, "dana")
    await _history(dana, rid)  # warm
    times = []
    for _ in range(5):
        t = time.perf_counter()
        got = await _history(dana, rid)
        times.append(time.perf_counter() - t)
    assert len(got.entries) == m.HISTORY_MAX_ENTRIES and got.omitted == 10_000 - 300
    print(json.dumps({"history_10k_rows_ms": sorted(round(x * 1000, 1) for x in times)}))
    assert min(times) < 0.25, times


def test_the_team_and_an_incident_s_reports_are_read_by_index_not_by_scanning(
    tmp_path: Any,
) -> None:
    # at 1,000,000 reports each scan took about 90 ms: every team.list and team.changed,
    # and every link or merge in the writer (measured: 90 ms -> 3 ms with the indexes)
    from sqlalchemy import text

    from relay.db.engine import make_engine, migrate, sqlite_url

    engine = make_engine(sqlite_url(tmp_path))
    try:
        migrate(engine)
        with engine.connect() as conn:
            for where in (
                "claimed_by IN ('dana', 'dev') AND status != 'closed'",
                "incident_ref = 'INC-2026-00001'",
            ):
                plan = " ".join(
                    str(row[-1])
                    for row in conn.execute(
                        text(f"EXPLAIN QUERY PLAN SELECT id FROM reports WHERE {where}")
                    )
                )
                assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, (where, plan)
    finally:
        engine.dispose()


async def test_merges_make_no_cycle_and_no_chain_of_duplicates(relay: RunningRelay) -> None:
    cit, _ = await device(relay)
    a, b, c = [(await report(cit, text=f"sighting {i}")).report_id for i in range(3)]
    dana = await officer(relay, "dana")

    async def merge(into: str, *dups: str) -> m.Msg:
        return await dana.request(
            m.ReportMerge(id=next_id(), idem=next_id(), into=into, report_ids=list(dups))
        )

    assert isinstance(await merge(b, a), m.IncidentCreated)  # a: duplicate of b
    cycle = await merge(a, b)  # b into its own duplicate
    assert isinstance(cycle, m.Error) and cycle.code == "conflict", cycle
    chain = await merge(c, b)  # b, a primary, into c: a would be a duplicate of a duplicate
    assert isinstance(chain, m.Error) and chain.code == "conflict", chain
    assert a in chain.message and "unlink" in chain.message

    def dup_of(s: Any) -> dict[str, str | None]:
        return dict(s.execute(select(db.Report.public_id, db.Report.duplicate_of)).all())

    assert _q(relay, dup_of) == {a: b, b: None, c: None}
    # unlinking a first, the merge goes through: one level, every duplicate's primary a root
    assert isinstance(
        await dana.request(m.ReportUnlink(id=next_id(), idem=next_id(), report_id=a)), m.Ack
    )
    assert isinstance(await merge(c, a, b), m.IncidentCreated)
    assert _q(relay, dup_of) == {a: c, b: c, c: None}


async def test_bounds_on_reasons_titles_ids_and_notes_hold(relay: RunningRelay) -> None:
    cit, _ = await device(relay)
    rid = (await report(cit)).report_id
    dana = await officer(relay, "dana")
    await dana.request(m.ReportClaim(id=next_id(), idem=next_id(), report_id=rid))
    big = {
        "report.set_status": {"report_id": rid, "status": "closed", "reason": "r" * 201},
        "incident.create": {"title": "t" * 201},
        "report.merge": {"into": rid, "report_ids": [rid], "title": "t" * 201},
    }
    for i, (kind, body) in enumerate(big.items()):
        await dana.send_raw(json.dumps({"type": kind, "v": 1, "id": f"b{i}", "idem": "k"} | body))
        err = await dana.wait_for(lambda e, r=f"b{i}": isinstance(e, m.Error) and e.re == r)
        assert isinstance(err, m.Error) and err.code == "too_large", (kind, err)
    ids = [f"R-{i}" for i in range(m.MERGE_IDS_MAX + 1)]
    body = {"type": "incident.create", "v": 1, "id": "c1", "idem": "k", "title": "x"}
    await dana.send_raw(json.dumps(body | {"report_ids": ids}))
    err = await dana.wait_for(lambda e: isinstance(e, m.Error) and e.re == "c1")
    assert isinstance(err, m.Error) and err.code == "too_large", err
    # notes at the limit, each all JSON escapes (6 bytes a character): the history still
    # fits one frame, leaving out the oldest and saying how many
    worst = "\x01" * m.NOTE_MAX_CHARS
    for _ in range(m.HISTORY_MAX_NOTES + 5):
        added = await dana.request(
            m.ReportNoteAdd(id=next_id(), idem=next_id(), report_id=rid, text=worst)
        )
        assert isinstance(added, m.ReportNoteAdded), added
    got = await _history(dana, rid)
    assert len(codec.encode(got)) <= m.HISTORY_MAX_BYTES
    assert got.notes and got.notes_omitted == m.HISTORY_MAX_NOTES + 5 - len(got.notes)
    assert all(n.text == worst for n in got.notes)
    closed = await dana.request(
        m.ReportSetStatus(
            id=next_id(), idem=next_id(), report_id=rid, status="closed", reason="r" * 200
        )
    )
    assert isinstance(closed, m.Ack), closed
    stored = _q(relay, lambda s: s.scalar(select(db.Report.close_reason)))
    assert stored == "r" * 200


async def test_an_idempotency_key_reused_for_another_request_is_refused(
    relay: RunningRelay,
) -> None:
    cit, _ = await device(relay)
    a = (await report(cit, text="one")).report_id
    b = (await report(cit, text="two")).report_id
    dana, dev = await officer(relay, "dana"), await officer(relay, "dev")
    key = next_id()
    first = await dana.request(m.ReportNoteAdd(id=next_id(), idem=key, report_id=a, text="x"))
    assert isinstance(first, m.ReportNoteAdded)
    # a resend of the same action (a new `id`): the first reply, applied once
    again = await dana.request(m.ReportNoteAdd(id=next_id(), idem=key, report_id=a, text="x"))
    assert isinstance(again, m.ReportNoteAdded) and again.note.note_id == first.note.note_id
    # the same key for another action: refused, not answered with the note's reply (which
    # a console would take for the merge's success, the merge silently lost)
    for other in (
        m.ReportMerge(id=next_id(), idem=key, into=a, report_ids=[b]),
        m.ReportNoteAdd(id=next_id(), idem=key, report_id=b, text="x"),
    ):
        reply = await dana.request(other)
        assert isinstance(reply, m.Error) and reply.code == "conflict", reply
        assert "idempotency key" in reply.message
    # keys are each officer's own: dev's same key is his own action
    mine = await dev.request(m.ReportNoteAdd(id=next_id(), idem=key, report_id=b, text="y"))
    assert isinstance(mine, m.ReportNoteAdded) and mine.note.author == "dev"
    notes = _q(relay, lambda s: sorted(s.execute(select(db.ReportNote.author, db.ReportNote.text))))
    assert [tuple(n) for n in notes] == [("dana", "x"), ("dev", "y")]
    assert _q(relay, lambda s: list(s.scalars(select(db.Report.duplicate_of)))) == [None, None]


async def test_an_alert_exported_twenty_thousand_times_answers_its_history_quickly(
    relay: RunningRelay,
) -> None:
    # any officer may export an alert's CAP (each export audited under the alert's id):
    # the history reads only the steps it shows, not every export
    from tests.support.flows import alert_info

    await device(relay)
    dana = await officer(relay, "dana")
    sent = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
    assert isinstance(sent, m.AlertAccepted), sent
    aid = sent.alert.alert_id

    def fill(tx: Any) -> None:
        for _ in range(20_000):
            tx.audit("ann", "alert.export_cap", aid)

    await relay.relay.db.write(fill)  # type: ignore[attr-defined]
    times = []
    for _ in range(5):
        t = time.perf_counter()
        got = await dana.request(m.AlertHistory(id=next_id(), alert_id=aid))
        times.append(time.perf_counter() - t)
    assert isinstance(got, m.AlertHistoryListed) and [e.action for e in got.entries] == ["sent"]
    print(json.dumps({"alert_history_20k_exports_ms": sorted(round(x * 1000, 1) for x in times)}))
    assert min(times) < 0.05, times


async def test_the_new_messages_log_no_coordinates_tokens_ids_or_words(
    relay: RunningRelay, caplog: Any
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    cit, reg = await device(relay, 53.761234, -2.695678)
    a = (await report(cit, text="secret words", lat=53.761234, lon=-2.695678)).report_id
    b = (await report(cit, text="more words", lat=53.761234, lon=-2.695678)).report_id
    dana = await officer(relay, "dana")
    ann = await officer(relay, "ann")
    for msg in (
        m.IncidentCreate(id=next_id(), idem=next_id(), title="Op Kestrel", report_ids=[a]),
        m.ReportMerge(id=next_id(), idem=next_id(), into=a, report_ids=[b]),
        m.ReportUnlink(id=next_id(), idem=next_id(), report_id=b),
        m.ReportNoteAdd(id=next_id(), idem=next_id(), report_id=a, text="CCTV at no. 14"),
        m.ReportClaim(id=next_id(), idem=next_id(), report_id=a),
        m.ReportSetStatus(
            id=next_id(), idem=next_id(), report_id=a, status="closed", reason="Hoax by J. Doe"
        ),
        m.ReportSetStatus(id=next_id(), idem=next_id(), report_id=a, status="in_progress"),
        m.ReportHistoryGet(id=next_id(), report_id=a),
        m.TeamList(id=next_id()),
    ):
        assert not isinstance(await dana.request(msg), m.Error), msg
    refused = await ann.request(
        m.ReportNoteAdd(id=next_id(), idem=next_id(), report_id=a, text="x")
    )
    assert isinstance(refused, m.Error)
    await dana.send_raw(
        '{"type":"report.merge","v":1,"id":"z","idem":"k","into":"x","report_ids":[]}'
    )
    await dana.wait_for(lambda e: isinstance(e, m.Error) and e.re == "z")
    # the relay's own lines (`relay serve` keeps websockets' frame dumps at WARNING)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("relay"))
    assert "malformed frame refused" in logged  # the refusal was logged, and nothing of it
    # the history and the team name officers only: no device, pseudonym or position
    said = repr(await _history(dana, a)) + repr(await ann.request(m.TeamList(id=next_id())))
    for private in (reg.device_id, reg.pseudonym, "53.76", "-2.69", "secret words"):
        assert private not in said, private
    for secret in (
        "53.76",
        "-2.69",
        reg.device_id,
        reg.secret,
        "secret words",
        "CCTV",
        "J. Doe",
        "Kestrel",
    ):
        assert secret not in logged, secret


async def test_a_merge_titled_after_a_report_keeps_the_citizen_s_words_out_of_the_audit(
    relay: RunningRelay,
) -> None:
    cit, _ = await device(relay)
    a = (await report(cit, text="My son Tom, 7, red coat")).report_id
    b = (await report(cit, text="again")).report_id
    dana = await officer(relay, "dana")
    made = await dana.request(m.ReportMerge(id=next_id(), idem=next_id(), into=a, report_ids=[b]))
    assert isinstance(made, m.IncidentCreated), made
    titled = await dana.request(
        m.ReportMerge(id=next_id(), idem=next_id(), into=b, report_ids=[a], title="Op Tom")
    )
    assert isinstance(titled, m.Error)  # b is a's duplicate now: refused, nothing audited

    def audited(s: Any) -> list[tuple[str, str]]:
        rows = s.execute(
            select(db.AuditLog.subject, db.AuditLog.detail).where(
                db.AuditLog.action == "incident.create"
            )
        )
        return [(x[0], x[1]) for x in rows]

    rows = _q(relay, audited)
    assert len(rows) == 1 and rows[0][0] == made.incident_ref
    assert "Tom" not in rows[0][1] and json.loads(rows[0][1]) == {"report": a, "titled_after": a}
    # the incident itself is titled after the report, as the dispatcher sees it
    titles = _q(relay, lambda s: list(s.scalars(select(db.Incident.title))))
    assert titles == ["Burglary: My son Tom, 7, red coat"]


async def test_an_emptied_exercise_incident_never_takes_live_reports(tmp_path: Any) -> None:
    from tests.conftest import start_relay
    from tests.integration.test_pilots import INSIDE, add_inspector, codes, create_pilot, join

    running = await start_relay(tmp_path / "relay")
    add_inspector(running)
    try:
        ivy = await officer(running, "ivy")
        await create_pilot(ivy)
        invites = await codes(ivy, 1)
        phone, _ = await device(running, *INSIDE)
        assert isinstance(await join(phone, invites.codes[0]), m.PilotJoined)
        drill = (await report(phone, "Exercise: van by the halls")).report_id
        made = await ivy.request(
            m.IncidentCreate(id=next_id(), idem=next_id(), title="Drill", report_ids=[drill])
        )
        assert isinstance(made, m.IncidentCreated), made
        unlinked = await ivy.request(m.ReportUnlink(id=next_id(), idem=next_id(), report_id=drill))
        assert isinstance(unlinked, m.Ack)
        cit, _ = await device(running)
        live = (await report(cit, "a real van")).report_id
        twin = (await report(cit, "the van again")).report_id
        ref = made.incident_ref
        for msg in (
            m.ReportLink(id=next_id(), idem=next_id(), report_id=live, incident_ref=ref),
            m.ReportMerge(
                id=next_id(), idem=next_id(), into=live, report_ids=[twin], incident_ref=ref
            ),
        ):
            reply = await ivy.request(msg)
            assert isinstance(reply, m.Error) and reply.code == "invalid", reply
            assert "exercise" in reply.message
        stored = _q(
            running,
            lambda s: s.scalar(select(db.Report.incident_ref).where(db.Report.public_id == live)),
        )
        assert stored is None
        # emptied, it is still the pilot's: the purge takes it
        from tests.integration.test_pilots import PILOT

        await ivy.request(m.PilotEnd(id=next_id(), idem=next_id(), pilot_id=PILOT))
        done = await ivy.request(m.PilotPurge(id=next_id(), pilot_id=PILOT, confirm=True))
        assert isinstance(done, m.PilotPurged), done
        assert _q(running, lambda s: list(s.scalars(select(db.Incident.ref)))) == []
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def test_unlink_of_an_unlinked_report_and_repeated_ids_in_a_merge_change_nothing_twice(
    relay: RunningRelay,
) -> None:
    cit, _ = await device(relay)
    a = (await report(cit, text="one")).report_id
    b = (await report(cit, text="two")).report_id
    dana = await officer(relay, "dana")
    head = relay.relay.db.head_seq  # type: ignore[attr-defined]
    plain = await dana.request(m.ReportUnlink(id=next_id(), idem=next_id(), report_id=a))
    assert isinstance(plain, m.Ack)
    assert relay.relay.db.head_seq == head  # type: ignore[attr-defined]
    merged = await dana.request(
        m.ReportMerge(id=next_id(), idem=next_id(), into=a, report_ids=[b, b, a, b])
    )
    assert isinstance(merged, m.IncidentCreated), merged

    def merges(s: Any) -> list[str]:
        q = select(db.AuditLog.subject).where(db.AuditLog.action == "report.merge")
        return list(s.scalars(q))

    assert _q(relay, merges) == [b]
