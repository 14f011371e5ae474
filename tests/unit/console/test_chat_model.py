"""Chat's Qt-free model: conversations, receipts, queued replies, and how they read."""

from __future__ import annotations

from backend_client import messages as m
from console.chat.model import (
    ChatModel,
    clock,
    conversation_matches,
    conversation_title,
    list_text,
    mark_text,
    meta_text,
)
from tests.support.samples import T0
from tests.support.samples import chat_message as msg

# ---------------------------------------------------------------------- the pure model


def test_messages_are_in_time_order_and_conversations_newest_first() -> None:
    model = ChatModel()
    model.add_message(msg("b", at=T0 + 20))
    model.add_message(msg("a", at=T0 + 10))
    model.add_message(msg("x", report="r-2", at=T0 + 15))
    model.add_message(msg("a", at=T0 + 10))  # replayed: once only
    assert [e.key for e in model.messages("r-1")] == ["a", "b"]
    assert [c.report_id for c in model.conversations()] == ["r-1", "r-2"]
    model.add_message(msg("y", report="r-2", at=T0 + 30))
    assert [c.report_id for c in model.conversations()] == ["r-2", "r-1"]


def test_unread_counts_citizen_messages_not_yet_read() -> None:
    model = ChatModel()
    model.add_message(msg("c1", at=T0 + 1))
    model.add_message(msg("c2", at=T0 + 2, status="delivered"))
    model.add_message(msg("c3", at=T0 + 3, status="read"))
    model.add_message(msg("o1", at=T0 + 4, sender="officer", author="dana"))
    assert model.unread("r-1") == 2
    assert model.unread("nobody") == 0

    ids = model.mark_read_locally("r-1")
    assert ids == ["c1", "c2"]
    assert model.unread("r-1") == 0
    model.unmark_read("r-1", ["c2"])  # the relay was not told about c2
    assert model.unread("r-1") == 1
    assert model.set_status("c2", "r-1", "read")
    assert model.unread("r-1") == 0
    assert model.total_unread() == 0


def test_receipts_move_forward_only() -> None:
    model = ChatModel()
    model.add_message(msg("o1", sender="officer", author="dana"))
    assert model.set_status("o1", "r-1", "read")
    assert not model.set_status("o1", "r-1", "delivered")
    assert not model.set_status("o1", "r-1", "sent")
    assert not model.add_message(msg("o1", sender="officer", author="dana", status="delivered"))
    assert model.messages("r-1")[0].status == "read"
    assert not model.set_status("unknown", "r-1", "read")
    assert not model.set_status("o1", "r-unknown", "read")


def test_a_queued_reply_is_replaced_by_the_confirmed_message() -> None:
    model = ChatModel()
    model.add_message(msg("c1", at=T0))
    model.queue("idem-1", "r-1", "On our way", "dana", T0 + 5)
    assert [(e.key, e.status) for e in model.messages("r-1")] == [
        ("c1", "sent"),
        ("queued:idem-1", "queued"),
    ]
    model.confirm("idem-1", msg("o1", "On our way", sender="officer", author="dana", at=T0 + 6))
    assert [(e.key, e.status) for e in model.messages("r-1")] == [("c1", "sent"), ("o1", "sent")]
    # the relay's own chat.posted for the same reply changes nothing
    assert not model.add_message(
        msg("o1", "On our way", sender="officer", author="dana", at=T0 + 6)
    )
    assert len(model.messages("r-1")) == 2


def test_a_posted_echo_before_confirmation_is_not_shown_twice() -> None:
    model = ChatModel()
    model.queue("idem-1", "r-1", "On our way", "dana", T0)
    model.queue("idem-2", "r-1", "On our way", "sam", T0)  # another officer, same words
    model.add_message(msg("o1", "On our way", sender="officer", author="dana", at=T0 + 1))
    assert [e.key for e in model.messages("r-1")] == ["queued:idem-2", "o1"]
    model.confirm("idem-1", msg("o1", "On our way", sender="officer", author="dana", at=T0 + 1))
    assert [e.key for e in model.messages("r-1")] == ["queued:idem-2", "o1"]


