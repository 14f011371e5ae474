"""An alert's history against the real relay over TLS (issue 13): each step with who and
when, read from the audit log by subject, and the alert's Sent time left as it was first
sent (approval, update and cancel used to overwrite it; each CAP message keeps its own
`sent`)."""

from __future__ import annotations

import asyncio
import time

from backend_client import messages as m
from tests.conftest import start_relay
from tests.support.flows import alert_info, device, officer, square
from tests.support.peer import Peer, next_id


async def _history(p: Peer, alert_id: str) -> list[m.AlertHistoryEntry]:
    got = await p.request(m.AlertHistory(id=next_id(), alert_id=alert_id))
    assert isinstance(got, m.AlertHistoryListed) and got.alert_id == alert_id, got
    return got.entries


async def test_send_approve_update_reject_cancel_each_in_the_history(tmp_path):
    running = await start_relay(tmp_path / "r", approval_threshold=1)
    try:
        phones = [await device(running) for _ in range(2)]
        dana, sam = await officer(running, "dana"), await officer(running, "sam")
        before = time.time()
        sent = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
        assert isinstance(sent, m.AlertAccepted) and sent.alert.state == "pending_approval"
        alert_id, first_sent = sent.alert.alert_id, sent.alert.sent_at
        assert before <= first_sent <= time.time()

        ok = await sam.request(m.AlertApprove(id=next_id(), idem=next_id(), alert_id=alert_id))
        assert isinstance(ok, m.AlertAccepted) and ok.alert.state == "active"
        assert ok.alert.sent_at == first_sent, "approval must not overwrite the Sent time"
        for p, _ in phones:
            await p.wait_for(lambda x: isinstance(x, m.AlertDeliver))

        later = alert_info(expires_at=time.time() + 7200)  # expiry only: applied at once
        upd = await dana.request(
            m.AlertUpdate(id=next_id(), idem=next_id(), alert_id=alert_id, info=later)
        )
        assert isinstance(upd, m.AlertAccepted) and upd.alert.msg_type == "Update"
        assert upd.alert.alert_id == alert_id and upd.alert.sent_at == first_sent

        wide = alert_info(area=square(0.1), headline="Burglaries across the city")
        proposed = await dana.request(
            m.AlertUpdate(id=next_id(), idem=next_id(), alert_id=alert_id, info=wide)
        )
        assert isinstance(proposed, m.AlertAccepted)
        assert proposed.alert.state == "pending_approval"
        no = await sam.request(
            m.AlertApprove(
                id=next_id(), idem=next_id(), alert_id=proposed.alert.alert_id, approve=False
            )
        )
        assert isinstance(no, m.AlertAccepted) and no.alert.state == "rejected"

        gone = await dana.request(m.AlertCancel(id=next_id(), idem=next_id(), alert_id=alert_id))
        assert isinstance(gone, m.AlertAccepted) and gone.alert.state == "cancelled"
        assert gone.alert.sent_at == first_sent, "cancel must not overwrite the Sent time"

        entries = await _history(sam, alert_id)  # any officer may read it
        steps = [(e.action, e.by) for e in entries]
        assert steps == [
            ("approval requested", "dana"),
            ("approved", "sam"),
            ("updated", "dana"),
            ("update proposed", "dana"),
            ("rejected", "sam"),
            ("cancelled", "dana"),
        ]
        assert entries[4].note == "the proposed update"
        times = [e.at for e in entries]
        assert times == sorted(times) and first_sent <= times[0] and times[-1] <= time.time()
        assert times[0] == first_sent  # the send's audit record is the alert's Sent time

        # the Cancel is a CAP message of its own, referencing the messages before it
        cap = await dana.request(m.AlertExport(id=next_id(), alert_id=alert_id))
        assert isinstance(cap, m.AlertCap) and "<msgType>Cancel</msgType>" in cap.xml
        refs = cap.xml.split("<references>")[1].split("</references>")[0]
        assert f",{alert_id}," in refs and f",{alert_id}.1," in refs

        unknown = await dana.request(m.AlertHistory(id=next_id(), alert_id="A-nope"))
        assert isinstance(unknown, m.Error) and unknown.code == "not_found"
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def test_an_alert_sent_at_once_and_past_its_expiry_reads_sent_then_expired(tmp_path):
    running = await start_relay(tmp_path / "r")
    try:
        await device(running)
        dana = await officer(running, "dana")
        short = alert_info(expires_at=time.time() + 0.5)
        sent = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=short))
        assert isinstance(sent, m.AlertAccepted) and sent.alert.state == "active"
        entries = await _history(dana, sent.alert.alert_id)
        assert [(e.action, e.by) for e in entries] == [("sent", "dana")]
        deadline = time.time() + 10
        while time.time() < deadline:  # the alert runs out: the relay says so, by nobody
            entries = await _history(dana, sent.alert.alert_id)
            if entries[-1].action == "expired":
                break
            await asyncio.sleep(0.05)  # poll, within the officer's frame limit
        assert [(e.action, e.by) for e in entries] == [("sent", "dana"), ("expired", None)]
        assert entries[-1].at == short.expires_at
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]
