"""A citizen that comes back learns the marks its messages earned while it was away: the
relay pushes `chat.status` for its recent messages after `device.auth`, over TLS, with real
peers (a citizen device and an officer console). Without it a message read while the phone
was offline would show "delivered" on it forever.

The pushes after `device.auth` all precede the answer to the device's next request (one
outcome per frame), so a `ping` answered marks the end of them: no sleeping."""

from __future__ import annotations

from sqlalchemy import update

from backend_client import messages as m
from relay import reports
from relay.db import models as db
from tests.conftest import RunningRelay
from tests.support.flows import device, device_back, officer, report
from tests.support.peer import Peer, next_id


async def after_auth(p: Peer) -> list[m.Msg]:
    """Everything the relay pushed between `device.authed` and the answer to a ping."""
    pong = await p.request(m.Ping(id=next_id()))
    assert isinstance(pong, m.Pong), pong
    return p.seen[p.seen.index(next(x for x in p.seen if isinstance(x, m.DeviceAuthed))) :]


async def say(cit: Peer, report_id: str, text: str) -> m.ChatMessage:
    sent = await cit.request(
        m.CitizenChatSend(id=next_id(), report_id=report_id, text=text, client_ref=next_id())
    )
    assert isinstance(sent, m.ChatSent), sent
    return sent.message


async def test_a_message_read_while_the_citizen_was_away_shows_read_on_return(
    relay: RunningRelay,
) -> None:
    off = await officer(relay)
    cit, reg = await device(relay)
    acc = await report(cit)

    # both ways while connected: the officer's question is receipted, the answer reaches a console
    asked = await off.request(
        m.OfficerChatSend(id=next_id(), idem=next_id(), report_id=acc.report_id, text="Safe?")
    )
    assert isinstance(asked, m.ChatSent)
    got = await cit.wait_for(lambda x: isinstance(x, m.ChatDeliver))
    assert isinstance(got, m.ChatDeliver)
    receipt = m.ChatReceipt(id=next_id(), message_ids=[got.message.message_id], status="read")
    assert isinstance(await cit.request(receipt), m.Ack)
    answer = await say(cit, acc.report_id, "Yes, inside")
    live = await cit.wait_for(
        lambda x: isinstance(x, m.ChatStatusUpdate) and x.message_id == answer.message_id
    )
    assert isinstance(live, m.ChatStatusUpdate) and live.status == "delivered"
    await cit.close()

    # the officer reads it while the phone is away: that push reaches no one
    read = await off.request(m.OfficerChatRead(id=next_id(), message_ids=[answer.message_id]))
    assert isinstance(read, m.Ack), read

    back = await device_back(relay, reg)
    pushed = await after_auth(back)
    marks = [(x.message_id, x.status) for x in pushed if isinstance(x, m.ChatStatusUpdate)]
    assert marks == [(answer.message_id, "read")]
    # no history repeated: the officer's receipted question is not delivered again
    assert [x for x in pushed if isinstance(x, m.ChatDeliver)] == []
    await back.close()
    await off.close()


async def test_a_citizen_offline_while_a_console_caught_up_hears_only_the_current_mark(
    relay: RunningRelay,
) -> None:
    """Sent while no console was live, delivered when one caught up, read by it: a device
    offline all along hears the current mark (read), and a message no console has seen
    yet gets no push."""
    cit, reg = await device(relay)
    acc = await report(cit)
    seen = await say(cit, acc.report_id, "They went towards the park")
    await cit.close()

    off = await officer(relay)  # the replay carries it: now delivered
    await off.wait_for(
        lambda e: isinstance(e, m.ChatStatusChanged) and e.message_id == seen.message_id
    )
    read = await off.request(m.OfficerChatRead(id=next_id(), message_ids=[seen.message_id]))
    assert isinstance(read, m.Ack), read
    await off.close()

    back = await device_back(relay, reg)
    unseen = await say(back, acc.report_id, "And a second one")  # no console live now
    assert unseen.status == "sent"
    await back.close()

    again = await device_back(relay, reg)
    marks = [
        (x.message_id, x.status)
        for x in await after_auth(again)
        if isinstance(x, m.ChatStatusUpdate)
    ]
    assert marks == [(seen.message_id, "read")]
    await again.close()


async def test_marks_of_old_messages_are_not_resent(relay: RunningRelay) -> None:
    """Only the last CHAT_MARKS_RESENT_S of a device's messages: a week-old conversation is
    not pushed again on every reconnect."""
    off = await officer(relay)
    cit, reg = await device(relay)
    acc = await report(cit)
    old = await say(cit, acc.report_id, "Last week's message")
    new = await say(cit, acc.report_id, "Today's message")
    for msg in (old, new):
        await cit.wait_for(
            lambda x, msg=msg: isinstance(x, m.ChatStatusUpdate) and x.message_id == msg.message_id
        )
    await cit.close()
    ids = [old.message_id, new.message_id]
    assert isinstance(await off.request(m.OfficerChatRead(id=next_id(), message_ids=ids)), m.Ack)

    def age(tx: object) -> None:
        tx.s.execute(  # type: ignore[attr-defined]
            update(db.ChatMessage)
            .where(db.ChatMessage.public_id == old.message_id)
            .values(sent_at=db.ChatMessage.sent_at - reports.CHAT_MARKS_RESENT_S - 60)
        )

    await relay.relay.db.write(age)  # type: ignore[attr-defined]
    back = await device_back(relay, reg)
    marks = [
        (x.message_id, x.status)
        for x in await after_auth(back)
        if isinstance(x, m.ChatStatusUpdate)
    ]
    assert marks == [(new.message_id, "read")]
    await back.close()
    await off.close()