def test_a_refused_reply_stays_with_its_reason() -> None:
    model = ChatModel()
    model.queue("idem-1", "r-1", "hi", "dana", T0)
    assert model.refuse("idem-1", "the report is closed") == "r-1"
    (entry,) = model.messages("r-1")
    assert entry.status == "refused"
    assert mark_text(entry) == "⚠ refused: the report is closed"
    assert model.refuse("idem-unknown", "x") is None


def test_marks() -> None:
    model = ChatModel()
    model.add_message(msg("o1", sender="officer", author="dana"))
    model.add_message(msg("c1"))
    officer, citizen = model.messages("r-1")
    assert mark_text(officer) == "✓"
    assert mark_text(citizen) == ""
    model.set_status("o1", "r-1", "delivered")
    assert mark_text(model.messages("r-1")[0]) == "✓✓"
    model.set_status("o1", "r-1", "read")
    assert mark_text(model.messages("r-1")[0]) == "✓✓ read"


# ---------------------------------------------------------------------- how it reads


def report(category: str = "missing_person") -> m.Report:
    return m.Report(
        report_id="r-1234567890",
        reporter="quiet-heron-42",
        category=category,  # type: ignore[arg-type]
        text="x",
        lat=51.5,
        lon=-0.12,
        created_at=T0,
        status="new",
        priority="high",
        claimed_by=None,
        incident_ref=None,
        media=[],
    )


def test_a_conversation_is_titled_with_the_shared_category_label() -> None:
    assert conversation_title("r-1", report()) == "Missing person · quiet-heron-42"
    assert conversation_title("r-1", report("antisocial")) == ("Anti-social · quiet-heron-42")
    assert conversation_title("r-1", report("fly_tipping")).startswith("Fly-tipping · ")
    # a report the console has not seen yet is named by its id
    assert conversation_title("r-1234567890", None) == "Report r-123456"


def test_times_show_the_day_only_when_it_is_not_today() -> None:
    assert clock(T0, now=T0 + 60) == clock(T0, now=T0)  # same day: time only
    assert len(clock(T0, now=T0)) == 5  # "HH:MM"
    assert clock(T0, now=T0 + 3 * 86400).endswith(clock(T0, now=T0))
    assert len(clock(T0, now=T0 + 3 * 86400)) > 5  # another day: "DD Mon HH:MM"


def test_meta_marks_the_reporter_and_list_rows_show_the_last_message() -> None:
    model = ChatModel()
    model.add_message(msg("c1", "first", at=T0))
    model.add_message(msg("o1", "On  our\nway", sender="officer", author="dana", at=T0 + 1))
    citizen, officer = model.messages("r-1")
    assert meta_text(citizen, now=T0).startswith("quiet-heron-42 (reporter) · ")
    assert meta_text(officer, now=T0).startswith("dana · ")
    model.set_title("r-1", "Burglary · quiet-heron-42")
    assert list_text(model.conversation("r-1")) == "Burglary · quiet-heron-42\nOn our way"
    empty = model.conversation("r-2")
    assert list_text(empty) == "r-2\nNo messages yet"


def test_a_search_finds_conversations_by_message_text_or_reporter_case_blind() -> None:
    model = ChatModel()
    model.add_message(msg("c1", "A white VAN parked outside", report="r-1"))
    model.add_message(msg("c2", "Nothing here", report="r-2", author="brave-otter-7"))
    model.set_title("r-2", "Burglary · brave-otter-7")
    one, two = model.conversation("r-1"), model.conversation("r-2")
    assert conversation_matches(one, "white  van") and not conversation_matches(two, "van")
    assert conversation_matches(two, "BRAVE-otter") and not conversation_matches(one, "otter")
    assert conversation_matches(one, "quiet-heron")  # a citizen's author is the pseudonym
    assert conversation_matches(one, "  ") and conversation_matches(two, "")
    assert not conversation_matches(one, "<b>van</b>")  # compared as text, nothing else
