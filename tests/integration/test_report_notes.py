"""A report's history and its officer-only internal notes (issue 13, deliverable 4), on the
real relay over TLS: who did what, in order; notes reach every officer and never the
citizen; they are audited without their text and erased with the report."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select

from backend_client import messages as m
from relay.db import models as db
from tests.support.flows import device, officer, report
from tests.support.peer import next_id

NOTE = "Neighbour at no. 14 has CCTV facing the alley: ask for 22:00-23:00."


def _q(relay: Any, fn: Any) -> Any:
    return relay.relay.db.read_sync(fn)  # type: ignore[attr-defined]


def _note(report_id: str, text: str = NOTE, idem: str | None = None) -> m.ReportNoteAdd:
    return m.ReportNoteAdd(id=next_id(), idem=idem or next_id(), report_id=report_id, text=text)


async def test_history_lists_who_did_what_oldest_first(relay):
    cit, _ = await device(relay)
    acc = await report(cit)
    dana = await officer(relay, "dana")
    rid = acc.report_id
    for msg in (
        m.ReportClaim(id=next_id(), idem=next_id(), report_id=rid),
        m.ReportSetPriority(id=next_id(), idem=next_id(), report_id=rid, priority="high"),
        m.ReportAssign(id=next_id(), idem=next_id(), report_id=rid, officer="sam"),
        m.OfficerChatSend(id=next_id(), idem=next_id(), report_id=rid, text="On our way"),
    ):
        assert not isinstance(await dana.request(msg), m.Error), msg
    assert isinstance(await dana.request(_note(rid)), m.ReportNoteAdded)
    got = await dana.request(m.ReportHistoryGet(id=next_id(), report_id=rid))
    assert isinstance(got, m.ReportHistory), got
    assert got.report_id == rid and got.omitted == 0
    said = [(e.by, e.action, e.detail) for e in got.entries]
    assert said == [
        ("citizen", "report.created", "reported"),
        ("dana", "report.claim", "claimed it"),
        ("dana", "report.priority", "set the priority to High"),
        ("dana", "report.assign", "assigned it to sam"),
        ("dana", "chat.reply", "replied in chat"),
        ("dana", "report.note", f"added an internal note ({len(NOTE)} characters)"),
    ]
    times = [e.at for e in got.entries]
    assert times == sorted(times)
    assert [(n.author, n.text) for n in got.notes] == [("dana", NOTE)]
    # an analyst reads the history too, but may not write a note
    ann = await officer(relay, "ann")
    assert isinstance(
        await ann.request(m.ReportHistoryGet(id=next_id(), report_id=rid)), m.ReportHistory
    )
    refused = await ann.request(_note(rid))
    assert isinstance(refused, m.Error) and refused.code == "forbidden"
    missing = await dana.request(m.ReportHistoryGet(id=next_id(), report_id="R-NOPE"))
    assert isinstance(missing, m.Error) and missing.code == "not_found"


async def test_a_note_reaches_the_other_officers_never_the_citizen(relay):
    cit, _ = await device(relay)
    acc = await report(cit)
    dana, sam = await officer(relay, "dana"), await officer(relay, "sam")
    idem = next_id()
    added = await dana.request(_note(acc.report_id, idem=idem))
    assert isinstance(added, m.ReportNoteAdded) and added.note.text == NOTE
    seen = await sam.wait_for(lambda e: isinstance(e, m.ReportNoted))
    assert isinstance(seen, m.ReportNoted)
    assert (seen.note.note_id, seen.note.author, seen.note.text) == (
        added.note.note_id,
        "dana",
        NOTE,
    )
    assert seen.note.pilot_id is None
    # a retry with the same key stores nothing new
    again = await dana.request(_note(acc.report_id, idem=idem))
    assert isinstance(again, m.ReportNoteAdded) and again.note.note_id == added.note.note_id
    # a console that resumes catches up through the event log
    late = await officer(relay, "sam")
    assert any(isinstance(e, m.ReportNoted) and e.note.text == NOTE for e in late.seen)
    # the citizen: nothing on its connection, nothing in its own reports or its export
    mine = await cit.request(m.ReportsMine(id=next_id()))
    exported = await cit.request(m.PrivacyExport(id=next_id()))
    assert isinstance(mine, m.ReportsListed) and isinstance(exported, m.PrivacyData)
    await cit.request(m.Ping(id=next_id()))  # everything sent before this has arrived
    assert not any(isinstance(x, m.ReportNoted | m.ReportNoteAdded) for x in cit.seen), cit.seen
    assert NOTE not in repr(cit.seen) and "CCTV" not in repr(mine) + repr(exported)
    # the audit record names the note, its length and hash, never its text
    audits = _q(
        relay,
        lambda s: [
            (a.actor, a.subject, a.detail)
            for a in s.scalars(select(db.AuditLog).where(db.AuditLog.action == "report.note"))
        ],
    )
    assert len(audits) == 1
    actor, subject, detail = audits[0]
    assert (actor, subject) == ("dana", acc.report_id) and "CCTV" not in detail
    assert json.loads(detail) == {
        "chars": len(NOTE),
        "note": added.note.note_id,
        "sha256": hashlib.sha256(NOTE.encode()).hexdigest(),
    }


async def test_bad_notes_are_refused_and_store_nothing(relay):
    cit, _ = await device(relay)
    acc = await report(cit)
    dana = await officer(relay, "dana")
    blank = await dana.request(_note(acc.report_id, text="   \n "))
    assert isinstance(blank, m.Error) and blank.code == "invalid"
    await dana.send_raw(
        json.dumps(
            {
                "type": "report.note",
                "v": 1,
                "id": "n1",
                "idem": "k1",
                "report_id": acc.report_id,
                "text": "x" * (m.NOTE_MAX_CHARS + 1),
            }
        )
    )
    long = await dana.wait_for(lambda e: isinstance(e, m.Error) and e.re == "n1")
    assert isinstance(long, m.Error) and long.code == "too_large"
    unknown = await dana.request(_note("R-NOPE"))
    assert isinstance(unknown, m.Error) and unknown.code == "not_found"
    # the citizen endpoint does not know the message at all
    await cit.send_raw(
        json.dumps(
            {
                "type": "report.note",
                "v": 1,
                "id": "c1",
                "idem": "k2",
                "report_id": acc.report_id,
                "text": "hi",
            }
        )
    )
    err = await cit.wait_for(lambda e: isinstance(e, m.Error) and e.re == "c1")
    assert isinstance(err, m.Error)
    assert _q(relay, lambda s: list(s.scalars(select(db.ReportNote.text)))) == []


async def test_erasure_removes_the_notes_with_the_report(relay):
    cit, reg = await device(relay)
    acc = await report(cit, text="Erase me")
    dana = await officer(relay, "dana")
    assert isinstance(await dana.request(_note(acc.report_id)), m.ReportNoteAdded)
    done = await cit.request(m.PrivacyErase(id=next_id(), device_id=reg.device_id, confirm=True))
    assert isinstance(done, m.PrivacyErased) and done.reports_erased == 1

    def left(s: Any) -> tuple[list[str], str]:
        return list(s.scalars(select(db.ReportNote.text))), "".join(
            s.scalars(select(db.Event.frame))
        )

    notes, frames = _q(relay, left)
    assert notes == [] and "CCTV" not in frames


async def test_a_note_on_a_pilots_report_is_exercise_and_goes_with_the_purge(tmp_path):
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
        ivy, dana = await officer(running, "ivy"), await officer(running, "dana")
        await create_pilot(ivy)
        invites = await codes(ivy, 1)
        phone, _ = await device(running, *INSIDE)
        assert isinstance(await join(phone, invites.codes[0]), m.PilotJoined)
        drill = await report(phone, "Exercise: fly tipping behind the halls")
        added = await dana.request(_note(drill.report_id))
        assert isinstance(added, m.ReportNoteAdded) and added.note.pilot_id == PILOT
        seen = await ivy.wait_for(lambda e: isinstance(e, m.ReportNoted))
        assert isinstance(seen, m.ReportNoted) and seen.note.pilot_id == PILOT
        # a console that leaves exercise traffic out does not get it on resume
        live_only = await officer(running, "sam", subscribe=None)
        sub = await live_only.request(m.Subscribe(id=next_id(), since=0, exclude_exercise=True))
        assert isinstance(sub, m.Subscribed)
        assert not any(isinstance(e, m.ReportNoted) for e in live_only.seen)
        assert isinstance(
            await ivy.request(m.PilotEnd(id=next_id(), idem=next_id(), pilot_id=PILOT)),
            m.PilotAccepted,
        )
        done = await ivy.request(m.PilotPurge(id=next_id(), pilot_id=PILOT, confirm=True))
        assert isinstance(done, m.PilotPurged) and done.reports == 1

        def left(s: Any) -> tuple[list[str], str, str]:
            return (
                list(s.scalars(select(db.ReportNote.text))),
                "".join(s.scalars(select(db.Event.frame))),
                "".join(s.scalars(select(db.Idempotency.reply))),
            )

        notes, frames, replies = _q(running, left)
        assert notes == [] and "CCTV" not in frames and "CCTV" not in replies
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]
