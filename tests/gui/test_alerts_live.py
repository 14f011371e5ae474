"""The alerts dock against a real relay on TLS loopback: the composer's live count, send
through the preview (its own fresh count, the approval it needs), the two-person rule (a
refusal shown, then a second supervisor's approval), counts climbing as a phone
acknowledges, the alert's history with each officer, and CAP export.

No qasync: the test runs on pytest-asyncio's loop and Qt signals are direct calls on the same
thread, so widgets update as the session's tasks dispatch events. Qt timers do not run here;
the test calls the composer's `request_count()` where a timer would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backend_client import messages as m
from backend_client.state import State
from console.alerts.widget import AlertsWidget
from console.session import ConsoleSession
from tests.conftest import start_relay
from tests.support.clients import make_client
from tests.support.flows import PRESTON, device
from tests.support.peer import next_id, wait_until

pytestmark = pytest.mark.gui


@pytest.fixture
async def strict_relay(tmp_path: Path):
    """A relay where any alert reaching a phone needs a supervisor's approval."""
    running = await start_relay(tmp_path / "relay", counts_interval_s=0.1, approval_threshold=0)
    try:
        yield running
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def _session(relay, tmp_path: Path, name: str) -> ConsoleSession:
    session = ConsoleSession(make_client(relay, tmp_path, name))
    await session.start()
    await wait_until(lambda: session.status.state is State.LIVE)
    return session


async def test_compose_send_approve_deliver_export(qapp, strict_relay, tmp_path):
    phone, _ = await device(strict_relay, categories=("burglary",))
    other, _ = await device(strict_relay, categories=("drugs",))  # in the area, not subscribed
    dana = await _session(strict_relay, tmp_path, "dana")
    sam = await _session(strict_relay, tmp_path, "sam")
    dock, sup_dock = AlertsWidget(dana), AlertsWidget(sam)
    try:
        composer = dock.compose(m.Circle(lat=PRESTON[0], lon=PRESTON[1], radius_m=2000))
        assert composer is not None
        composer.template.setCurrentIndex(composer.template.findText("Burglary warning"))
        composer.request_count()  # what the debounce timer does
        await wait_until(lambda: composer.last_count is not None)
        assert composer.reach.text() == "Reaches 1 phone"
        assert composer.approval.isVisibleTo(composer)  # threshold 0: two-person rule

        preview = composer.review()  # Send: the preview asks the relay again
        assert preview is not None
        await wait_until(lambda: preview.count is not None)
        assert preview.values["Reaches"].text() == "1 phone"
        assert preview.values["Approval"].text().startswith("Yes: a supervisor")
        assert preview.warning_text.text() == "This will reach 1 phone."  # above threshold 0
        assert not preview.send_button.isEnabled()  # until the dispatcher confirms
        assert dock.model.book.rows() == []  # nothing sent yet
        preview.confirm.setChecked(True)
        preview.send_button.click()
        await wait_until(lambda: len(dock.model.book) == 1)
        sent = dock.model.book.at(0)
        assert sent.state == "pending_approval" and sent.sender == "dana"
        assert sent.info.headline == "Burglaries reported in your area"
        await wait_until(lambda: "supervisor other than you" in dock.message.text())

        # the sender tries to approve anyway (the button is greyed out; the relay decides)
        dock.select_alert(sent.alert_id)
        assert not dock.approve_button.isEnabled()
        dock.approve_selected(True)
        await wait_until(lambda: "refused" in dock.message.text())
        assert dock.message.text().startswith("The approval was refused.")

        # another supervisor approves: the phone gets it and acknowledges
        await wait_until(lambda: len(sup_dock.model.book) == 1)
        sup_dock.select_alert(sent.alert_id)
        assert sup_dock.approve_button.isEnabled()
        sup_dock.approve_selected(True)
        push = await phone.wait_for(lambda x: isinstance(x, m.AlertDeliver))
        assert isinstance(push, m.AlertDeliver) and push.alert.alert_id == sent.alert_id
        for status in ("delivered", "read"):
            ack = m.AlertAck(id=next_id(), alert_id=sent.alert_id, status=status)  # type: ignore[arg-type]
            assert isinstance(await phone.request(ack), m.Ack)

        def progressed() -> bool:
            row = dock.model.book.rows()[0]
            return row.state == "active" and row.delivered_fraction == row.read_fraction == 1.0

        await wait_until(progressed)
        row = dock.model.book.rows()[0]
        assert (row.recipients, row.approved_by) == (1, "sam")
        assert row.sent_at == sent.sent_at, "the approval left the Sent time alone"

        # the history beside the list: who sent it for approval and who approved it
        dock.select_alert(sent.alert_id)
        dock.request_history(sent.alert_id)
        await wait_until(lambda: "Approved by sam" in dock.history.text())
        assert "Approval requested by dana" in dock.history.text().splitlines()[0]

        out = tmp_path / "alert.cap.xml"
        dock.export_selected(out)
        await wait_until(out.exists)
        xml = out.read_text()
        assert "urn:oasis:names:tc:emergency:cap:1.2" in xml
        assert "Burglaries reported in your area" in xml

        # after a Cancel the alert has two messages: Export CAP asks which, and the
        # original comes back exactly as it was sent
        dock.session.submit(m.AlertCancel(id="", idem="", alert_id=sent.alert_id))
        await wait_until(lambda: dock.model.book.rows()[0].msg_type == "Cancel")
        asked: list[list[str]] = []

        def pick(identifiers: list[str]) -> str:
            asked.append(list(identifiers))
            return identifiers[0]  # the original Alert

        dock.choose_message = pick  # type: ignore[method-assign]
        first = tmp_path / "original.cap.xml"
        dock.export_selected(first)
        await wait_until(first.exists)
        assert asked == [[sent.alert_id, f"{sent.alert_id}.1"]], asked
        assert first.read_text() == xml  # the Alert, byte for byte, not the Update
    finally:
        for w in (dock, sup_dock):
            w.close()
            w.deleteLater()
        await dana.stop()
        await sam.stop()
        await phone.close()
        await other.close()
