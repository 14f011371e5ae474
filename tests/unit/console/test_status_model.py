"""What the status bar says (its Qt-free model): the link, the outbox and the banners."""

from __future__ import annotations

import msgspec
import pytest

from backend_client import messages as m
from backend_client.state import ConnectionStatus, State
from console.status.model import (
    TIP_CHARS,
    action_name,
    connection_text,
    high_priority_text,
    plain_tip,
    queued_text,
    refusal_text,
    rtt_text,
)

NOW = 1_700_000_000.0


def test_connection_text_counts_down_and_names_queued_actions() -> None:
    backing_off = ConnectionStatus(State.BACKING_OFF, NOW, next_attempt_at=NOW + 2.1)
    assert connection_text(backing_off, NOW) == "Reconnecting in 3 s"
    assert connection_text(backing_off, NOW + 3) == "Reconnecting…"
    assert connection_text(ConnectionStatus(State.FATAL, NOW), NOW) == (
        "Connection failed: see the log"
    )
    assert connection_text(ConnectionStatus(State.OFFLINE, NOW, queued=2), NOW) == (
        "Offline — 2 actions queued"
    )


def test_rtt_only_while_live_and_the_outbox_count() -> None:
    assert rtt_text(ConnectionStatus(State.LIVE, NOW, rtt_ms=12.6)) == "RTT 13 ms"
    assert rtt_text(ConnectionStatus(State.LIVE, NOW)) == "RTT —"
    assert rtt_text(ConnectionStatus(State.OFFLINE, NOW, rtt_ms=12.6)) == "RTT —"
    assert (queued_text(0), queued_text(1), queued_text(4)) == (
        "Outbox empty",
        "1 action queued",
        "4 actions queued",
    )


def test_network_text_in_a_tooltip_is_escaped_and_bounded() -> None:
    assert plain_tip("<b>not yours</b> & co") == "<qt>&lt;b&gt;not yours&lt;/b&gt; &amp; co</qt>"
    assert len(plain_tip("x" * 10_000)) == len("<qt></qt>") + TIP_CHARS


@pytest.mark.parametrize(
    ("action", "name"),
    [
        (m.ReportClaim(id="", idem="", report_id="r"), "Claim"),
        (m.ReportSetStatus(id="", idem="", report_id="r", status="closed"), "Close"),
        (m.ReportSetStatus(id="", idem="", report_id="r", status="in_progress"), "In progress"),
        (m.ReportSetStatus(id="", idem="", report_id="r", status="new"), "Status change"),
        (m.ReportAssign(id="", idem="", report_id="r", officer="sam"), "Assign"),
        (m.ReportSetPriority(id="", idem="", report_id="r", priority="high"), "Priority change"),
    ],
)
def test_refused_actions_are_named_as_an_officer_would(action: m.Msg, name: str) -> None:
    assert action_name(action) == name
    assert refusal_text(action, "not yours") == f"{name} refused: not yours"


def test_the_high_priority_banner_uses_the_shared_category_label() -> None:
    report = m.Report(
        report_id="R-7", reporter="owl", category="antisocial", text="Fight outside\nmore",
        lat=0.0, lon=0.0, created_at=NOW, status="new", priority="high", claimed_by=None,
        incident_ref=None, media=[],
    )  # fmt: skip
    assert high_priority_text(report) == ("HIGH PRIORITY Anti-social report R-7: Fight outside")


# ---------------------------------------------------------------- attention (issue 13)


def _high(report_id: str, **kw: object) -> m.Report:
    from tests.support.samples import numbered_report

    return msgspec.structs.replace(
        numbered_report(1, category="violence", priority="high"), report_id=report_id, **kw
    )


def test_the_high_queue_keeps_each_waiting_report_once_in_arrival_order() -> None:
    from console.status.model import HighQueue, high_queue_text

    q = HighQueue()
    assert high_queue_text(q) == "" and q.newest() is None
    assert q.offer(_high("R-1")) and q.offer(_high("R-2"))
    assert not q.offer(_high("R-1"))
    assert not q.offer(_high("R-3", priority="normal"))
    assert not q.offer(_high("R-4", status="closed"))
    assert q.ids() == ["R-1", "R-2"]
    assert q.oldest() is not None and q.oldest().report_id == "R-1"  # type: ignore[union-attr]
    assert high_queue_text(q).startswith("2 HIGH reports waiting — newest: Violence report R-2:")
    assert q.changed(_high("R-2", text="now with more\nlines"))
    assert high_queue_text(q).endswith("R-2: now with more")
    assert q.changed(_high("R-1", priority="normal")) and q.ids() == ["R-2"]
    assert not q.changed(_high("R-9"))
    assert high_queue_text(q).startswith("HIGH PRIORITY Violence report R-2")
    assert q.discard("R-2") and not q.discard("R-2") and len(q) == 0
    assert not q.offer(_high("R-2")), "acknowledged: it does not come back"


def test_the_link_banner_counts_down_and_names_the_reason() -> None:
    from console.status.model import can_reconnect_now, link_banner_text

    now = 1000.0
    backing = ConnectionStatus(State.BACKING_OFF, now, next_attempt_at=now + 4.2, attempt=1)
    assert link_banner_text(backing, now) == "Link to the relay lost — retrying in 5 s"
    assert can_reconnect_now(backing)
    late = ConnectionStatus(State.BACKING_OFF, now, next_attempt_at=now - 1)
    assert link_banner_text(late, now) == "Link to the relay lost — retrying now…"
    again = ConnectionStatus(State.CONNECTING, now, attempt=2)
    assert link_banner_text(again, now) == "Link to the relay lost — reconnecting…"
    assert not can_reconnect_now(again)
    assert link_banner_text(ConnectionStatus(State.CONNECTING, now), now) is None  # first try
    assert link_banner_text(ConnectionStatus(State.LIVE, now), now) is None
    assert link_banner_text(ConnectionStatus(State.OFFLINE, now), now) is None
    fatal = ConnectionStatus(State.FATAL, now, reason="Log in again.")
    assert link_banner_text(fatal, now) == "Link to the relay lost: Log in again."


def test_the_approval_notice_leads_to_the_newest_alert_someone_else_sent() -> None:
    from console.status.model import waiting_approval
    from tests.support.samples import elm_road_alert

    alerts = [
        elm_road_alert("A-1", sender="dev", state="pending_approval", sent_at=10.0),
        elm_road_alert("A-2", sender="dev", state="pending_approval", sent_at=20.0),
        elm_road_alert("A-3", sender="sam", state="pending_approval", sent_at=30.0),
        elm_road_alert("A-4", sender="dev", state="active", sent_at=40.0),
    ]
    assert waiting_approval(alerts, "sam") == "A-2"  # never one's own (two-person rule)
    assert waiting_approval(alerts, "sue") == "A-3"
    assert waiting_approval(alerts[3:], "sue") is None
