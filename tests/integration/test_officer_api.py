"""Officer-side guarantees: resume without loss, idempotent actions, claims, approval,
held alerts, the audit chain, health and metrics, and restarts."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from sqlalchemy import text

from backend_client import messages as m
from relay import admin, cap
from tests.conftest import start_relay
from tests.support.flows import alert_info, device, device_back, officer, report, square
from tests.support.peer import Peer, next_id


async def test_resume_gets_every_missed_event_once_in_order(relay):
    off = await officer(relay)
    cit, _ = await device(relay)
    await report(cit, text="first")
    first = await off.wait_for(lambda e: isinstance(e, m.ReportCreated))
    await off.close()
    for i in range(30):  # events happen while the officer is away
        await report(cit, text=f"while away {i}")
    back = await officer(relay, subscribe=None)
    await back.send(m.Subscribe(id=next_id(), since=first.seq))
    sub = await back.wait_for(lambda e: isinstance(e, m.Subscribed))
    events = [e for e in back.seen if hasattr(e, "seq")]
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs)) and seqs[0] == first.seq + 1 and seqs[-1] == sub.head
    texts = [e.report.text for e in events if isinstance(e, m.ReportCreated)]
    assert texts == [f"while away {i}" for i in range(30)]
    # live events continue after the replay, with the next seq
    await report(cit, text="live")
    live = await back.wait_for(lambda e: isinstance(e, m.ReportCreated) and e.report.text == "live")
    assert live.seq == sub.head + 1


async def test_resume_while_events_are_being_written_loses_and_doubles_nothing(relay):
    cit, _ = await device(relay)

    async def writer() -> None:
        for i in range(60):
            await report(cit, text=f"burst {i}")

    task = asyncio.create_task(writer())
    off = await officer(relay, subscribe=None)
    await off.send(m.Subscribe(id=next_id(), since=0))
    await task
    await off.wait_for(
        lambda e: isinstance(e, m.ReportCreated) and e.report.text == "burst 59", timeout=20
    )
    seqs = [e.seq for e in off.seen if hasattr(e, "seq")]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_idempotency_key_applies_an_action_once(relay):
    off = await officer(relay)
    idem = next_id()
    one = await off.request(m.IncidentCreate(id=next_id(), idem=idem, title="Student burglaries"))
    two = await off.request(m.IncidentCreate(id=next_id(), idem=idem, title="Student burglaries"))
    assert isinstance(one, m.IncidentCreated) and isinstance(two, m.IncidentCreated)
    assert one.incident_ref == two.incident_ref and two.re != one.re
    await off.request(m.Ping(id=next_id()))
    opened = [e for e in off.seen if isinstance(e, m.IncidentOpened)]
    assert len(opened) == 1


async def test_two_dispatchers_never_work_the_same_report_unknowingly(relay):
    cit, _ = await device(relay)
    acc = await report(cit)
    dana, dev, sam = (
        await officer(relay, "dana"),
        await officer(relay, "dev"),
        await officer(relay, "sam"),
    )
    assert isinstance(
        await dana.request(m.ReportClaim(id=next_id(), idem=next_id(), report_id=acc.report_id)),
        m.Ack,
    )
    err = await dev.request(m.ReportClaim(id=next_id(), idem=next_id(), report_id=acc.report_id))
    assert isinstance(err, m.Error) and err.code == "conflict" and "dana" in err.message
    err = await dev.request(
        m.ReportSetStatus(id=next_id(), idem=next_id(), report_id=acc.report_id, status="closed")
    )
    assert isinstance(err, m.Error) and err.code == "conflict"
    ok = await dana.request(
        m.ReportSetStatus(
            id=next_id(), idem=next_id(), report_id=acc.report_id, status="in_progress"
        )
    )
    assert isinstance(ok, m.Ack)
    took = await sam.request(
        m.ReportClaim(id=next_id(), idem=next_id(), report_id=acc.report_id, force=True)
    )
    assert isinstance(took, m.Ack)
    upd = await dev.wait_for(lambda e: isinstance(e, m.ReportUpdated) and e.by == "sam")
    assert upd.report.claimed_by == "sam"
    inc = await sam.request(m.IncidentCreate(id=next_id(), idem=next_id(), title="Op Nightjar"))
    assert isinstance(inc, m.IncidentCreated) and inc.incident_ref.startswith("INC-")
    linked = await sam.request(
        m.ReportLink(
            id=next_id(), idem=next_id(), report_id=acc.report_id, incident_ref=inc.incident_ref
        )
    )
    assert isinstance(linked, m.Ack)
    upd = await dana.wait_for(
        lambda e: isinstance(e, m.ReportUpdated) and e.report.incident_ref == inc.incident_ref
    )
    assert upd.report.report_id == acc.report_id


async def test_large_alert_needs_another_supervisor(tmp_path):
    running = await start_relay(tmp_path / "r", approval_threshold=1, counts_interval_s=0.1)
    try:
        devices = [await device(running) for _ in range(2)]
        dana, sam = await officer(running, "dana"), await officer(running, "sam")
        count = await dana.request(
            m.AlertPreview(id=next_id(), area=square(), categories=["burglary"])
        )
        assert isinstance(count, m.AlertCount) and count.recipients == 2 and count.approval_required
        acc = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
        assert isinstance(acc, m.AlertAccepted) and acc.alert.state == "pending_approval"
        pong = await devices[0][0].request(m.Ping(id=next_id()))
        assert isinstance(pong, m.Pong) and not any(
            isinstance(x, m.AlertDeliver) for x in devices[0][0].seen
        )
        ok = await sam.request(
            m.AlertApprove(id=next_id(), idem=next_id(), alert_id=acc.alert.alert_id)
        )
        assert (
            isinstance(ok, m.AlertAccepted)
            and ok.alert.state == "active"
            and ok.alert.approved_by == "sam"
        )
        for p, _ in devices:
            got = await p.wait_for(lambda x: isinstance(x, m.AlertDeliver))
            assert got.alert.alert_id == acc.alert.alert_id
        # a supervisor's own large alert still cannot be approved by themselves
        own = await sam.request(
            m.AlertSend(id=next_id(), idem=next_id(), info=alert_info(headline="own"))
        )
        assert isinstance(own, m.AlertAccepted)
        if own.alert.state == "pending_approval":
            err = await sam.request(
                m.AlertApprove(id=next_id(), idem=next_id(), alert_id=own.alert.alert_id)
            )
            assert isinstance(err, m.Error) and err.code == "forbidden"
    finally:
        await running.relay.stop()


async def test_alert_is_held_for_an_offline_device_until_it_reconnects(relay):
    off = await officer(relay)
    cit, reg = await device(relay)
    await cit.close()
    acc = await off.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
    assert isinstance(acc, m.AlertAccepted) and acc.alert.recipients == 1
    again = await Peer.open(relay.citizen_url, relay.ssl, officer=False)
    await again.send(m.DeviceAuth(id=next_id(), device_id=reg.device_id, secret=reg.secret))
    got = await again.wait_for(lambda x: isinstance(x, m.AlertDeliver))
    assert got.alert.alert_id == acc.alert.alert_id and got.alert.contact == "Call 101"
    await again.request(m.AlertAck(id=next_id(), alert_id=got.alert.alert_id, status="delivered"))
    ev = await off.wait_for(lambda e: isinstance(e, m.AlertChanged) and e.alert.delivered == 1)
    assert ev.alert.read == 0


async def test_update_and_cancel_reach_devices_and_export_valid_cap(relay):
    off = await officer(relay)
    cit, _ = await device(relay)
    acc = await off.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
    first = await cit.wait_for(lambda x: isinstance(x, m.AlertDeliver))
    await cit.request(m.AlertAck(id=next_id(), alert_id=first.alert.alert_id, status="read"))
    upd = await off.request(
        m.AlertUpdate(
            id=next_id(),
            idem=next_id(),
            alert_id=acc.alert.alert_id,
            info=alert_info(headline="Suspect arrested"),
        )
    )
    assert isinstance(upd, m.AlertAccepted) and upd.alert.msg_type == "Update"
    got = await cit.wait_for(
        lambda x: isinstance(x, m.AlertDeliver) and x.alert.msg_type == "Update"
    )
    assert got.alert.headline == "Suspect arrested"
    capx = await off.request(m.AlertExport(id=next_id(), alert_id=acc.alert.alert_id))
    assert isinstance(capx, m.AlertCap) and cap.validate_cap(capx.xml) == []
    aid = acc.alert.alert_id  # each CAP message has its own identifier and names the earlier
    assert f"<identifier>{aid}.1</identifier>" in capx.xml and f",{aid}," in capx.xml
    can = await off.request(
        m.AlertCancel(id=next_id(), idem=next_id(), alert_id=acc.alert.alert_id)
    )
    assert isinstance(can, m.AlertAccepted) and can.alert.state == "cancelled"
    got = await cit.wait_for(
        lambda x: isinstance(x, m.AlertDeliver) and x.alert.msg_type == "Cancel"
    )
    assert got.alert.alert_id == acc.alert.alert_id
    capx = await off.request(m.AlertExport(id=next_id(), alert_id=acc.alert.alert_id))
    assert (
        isinstance(capx, m.AlertCap)
        and cap.validate_cap(capx.xml) == []
        and "<msgType>Cancel</msgType>" in capx.xml
    )
    assert f"<identifier>{aid}.2</identifier>" in capx.xml and f",{aid}.1," in capx.xml


async def test_audit_chain_records_actions_and_detects_tampering(relay):
    off = await officer(relay)
    cit, _ = await device(relay)
    acc = await report(cit)
    await off.request(m.ReportClaim(id=next_id(), idem=next_id(), report_id=acc.report_id))
    await off.request(
        m.OfficerChatSend(id=next_id(), idem=next_id(), report_id=acc.report_id, text="hello")
    )
    engine = admin.open_engine(relay.data_dir)
    try:
        verdict = admin.verify_audit(engine)
        assert verdict.ok and verdict.checked >= 8  # officer.add x5, login, claim, chat
        cli = [
            sys.executable,
            "-m",
            "relay.cli",
            "audit",
            "verify",
            "--data-dir",
            str(relay.data_dir),
        ]
        assert subprocess.run(cli, capture_output=True, timeout=60).returncode == 0
        with engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET actor='mallory' WHERE action='report.claim'"))
        verdict = admin.verify_audit(engine)
        assert not verdict.ok and verdict.first_bad_seq is not None
        done = subprocess.run(cli, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and "TAMPERED" in done.stderr
    finally:
        engine.dispose()


async def test_data_survives_a_relay_restart(tmp_path):
    data = tmp_path / "r"
    first = await start_relay(data)
    cit, reg = await device(first)
    acc = await report(cit, text="before restart")
    await first.relay.stop()
    second = await start_relay(data)
    second.totp.update(first.totp)
    try:
        off = await officer(second)
        ev = [e for e in off.seen if isinstance(e, m.ReportCreated)]
        assert [e.report.report_id for e in ev] == [acc.report_id]
        again = await Peer.open(second.citizen_url, second.ssl, officer=False)
        ok = await again.request(
            m.DeviceAuth(id=next_id(), device_id=reg.device_id, secret=reg.secret)
        )
        assert isinstance(ok, m.DeviceAuthed) and ok.categories == ["burglary"]
        # the device's fix survived too: it is still targetable
        count = await off.request(
            m.AlertPreview(id=next_id(), area=square(), categories=["burglary"])
        )
        assert isinstance(count, m.AlertCount) and count.recipients == 1
    finally:
        await second.relay.stop()


@pytest.mark.parametrize("acknowledged", [True, False])
async def test_a_device_offline_at_cancel_hears_of_it_when_it_returns(relay, acknowledged):
    """Acknowledged or not (an acknowledgement lost with the link), a phone the alert was
    sent to must not keep showing it: the Cancel waits for it."""
    off = await officer(relay)
    cit, reg = await device(relay)
    acc = await off.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
    got = await cit.wait_for(lambda x: isinstance(x, m.AlertDeliver))
    if acknowledged:
        ack = m.AlertAck(id=next_id(), alert_id=got.alert.alert_id, status="delivered")
        await cit.request(ack)
    await cit.close()
    can = await off.request(
        m.AlertCancel(id=next_id(), idem=next_id(), alert_id=acc.alert.alert_id)
    )
    assert isinstance(can, m.AlertAccepted)

    again = await device_back(relay, reg)
    cancel = await again.wait_for(lambda x: isinstance(x, m.AlertDeliver))
    assert cancel.alert.msg_type == "Cancel" and cancel.alert.alert_id == acc.alert.alert_id
    await again.request(
        m.AlertAck(id=next_id(), alert_id=cancel.alert.alert_id, status="delivered")
    )
    await again.close()
    third = await device_back(relay, reg)  # acknowledged: not sent again
    assert isinstance(await third.request(m.Ping(id=next_id())), m.Pong)
    assert not any(isinstance(x, m.AlertDeliver) for x in third.seen)


async def test_an_officer_added_beside_the_running_relay_breaks_nothing(relay):
    off = await officer(relay)
    cit, _ = await device(relay)
    acc = await report(cit)
    engine = admin.open_engine(relay.data_dir)
    try:
        admin.add_officer(engine, "zoe", "dispatcher", "another long password")
    finally:
        engine.dispose()
    ok = await off.request(m.ReportClaim(id=next_id(), idem=next_id(), report_id=acc.report_id))
    assert isinstance(ok, m.Ack), ok
    engine = admin.open_engine(relay.data_dir)
    try:
        assert admin.verify_audit(engine).ok
    finally:
        engine.dispose()


async def test_a_disabled_officer_stops_receiving_events_without_sending_anything(relay):
    from websockets.exceptions import ConnectionClosed

    off = await officer(relay, name="dev")
    engine = admin.open_engine(relay.data_dir)
    try:
        admin.disable_officer(engine, "dev")
    finally:
        engine.dispose()
    with pytest.raises(ConnectionClosed) as closed:
        await off.wait_for(lambda _e: False, timeout=15)  # only events would arrive: none may
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    again = await Peer.open(relay.officer_url, relay.ssl, officer=True)
    token = [x for x in off.seen if isinstance(x, m.AuthOk)][0].token
    err = await again.request(m.Resume(id=next_id(), token=token))
    assert isinstance(err, m.Error) and err.code == "bad_credentials"
