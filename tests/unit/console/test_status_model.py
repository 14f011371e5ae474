"""What the status bar says (its Qt-free model): the link, the outbox and the banners."""

from __future__ import annotations

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
