"""Incidents and the team over the real relay on TLS loopback (issue 13, deliverables 2, 5).

A dispatcher opens an incident from a report, links and unlinks reports, merges duplicates
under it (closed "Duplicate of R-…", reopened by unlink); a second officer sees every
change as events; bad input changes nothing. The team lists who is signed in, with what
they hold, and pushes `team.changed` when that moves.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from backend_client import messages as m
from backend_client import rules
from relay.db import models as db
from tests.conftest import RunningRelay
from tests.support.clients import make_client
from tests.support.flows import device, officer, report, square
from tests.support.peer import Peer, next_id


def _updated(rid: str, pred: Any = lambda r: True) -> Any:
    return lambda e: isinstance(e, m.ReportUpdated) and e.report.report_id == rid and pred(e.report)


def _rows(r: RunningRelay) -> dict[str, tuple[str | None, str | None, str, str | None]]:
    """report id -> (incident_ref, duplicate_of, status, close_reason), as stored."""

    def q(s: Any) -> dict[str, tuple[str | None, str | None, str, str | None]]:
        rows = s.execute(
            select(
                db.Report.public_id,
                db.Report.incident_ref,
                db.Report.duplicate_of,
                db.Report.status,
                db.Report.close_reason,
            )
        ).all()
        return {x[0]: (x[1], x[2], x[3], x[4]) for x in rows}

    return r.relay.db.read_sync(q)  # type: ignore[attr-defined,no-any-return]


async def _three(relay: RunningRelay) -> tuple[Peer, list[str]]:
    cit, _ = await device(relay)
    ids = [
        (await report(cit, text=f"Boy missing, sighting {i}", category="missing_person")).report_id
        for i in range(3)
    ]
    return cit, ids


async def test_create_link_unlink_merge_seen_by_a_second_officer(relay: RunningRelay) -> None:
    dana = await officer(relay, "dana")
    dev = await officer(relay, "dev")
    _, (a, b, c) = await _three(relay)

    made = await dana.request(
        m.IncidentCreate(id=next_id(), idem=next_id(), title="Missing boy", report_ids=[a])
    )
    assert isinstance(made, m.IncidentCreated), made
    ref = made.incident_ref
    await dev.wait_for(lambda e: isinstance(e, m.IncidentOpened) and e.incident_ref == ref)
    await dev.wait_for(_updated(a, lambda r: r.incident_ref == ref))

    assert isinstance(
        await dana.request(
            m.ReportLink(id=next_id(), idem=next_id(), report_id=b, incident_ref=ref)
        ),
        m.Ack,
    )
    await dev.wait_for(_updated(b, lambda r: r.incident_ref == ref))
    assert isinstance(
        await dana.request(m.ReportUnlink(id=next_id(), idem=next_id(), report_id=b)), m.Ack
    )
    seen = await dev.wait_for(_updated(b, lambda r: r.incident_ref is None))
    assert seen.by == "dana"

    merged = await dana.request(
        m.ReportMerge(id=next_id(), idem=next_id(), into=a, report_ids=[a, b, c])
    )
    assert isinstance(merged, m.IncidentCreated) and merged.incident_ref == ref  # a's incident
    reason = rules.duplicate_reason(a)
    for rid in (b, c):
        ev = await dev.wait_for(_updated(rid, lambda r: r.duplicate_of == a))
        assert ev.report.status == "closed" and ev.report.close_reason == reason
        assert ev.report.incident_ref == ref
    rows = _rows(relay)
    assert rows[a] == (ref, None, "new", None)
    assert rows[b] == (ref, a, "closed", reason) and rows[c] == (ref, a, "closed", reason)

    # undo one duplicate: back in the working list, no longer in the incident
    await dana.request(m.ReportUnlink(id=next_id(), idem=next_id(), report_id=c))
    ev = await dev.wait_for(_updated(c, lambda r: r.duplicate_of is None))
    assert ev.report.status == "new" and ev.report.close_reason is None
    assert ev.report.incident_ref is None
    assert _rows(relay)[c] == (None, None, "new", None)


async def test_merge_without_an_incident_opens_one_from_the_primary_once(
    relay: RunningRelay,
) -> None:
    dana = await officer(relay, "dana")
    _, (a, b, _c) = await _three(relay)
    idem = next_id()
    one = await dana.request(m.ReportMerge(id=next_id(), idem=idem, into=a, report_ids=[b]))
    two = await dana.request(m.ReportMerge(id=next_id(), idem=idem, into=a, report_ids=[b]))
    assert isinstance(one, m.IncidentCreated) and isinstance(two, m.IncidentCreated)
    assert one.incident_ref == two.incident_ref
    await dana.request(m.Ping(id=next_id()))
    opened = [e for e in dana.seen if isinstance(e, m.IncidentOpened)]
    assert len(opened) == 1 and opened[0].title.startswith("Missing person: Boy missing")
    assert _rows(relay)[b][:2] == (one.incident_ref, a)


async def test_bad_input_gets_a_clear_error_and_changes_nothing(relay: RunningRelay) -> None:
    dana = await officer(relay, "dana")
    ann = await officer(relay, "ann")  # an analyst reads; she links nothing
    _, (a, b, c) = await _three(relay)
    made = await dana.request(m.IncidentCreate(id=next_id(), idem=next_id(), title="Op"))
    assert isinstance(made, m.IncidentCreated)
    before = _rows(relay)

    async def refused(msg: m.Msg, code: str, words: str, peer: Peer = dana) -> None:
        reply = await peer.request(msg)
        assert isinstance(reply, m.Error), reply
        assert reply.code == code and words in reply.message, reply

    await refused(
        m.ReportLink(id=next_id(), idem=next_id(), report_id=a, incident_ref="INC-1999-00001"),
        "not_found",
        "no incident",
    )
    await refused(
        m.ReportMerge(id=next_id(), idem=next_id(), into=a, report_ids=[b, "R-NOPE"]),
        "not_found",
        "R-NOPE",
    )
    await refused(
        m.ReportMerge(id=next_id(), idem=next_id(), into=a, report_ids=[a]),
        "invalid",
        "besides the primary",
    )
    await refused(
        m.ReportMerge(
            id=next_id(), idem=next_id(), into=a, report_ids=[b], incident_ref="INC-1999-00001"
        ),
        "not_found",
        "no incident",
    )
    await refused(
        m.ReportLink(id=next_id(), idem=next_id(), report_id=a, incident_ref=made.incident_ref),
        "forbidden",
        "analyst",
        peer=ann,
    )
    # an empty list and too many ids are refused by the decoder, before any handler
    for ids, code in (
        ([], "malformed"),
        ([f"R-{i}" for i in range(m.MERGE_IDS_MAX + 1)], "too_large"),
    ):
        body = {"type": "report.merge", "v": 1, "id": "x1", "idem": "k1", "into": a}
        frame = json.dumps(body | {"report_ids": ids})
        await dana.send_raw(frame)
        err = await dana.wait_for(lambda e: isinstance(e, m.Error) and e.re == "x1")
        assert err.code == code and "report_ids" in err.message, err
        dana.seen.clear()
    # a report held by another officer is not closed as a duplicate by a dispatcher
    dev = await officer(relay, "dev")
    await dev.request(m.ReportClaim(id=next_id(), idem=next_id(), report_id=c))
    held = _rows(relay)
    await refused(
        m.ReportMerge(id=next_id(), idem=next_id(), into=a, report_ids=[b, c]),
        "conflict",
        "held by dev",
    )
    assert _rows(relay) == held
    assert {k: v for k, v in before.items() if k != c} == {k: v for k, v in held.items() if k != c}


async def test_live_and_exercise_reports_never_share_an_incident(relay: RunningRelay) -> None:
    sam = await officer(relay, "sam")  # a supervisor runs pilots
    pilot = await sam.request(
        m.PilotCreate(
            id=next_id(),
            idem=next_id(),
            pilot_id="mix-test",
            title="Mix test",
            area=square(0.01),
            groups=[m.PilotGroupSpec("students", 5)],
            ends_at=time.time() + 86400,
        )
    )
    assert isinstance(pilot, m.PilotAccepted), pilot
    got = await sam.request(
        m.PilotInvite(id=next_id(), pilot_id="mix-test", group="students", count=1)
    )
    assert isinstance(got, m.PilotInvites)
    player, _ = await device(relay)
    assert isinstance(
        await player.request(m.PilotJoin(id=next_id(), code=got.codes[0])), m.PilotJoined
    )
    drill = (await report(player, text="exercise sighting")).report_id
    _, (live, _b, _c) = await _three(relay)
    before = _rows(relay)
    reply = await sam.request(
        m.ReportMerge(id=next_id(), idem=next_id(), into=live, report_ids=[drill])
    )
    assert isinstance(reply, m.Error) and reply.code == "invalid", reply
    assert "exercise" in reply.message
    made = await sam.request(
        m.IncidentCreate(id=next_id(), idem=next_id(), title="Drill", report_ids=[drill])
    )
    assert isinstance(made, m.IncidentCreated)
    reply = await sam.request(
        m.ReportLink(id=next_id(), idem=next_id(), report_id=live, incident_ref=made.incident_ref)
    )
    assert isinstance(reply, m.Error) and reply.code == "invalid", reply
    after = _rows(relay)
    assert after[live] == before[live] and after[drill][0] == made.incident_ref


async def test_the_team_lists_who_is_signed_in_and_what_they_hold(relay: RunningRelay) -> None:
    dana = await officer(relay, "dana")
    _, (a, b, _c) = await _three(relay)
    listed = await dana.request(m.TeamList(id=next_id()))
    assert isinstance(listed, m.TeamListed)
    assert [(o.username, o.role, o.holding) for o in listed.officers] == [("dana", "dispatcher", 0)]
    dev = await officer(relay, "dev")
    pushed = await dana.wait_for(
        lambda e: (
            isinstance(e, m.TeamChanged) and {o.username for o in e.officers} == {"dana", "dev"}
        )
    )
    assert not hasattr(pushed, "seq")
    await dev.request(m.ReportClaim(id=next_id(), idem=next_id(), report_id=a))
    await dev.request(m.ReportAssign(id=next_id(), idem=next_id(), report_id=b, officer="dev"))

    def holds_two(e: m.Msg) -> bool:
        return isinstance(e, m.TeamChanged) and any(
            o.username == "dev" and o.holding == 2 for o in e.officers
        )

    held = await dana.wait_for(holds_two)
    assert isinstance(held, m.TeamChanged)
    assert next(o for o in held.officers if o.username == "dev").holds == [a, b]
    await dev.close()
    gone = await dana.wait_for(
        lambda e: isinstance(e, m.TeamChanged) and [o.username for o in e.officers] == ["dana"]
    )
    assert isinstance(gone, m.TeamChanged)
    # a citizen's endpoint has no such request: names go to officers only
    cit, _ = await device(relay)
    await cit.send_raw('{"type":"team.list","v":1,"id":"t1"}')
    err = await cit.wait_for(lambda e: isinstance(e, m.Error) and e.re == "t1")
    assert err.code == "unknown_type", err


async def test_the_console_client_hands_team_changed_to_the_console_and_lists_the_team(
    relay: RunningRelay, tmp_path: Path
) -> None:
    client = make_client(relay, tmp_path)
    q = client.subscribe_queue()
    await client.start()
    try:
        await client.wait_live(15)
        listed = await client.request(m.TeamList(id=""))
        assert isinstance(listed, m.TeamListed)
        assert [o.username for o in listed.officers] == ["dana"]
        before = client.last_seq
        await officer(relay, "sam")

        async def pushed() -> m.TeamChanged:
            while True:
                e = await q.get()
                if isinstance(e, m.TeamChanged) and len(e.officers) == 2:
                    return e

        got = await asyncio.wait_for(pushed(), 10)
        assert {(o.username, o.role) for o in got.officers} == {
            ("dana", "dispatcher"),
            ("sam", "supervisor"),
        }
        assert client.last_seq == before  # presence is not an event: nothing to resume from
    finally:
        await client.stop()
