"""The two-person rule without exceptions, and claims, against the real relay over TLS.

Each test here failed on the relay before issue 8: a supervisor's own large alert went
straight out, an update widened an approved alert unseen, and set_status to `claimed`
took a report another dispatcher was working.
"""

from __future__ import annotations

from backend_client import messages as m
from tests.conftest import start_relay
from tests.support.flows import PRESTON, alert_info, device, officer, report, square
from tests.support.peer import Peer, next_id

FAR = (PRESTON[0] + 0.05, PRESTON[1])  # about 5.5 km north: outside square()


async def _pushes(p: Peer, alert_id: str, msg_type: str) -> int:
    return sum(
        1
        for x in p.seen
        if isinstance(x, m.AlertDeliver)
        and x.alert.alert_id == alert_id
        and x.alert.msg_type == msg_type
    )


async def test_a_supervisors_own_large_alert_waits_for_another_supervisor(tmp_path):
    running = await start_relay(tmp_path / "r", approval_threshold=1)
    try:
        phones = [await device(running) for _ in range(2)]
        sam, sue = await officer(running, "sam"), await officer(running, "sue")
        count = await sam.request(
            m.AlertPreview(id=next_id(), area=square(), categories=["burglary"])
        )
        assert isinstance(count, m.AlertCount) and count.approval_required
        own = await sam.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
        assert isinstance(own, m.AlertAccepted)
        assert own.alert.state == "pending_approval", "the preview said approval: send agrees"
        assert own.alert.approved_by is None
        self_ok = await sam.request(
            m.AlertApprove(id=next_id(), idem=next_id(), alert_id=own.alert.alert_id)
        )
        assert isinstance(self_ok, m.Error) and self_ok.code == "forbidden"
        ok = await sue.request(
            m.AlertApprove(id=next_id(), idem=next_id(), alert_id=own.alert.alert_id)
        )
        assert isinstance(ok, m.AlertAccepted) and ok.alert.state == "active"
        assert ok.alert.approved_by == "sue"
        for p, _ in phones:
            got = await p.wait_for(lambda x: isinstance(x, m.AlertDeliver))
            assert got.alert.alert_id == own.alert.alert_id
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def test_an_alert_at_the_threshold_goes_at_once_and_the_preview_says_so(tmp_path):
    running = await start_relay(tmp_path / "r", approval_threshold=1)
    try:
        await device(running)
        sam = await officer(running, "sam")
        small = await sam.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
        assert isinstance(small, m.AlertAccepted) and small.alert.state == "active"
        count = await sam.request(
            m.AlertPreview(id=next_id(), area=square(), categories=["burglary"])
        )
        assert isinstance(count, m.AlertCount) and not count.approval_required
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def test_an_update_onto_a_large_area_goes_back_for_approval(tmp_path):
    running = await start_relay(tmp_path / "r", approval_threshold=1)
    try:
        near, _ = await device(running)
        far, _ = await device(running, lat=FAR[0], lon=FAR[1])
        dana, sam = await officer(running, "dana"), await officer(running, "sam")
        sent = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
        assert isinstance(sent, m.AlertAccepted) and sent.alert.state == "active"
        alert_id = sent.alert.alert_id
        await near.wait_for(lambda x: isinstance(x, m.AlertDeliver))
        wide = alert_info(area=square(0.1), headline="Burglaries across the city")
        upd = await dana.request(
            m.AlertUpdate(id=next_id(), idem=next_id(), alert_id=alert_id, info=wide)
        )
        assert isinstance(upd, m.AlertAccepted)
        proposal = upd.alert
        assert proposal.state == "pending_approval" and proposal.msg_type == "Update"
        assert proposal.alert_id != alert_id and proposal.recipients == 2
        # meanwhile the alert stays as approved: nobody new is told, nothing re-sent
        pong = await far.request(m.Ping(id=next_id()))
        assert isinstance(pong, m.Pong)
        assert not any(isinstance(x, m.AlertDeliver) for x in far.seen)
        assert await _pushes(near, alert_id, "Update") == 0
        own = await dana.request(
            m.AlertApprove(id=next_id(), idem=next_id(), alert_id=proposal.alert_id)
        )
        assert isinstance(own, m.Error) and own.code == "forbidden"
        ok = await sam.request(
            m.AlertApprove(id=next_id(), idem=next_id(), alert_id=proposal.alert_id)
        )
        assert isinstance(ok, m.AlertAccepted)
        assert ok.alert.alert_id == alert_id and ok.alert.msg_type == "Update"
        assert ok.alert.state == "active" and ok.alert.approved_by == "sam"
        assert ok.alert.info.headline == "Burglaries across the city"
        got = await far.wait_for(lambda x: isinstance(x, m.AlertDeliver))
        assert got.alert.alert_id == alert_id and got.alert.msg_type == "Update"
        await near.wait_for(
            lambda x: isinstance(x, m.AlertDeliver) and x.alert.msg_type == "Update"
        )
        spent = await dana.wait_for(
            lambda e: (
                isinstance(e, m.AlertChanged)
                and e.alert.alert_id == proposal.alert_id
                and e.alert.state == "expired"
            )
        )
        assert spent.alert.approved_by == "sam"
        # the CAP export of the updated alert is an Update referencing the first message
        cap = await dana.request(m.AlertExport(id=next_id(), alert_id=alert_id))
        assert isinstance(cap, m.AlertCap) and "<msgType>Update</msgType>" in cap.xml
        assert alert_id in cap.xml.split("<references>")[1]
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def test_an_expiry_only_update_needs_no_approval_and_a_rejected_one_changes_nothing(
    tmp_path,
):
    running = await start_relay(tmp_path / "r", approval_threshold=1)
    try:
        for _ in range(2):
            await device(running)
        dana, sam, sue = [await officer(running, n) for n in ("dana", "sam", "sue")]
        sent = await sam.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
        assert isinstance(sent, m.AlertAccepted) and sent.alert.state == "pending_approval"
        ok = await sue.request(
            m.AlertApprove(id=next_id(), idem=next_id(), alert_id=sent.alert.alert_id)
        )
        assert isinstance(ok, m.AlertAccepted) and ok.alert.state == "active"
        info = ok.alert.info
        longer = alert_info(
            **{f: getattr(info, f) for f in info.__struct_fields__ if f != "expires_at"},
            expires_at=info.expires_at + 600,
        )
        upd = await dana.request(
            m.AlertUpdate(id=next_id(), idem=next_id(), alert_id=ok.alert.alert_id, info=longer)
        )
        assert isinstance(upd, m.AlertAccepted) and upd.alert.state == "active"
        assert upd.alert.alert_id == ok.alert.alert_id
        reworded = alert_info(headline="Something else entirely")
        prop = await dana.request(
            m.AlertUpdate(id=next_id(), idem=next_id(), alert_id=ok.alert.alert_id, info=reworded)
        )
        assert isinstance(prop, m.AlertAccepted) and prop.alert.state == "pending_approval"
        no = await sue.request(
            m.AlertApprove(
                id=next_id(), idem=next_id(), alert_id=prop.alert.alert_id, approve=False
            )
        )
        assert isinstance(no, m.AlertAccepted) and no.alert.state == "rejected"
        cap = await dana.request(m.AlertExport(id=next_id(), alert_id=ok.alert.alert_id))
        assert isinstance(cap, m.AlertCap) and "Something else entirely" not in cap.xml
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def test_set_status_to_claimed_cannot_take_a_report_held_by_another(relay):
    dana, dev, sam = [await officer(relay, n) for n in ("dana", "dev", "sam")]
    cit, _ = await device(relay)
    acc = await report(cit)
    rid = acc.report_id
    for status in ("claimed", "in_progress"):
        ok = await dana.request(
            m.ReportSetStatus(id=next_id(), idem=next_id(), report_id=rid, status=status)
        )
        assert isinstance(ok, m.Ack), ok
    taken = await dev.request(
        m.ReportSetStatus(id=next_id(), idem=next_id(), report_id=rid, status="claimed")
    )
    assert isinstance(taken, m.Error) and taken.code == "conflict" and "dana" in taken.message
    grabbed = await dev.request(m.ReportClaim(id=next_id(), idem=next_id(), report_id=rid))
    assert isinstance(grabbed, m.Error) and grabbed.code == "conflict"
    handed = await dev.request(
        m.ReportAssign(id=next_id(), idem=next_id(), report_id=rid, officer="dev")
    )
    assert isinstance(handed, m.Error) and handed.code == "conflict"
    # a supervisor may take it over
    forced = await sam.request(
        m.ReportSetStatus(id=next_id(), idem=next_id(), report_id=rid, status="claimed")
    )
    assert isinstance(forced, m.Ack)
    upd = await dana.wait_for(
        lambda e: (
            isinstance(e, m.ReportUpdated)
            and e.report.report_id == rid
            and e.report.claimed_by == "sam"
        )
    )
    assert upd.report.status == "claimed"
    # closed reports can be reopened by anyone
    closed = await sam.request(
        m.ReportSetStatus(id=next_id(), idem=next_id(), report_id=rid, status="closed")
    )
    assert isinstance(closed, m.Ack)
    reopened = await dev.request(
        m.ReportSetStatus(id=next_id(), idem=next_id(), report_id=rid, status="claimed")
    )
    assert isinstance(reopened, m.Ack)
    again = await dana.wait_for(
        lambda e: (
            isinstance(e, m.ReportUpdated)
            and e.report.report_id == rid
            and e.report.claimed_by == "dev"
        )
    )
    assert again.report.status == "claimed"
