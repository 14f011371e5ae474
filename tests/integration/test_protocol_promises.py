"""What docs/protocol.md promises a client written from it alone, against the real relay:
updates reach phones that come back (cancels: tests/integration/test_officer_api.py), an
alert cancelled before approval reaches none, and a console's catch-up delivers citizen
messages sent while no console was live."""

from __future__ import annotations

from pathlib import Path

from backend_client import messages as m
from tests.conftest import start_relay
from tests.support.flows import alert_info, device, device_back, officer
from tests.support.peer import next_id


async def test_a_phone_away_during_an_update_gets_the_current_message(relay):
    off = await officer(relay)
    cit, reg = await device(relay)
    acc = await off.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
    first = await cit.wait_for(lambda x: isinstance(x, m.AlertDeliver))
    await cit.request(m.AlertAck(id=next_id(), alert_id=first.alert.alert_id, status="read"))
    await cit.close()
    upd = await off.request(
        m.AlertUpdate(
            id=next_id(),
            idem=next_id(),
            alert_id=acc.alert.alert_id,
            info=alert_info(headline="Burglaries: two arrests, stay alert"),
        )
    )
    assert isinstance(upd, m.AlertAccepted), upd
    again = await device_back(relay, reg)
    got = await again.wait_for(lambda x: isinstance(x, m.AlertDeliver))
    assert got.alert.msg_type == "Update"
    assert got.alert.headline == "Burglaries: two arrests, stay alert"
    await again.close()
    await off.close()


async def test_an_alert_cancelled_before_approval_reaches_no_phone(tmp_path: Path):
    r = await start_relay(tmp_path / "relay", approval_threshold=0)
    try:
        off = await officer(r)
        cit, reg = await device(r)
        acc = await off.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
        assert isinstance(acc, m.AlertAccepted) and acc.alert.state == "pending_approval"
        can = await off.request(
            m.AlertCancel(id=next_id(), idem=next_id(), alert_id=acc.alert.alert_id)
        )
        assert isinstance(can, m.AlertAccepted) and can.alert.state == "cancelled"
        assert isinstance(await cit.request(m.Ping(id=next_id())), m.Pong)
        await cit.close()
        again = await device_back(r, reg)
        assert isinstance(await again.request(m.Ping(id=next_id())), m.Pong)
        assert not any(isinstance(x, m.AlertDeliver) for x in cit.seen + again.seen)
        await again.close()
        await off.close()
    finally:
        await r.relay.stop()


async def test_a_consoles_catch_up_delivers_what_citizens_sent_meanwhile(relay):
    from tests.support.flows import report

    cit, _reg = await device(relay)
    acc = await report(cit)
    sent = await cit.request(
        m.CitizenChatSend(
            id=next_id(), report_id=acc.report_id, text="More detail", client_ref="c9"
        )
    )
    assert isinstance(sent, m.ChatSent) and sent.message.status == "sent"  # no console live
    off = await officer(relay)  # subscribes from 0: the replay carries the message
    await off.wait_for(
        lambda e: isinstance(e, m.ChatPosted) and e.message.message_id == sent.message.message_id
    )
    st = await cit.wait_for(
        lambda x: isinstance(x, m.ChatStatusUpdate) and x.message_id == sent.message.message_id
    )
    assert st.status == "delivered"
    changed = await off.wait_for(
        lambda e: isinstance(e, m.ChatStatusChanged) and e.message_id == sent.message.message_id
    )
    assert changed.status == "delivered"
    await off.close()
    await cit.close()
