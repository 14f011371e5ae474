"""Chat: the widget over a real ConsoleSession (the pure model: tests/unit/console)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel

from backend_client import messages as m
from console.chat.widget import ChatWidget
from console.session import ConsoleSession
from tests.support.console import offline_session
from tests.support.peer import wait_until
from tests.support.samples import T0
from tests.support.samples import chat_message as msg

pytestmark = pytest.mark.gui

HOSTILE = "<img src=x onerror=alert(1)> <b>bold</b> \u202eevil"


# ---------------------------------------------------------------------- the widget


@pytest.fixture
def session(qapp: object, tmp_path: Path) -> Iterator[ConsoleSession]:
    session = offline_session(tmp_path)
    outbox = session.client.outbox
    session.dispatch(
        m.ReportCreated(
            seq=1,
            at=T0,
            report=m.Report(
                report_id="r-1",
                reporter="quiet-heron-42",
                category="missing_person",
                text="x",
                lat=51.5,
                lon=-0.12,
                created_at=T0,
                status="new",
                priority="high",
                claimed_by=None,
                incident_ref=None,
                media=[],
            ),
        )
    )
    yield session
    outbox.close()


def posted(message: m.ChatMessage, seq: int = 10) -> m.ChatPosted:
    return m.ChatPosted(seq=seq, at=message.sent_at, message=message)


def make_chat(qtbot: object, session: ConsoleSession, show: bool = False) -> ChatWidget:
    w = ChatWidget(session)
    qtbot.addWidget(w)  # type: ignore[attr-defined]
    w.resize(700, 500)
    if show:
        w.show()
    return w


def test_enter_queues_a_reply_in_the_outbox_and_shows_it_queued(
    qtbot: object, session: ConsoleSession
) -> None:
    w = make_chat(qtbot, session)
    w.open_conversation("r-1")
    assert w.title.text() == "Missing person · quiet-heron-42"

    qtbot.keyClicks(w.compose, "Stay where you are")  # type: ignore[attr-defined]
    qtbot.keyClick(w.compose, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)  # type: ignore[attr-defined]
    qtbot.keyClicks(w.compose, "we are coming")  # type: ignore[attr-defined]
    assert session.client.outbox.pending() == []  # Shift+Enter is a new line, not a send
    qtbot.keyClick(w.compose, Qt.Key.Key_Return)  # type: ignore[attr-defined]

    (entry,) = session.client.outbox.pending()
    assert isinstance(entry.message, m.OfficerChatSend)
    assert entry.message.report_id == "r-1"
    assert entry.message.text == "Stay where you are\nwe are coming"
    assert w.compose.toPlainText() == ""

    pane = w.panes["r-1"]
    bubble = pane.bubbles[f"queued:{entry.idem}"]
    assert bubble.text_label.text() == "Stay where you are\nwe are coming"
    assert bubble.mark_label.text() == "◷ queued"

    # the relay confirms: the real message replaces the queued bubble
    real = msg("o-1", entry.message.text, sender="officer", author="t", at=time.time())
    session.outbox_changed.emit(entry, m.ChatSent(re="x", message=real))
    assert list(pane.bubbles) == ["o-1"]
    assert pane.bubbles["o-1"].mark_label.text() == "✓"
    # ...and its echo as an event does not add a second bubble
    session.dispatch(posted(real))
    assert list(pane.bubbles) == ["o-1"]


def test_a_refused_reply_shows_the_reason(qtbot: object, session: ConsoleSession) -> None:
    w = make_chat(qtbot, session)
    w.open_conversation("r-1")
    entry = session.submit(m.OfficerChatSend(id="", idem="", report_id="r-1", text="hello"))
    session.outbox_changed.emit(entry, m.Error(code="forbidden", message="the report is closed"))
    bubble = w.panes["r-1"].bubbles[f"queued:{entry.idem}"]
    assert bubble.mark_label.text() == "⚠ refused: the report is closed"


def test_replies_left_in_the_outbox_show_queued_on_start(
    qtbot: object, session: ConsoleSession
) -> None:
    entry = session.submit(m.OfficerChatSend(id="", idem="", report_id="r-1", text="still here"))
    w = make_chat(qtbot, session)
    w.open_conversation("r-1")
    assert w.panes["r-1"].bubbles[f"queued:{entry.idem}"].mark_label.text() == "◷ queued"


def test_a_citizen_message_bumps_unread(qtbot: object, session: ConsoleSession) -> None:
    w = make_chat(qtbot, session, show=True)
    session.dispatch(posted(msg("c-1", "Is anyone coming?", at=T0 + 1)))
    session.dispatch(posted(msg("c-2", "Please hurry", at=T0 + 2), seq=11))
    assert w.unread_count("r-1") == 2
    ((report_id, text, unread),) = w.list_rows()
    assert (report_id, unread) == ("r-1", 2)
    assert text == "Missing person · quiet-heron-42\nPlease hurry"
    # an officer's message does not count
    session.dispatch(posted(msg("o-1", "Yes", sender="officer", author="t", at=T0 + 3), seq=12))
    assert w.unread_count("r-1") == 2


def test_status_changes_update_marks_forward_only(qtbot: object, session: ConsoleSession) -> None:
    w = make_chat(qtbot, session)
    session.dispatch(posted(msg("o-1", "On our way", sender="officer", author="t")))
    w.open_conversation("r-1")
    bubble = w.panes["r-1"].bubbles["o-1"]
    assert bubble.mark_label.text() == "✓"
    session.dispatch(
        m.ChatStatusChanged(seq=11, at=T0, message_id="o-1", report_id="r-1", status="delivered")
    )
    assert bubble.mark_label.text() == "✓✓"
    session.dispatch(
        m.ChatStatusChanged(seq=12, at=T0, message_id="o-1", report_id="r-1", status="read")
    )
    assert bubble.mark_label.text() == "✓✓ read"
    assert "#2f81f7" in bubble.mark_label.styleSheet()
    session.dispatch(
        m.ChatStatusChanged(seq=13, at=T0, message_id="o-1", report_id="r-1", status="delivered")
    )
    assert bubble.mark_label.text() == "✓✓ read"


def test_hostile_text_shows_literally(qtbot: object, session: ConsoleSession) -> None:
    w = make_chat(qtbot, session)
    session.dispatch(posted(msg("c-1", HOSTILE, author=HOSTILE)))
    w.open_conversation("r-1")
    bubble = w.panes["r-1"].bubbles["c-1"]
    assert bubble.text_label.text() == HOSTILE
    assert bubble.meta_label.text().startswith(HOSTILE + " (reporter) · ")
    for label in w.findChildren(QLabel):
        assert label.textFormat() == Qt.TextFormat.PlainText, label.text()[:40]
    assert w.list_rows()[0][1].endswith(HOSTILE)


def test_opening_a_conversation_marks_citizen_messages_read(
    qtbot: object, session: ConsoleSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[object] = []
    monkeypatch.setattr(
        session, "run", lambda request, on_reply, on_error=None: sent.append(request)
    )
    session.dispatch(posted(msg("c-1", at=T0 + 1)))
    session.dispatch(posted(msg("c-2", at=T0 + 2, status="read"), seq=11))
    session.dispatch(posted(msg("o-1", sender="officer", author="t", at=T0 + 3), seq=12))
    w = make_chat(qtbot, session, show=True)
    assert w.unread_count("r-1") == 1
    w.open_conversation("r-1")
    assert len(sent) == 1
    assert isinstance(sent[0], m.OfficerChatRead)
    assert sent[0].message_ids == ["c-1"]
    assert w.unread_count("r-1") == 0
    # a new citizen message in the open, visible conversation is read at once
    session.dispatch(posted(msg("c-3", at=T0 + 4), seq=13))
    assert [r.message_ids for r in sent] == [["c-1"], ["c-3"]]  # type: ignore[attr-defined]


async def test_marking_read_offline_keeps_them_unread(
    qtbot: object, session: ConsoleSession
) -> None:
    session.dispatch(posted(msg("c-1", at=T0 + 1)))
    w = make_chat(qtbot, session, show=True)
    w.open_conversation("r-1")
    assert w.unread_count("r-1") == 0  # optimistic
    # the real request fails (the client never started) and the message is unread again
    await wait_until(
        lambda: w.unread_count("r-1") == 1, 1.0, poll=0.01, tick=QApplication.processEvents
    )
    assert w.unread_count("r-1") == 1
    assert w.notice.isVisibleTo(w)
    assert "Not connected" in w.notice.text()


def test_a_hidden_chat_does_not_mark_read(
    qtbot: object, session: ConsoleSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[object] = []
    monkeypatch.setattr(
        session, "run", lambda request, on_reply, on_error=None: sent.append(request)
    )
    session.dispatch(posted(msg("c-1")))
    w = make_chat(qtbot, session)
    w.open_conversation("r-1")
    assert sent == [] and w.unread_count("r-1") == 1
    w.show()
    assert len(sent) == 1 and w.unread_count("r-1") == 0


def test_picking_a_conversation_in_the_list_opens_it(
    qtbot: object, session: ConsoleSession
) -> None:
    w = make_chat(qtbot, session)
    session.dispatch(posted(msg("c-1", report="r-1", at=T0 + 1)))
    session.dispatch(posted(msg("c-9", report="r-9", at=T0 + 2), seq=11))
    rows = w.list_rows()
    assert [r[0] for r in rows] == ["r-9", "r-1"]
    assert rows[0][1].startswith("Report r-9")
    w.list.setCurrentRow(1)
    qtbot.waitUntil(lambda: w.current == "r-1")  # type: ignore[attr-defined]
    assert w.stack.currentWidget() is w.panes["r-1"]
    assert w.compose.isEnabled()


def test_empty_text_is_not_sent(qtbot: object, session: ConsoleSession) -> None:
    w = make_chat(qtbot, session)
    w.open_conversation("r-1")
    qtbot.keyClicks(w.compose, "   ")  # type: ignore[attr-defined]
    qtbot.keyClick(w.compose, Qt.Key.Key_Return)  # type: ignore[attr-defined]
    assert session.client.outbox.pending() == []


def test_no_conversation_open_is_a_tidy_empty_state(
    qtbot: object, session: ConsoleSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session, "run", lambda request, on_reply, on_error=None: None)
    w = make_chat(qtbot, session, show=True)
    assert not w.list.isVisibleTo(w)  # no empty dark list box
    assert not w.compose.isEnabled() and not w.send_button.isEnabled()
    assert not w.compose_row.isVisibleTo(w)
    assert not w.title.isVisibleTo(w)
    assert w.stack.currentWidget() is w.placeholder
    assert "Select a report" in w.empty_hint.text()
    w.send()  # nothing open: nothing sent
    assert session.client.outbox.pending() == []

    session.dispatch(posted(msg("c-1")))
    assert w.list.isVisibleTo(w)
    assert "Pick a conversation above" in w.empty_hint.text()
    assert not w.compose_row.isVisibleTo(w)  # still none open

    w.open_conversation("r-1")
    assert w.compose_row.isVisibleTo(w) and w.compose.isEnabled()
    assert w.send_button.isEnabled()
    assert w.title.isVisibleTo(w) and w.title.text()


def test_the_search_box_narrows_the_conversations_by_text_or_reporter(
    qtbot: object, session: ConsoleSession
) -> None:
    w = make_chat(qtbot, session, show=True)
    session.dispatch(posted(msg("c-1", "A white van outside", report="r-1", at=T0 + 1)))
    session.dispatch(
        posted(msg("c-9", HOSTILE, report="r-9", author="brave-otter-7", at=T0 + 2), seq=11)
    )
    assert [r[0] for r in w.list_rows()] == ["r-9", "r-1"]
    assert w.search.isVisibleTo(w)
    qtbot.keyClicks(w.search, "WHITE VAN")  # type: ignore[attr-defined]
    assert [r[0] for r in w.list_rows()] == ["r-1"]
    w.search.setText("brave-otter")
    assert [r[0] for r in w.list_rows()] == ["r-9"]
    w.search.setText("<b>bold")  # citizen text is searched as the text it is
    assert [r[0] for r in w.list_rows()] == ["r-9"]
    w.search.setText("nobody said this")
    assert w.list_rows() == [] and "No conversation holds" in w.empty_hint.text()
    session.dispatch(posted(msg("c-2", "nobody said this", report="r-1", at=T0 + 3), seq=12))
    assert [r[0] for r in w.list_rows()] == ["r-1"]  # a new message is searched too
    w.search.clear()
    assert [r[0] for r in w.list_rows()] == ["r-1", "r-9"]


async def test_the_list_folds_away_for_an_open_conversation_and_unfolds_on_demand(
    qtbot: object, session: ConsoleSession
) -> None:
    w = make_chat(qtbot, session, show=True)
    session.dispatch(posted(msg("m1", "hello")))
    assert w.list_box.isVisible() and not w.list_toggle.isVisible()  # nothing open: the list
    w.open_conversation("r-1")
    # the messages get the room: the list folds behind a button that counts conversations
    assert not w.list_box.isVisible()
    assert w.list_toggle.isVisible() and w.list_toggle.text() == "Conversations (1)"
    w.list_toggle.click()
    assert w.list_box.isVisible() and w.list_toggle.arrowType() == Qt.ArrowType.DownArrow
    session.dispatch(posted(msg("m2", "and again")))  # a new message keeps it open
    assert w.list_box.isVisible()
    w.list_toggle.click()
    assert not w.list_box.isVisible()
