"""End to end over TLS loopback: a citizen reports, an officer sees it, chats, alerts."""

from __future__ import annotations

import time

from backend_client import messages as m
from tests.support.flows import PRESTON, device, officer, report
from tests.support.peer import next_id


def around(lat: float, lon: float, d: float = 0.01) -> m.Polygon:
    return m.Polygon(
        coordinates=[(lon - d, lat - d), (lon + d, lat - d), (lon + d, lat + d), (lon - d, lat + d)]
    )


async def test_report_reaches_officer_and_chat_round_trips(relay):
    off = await officer(relay)
    cit, _reg = await device(relay)
    acc = await report(cit, text="<img src=x onerror=alert(1)> at the back door")
    created = await off.wait_for(lambda e: isinstance(e, m.ReportCreated))
    assert created.report.report_id == acc.report_id
    assert created.report.text.startswith("<img src=x")  # literal, untouched
    assert created.report.status == "new"

    claim = await off.request(m.ReportClaim(id=next_id(), idem=next_id(), report_id=acc.report_id))
    assert isinstance(claim, m.Ack), claim
    upd = await off.wait_for(lambda e: isinstance(e, m.ReportUpdated))
    assert upd.report.claimed_by == "dana" and upd.report.status == "claimed"

    sent = await off.request(
        m.OfficerChatSend(
            id=next_id(), idem=next_id(), report_id=acc.report_id, text="Are you safe?"
        )
    )
    assert isinstance(sent, m.ChatSent)
    got = await cit.wait_for(lambda x: isinstance(x, m.ChatDeliver))
    assert got.message.text == "Are you safe?"
    ack = await cit.request(
        m.ChatReceipt(id=next_id(), message_ids=[got.message.message_id], status="read")
    )
    assert isinstance(ack, m.Ack)
    st = await off.wait_for(lambda e: isinstance(e, m.ChatStatusChanged))
    assert st.status == "read" and st.message_id == sent.message.message_id

    reply = await cit.request(
        m.CitizenChatSend(
            id=next_id(), report_id=acc.report_id, text="Yes, inside", client_ref="c1"
        )
    )
    assert isinstance(reply, m.ChatSent)
    posted = await off.wait_for(
        lambda e: isinstance(e, m.ChatPosted) and e.message.sender == "citizen"
    )
    assert posted.message.text == "Yes, inside"
    # the citizen hears that an officer's console received it
    st2 = await cit.wait_for(lambda x: isinstance(x, m.ChatStatusUpdate))
    assert st2.message_id == reply.message.message_id and st2.status == "delivered"
    await off.close()
    await cit.close()


async def test_alert_targets_only_devices_inside_and_subscribed(relay):
    off = await officer(relay)
    inside, _ = await device(relay, categories=("burglary",))
    wrong_cat, _ = await device(relay, categories=("canal",))
    outside, _ = await device(relay, lat=PRESTON[0] + 0.2, categories=("burglary",))
    area = around(*PRESTON)
    count = await off.request(m.AlertPreview(id=next_id(), area=area, categories=["burglary"]))
    assert isinstance(count, m.AlertCount) and count.recipients == 1
    info = m.AlertInfo(
        categories=["burglary"],
        area=area,
        area_desc="Preston centre",
        headline="Burglaries tonight",
        description="Lock doors",
        contact="101",
        incident_ref=None,
        expires_at=time.time() + 3600,
    )
    acc = await off.request(m.AlertSend(id=next_id(), idem=next_id(), info=info))
    assert (
        isinstance(acc, m.AlertAccepted)
        and acc.alert.state == "active"
        and acc.alert.recipients == 1
    )
    got = await inside.wait_for(lambda x: isinstance(x, m.AlertDeliver))
    assert got.alert.headline == "Burglaries tonight"
    await inside.request(m.AlertAck(id=next_id(), alert_id=acc.alert.alert_id, status="read"))
    prog = await off.wait_for(lambda e: isinstance(e, m.AlertChanged) and e.alert.read == 1)
    assert prog.alert.delivered == 1
    # the others got nothing: a ping round trip proves their queues are empty of alerts
    for p in (wrong_cat, outside):
        pong = await p.request(m.Ping(id=next_id()))
        assert isinstance(pong, m.Pong)
        assert not any(isinstance(x, m.AlertDeliver) for x in p.seen)
    cap = await off.request(m.AlertExport(id=next_id(), alert_id=acc.alert.alert_id))
    assert isinstance(cap, m.AlertCap) and "urn:oasis:names:tc:emergency:cap:1.2" in cap.xml
