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

from backend_client import messages as m
from relay.db import models as db
from tests.conftest import RunningRelay
from tests.support.flows import device, officer, report, square
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
