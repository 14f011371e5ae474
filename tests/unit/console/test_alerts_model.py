"""The alerts feature's Qt-free parts: the book of alerts, the two-person rule as the
console reads it from the shared rules, and the shipped templates."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import pytest

from backend_client import messages as m
from backend_client import rules
from console.alerts.model import (
    AlertBook,
    can_approve,
    can_cancel,
    can_update,
    fraction,
    refusal_text,
    when,
)
from console.alerts.templates import CAP_RESPONSE_TYPES, TemplateError, load_templates
from tests.support.samples import elm_road_alert as alert
from tests.support.samples import elm_road_info as info

ROOT = Path(__file__).resolve().parents[3]


# ------------------------------------------------------------------ templates


def test_shipped_templates_load_and_are_usable() -> None:
    templates = load_templates()
    assert len(templates) >= 8
    names = {t.name for t in templates}
    assert {"Burglary warning", "Missing person appeal", "Fly tipping notice"} <= names
    for t in templates:
        assert t.headline and len(t.headline) <= 200
        assert t.categories and set(t.categories) <= set(m.CATEGORIES)
        assert 0 < t.expiry_hours <= 720
        # every template makes a valid AlertInfo on the wire
        msgspec.convert(
            msgspec.to_builtins(
                info(
                    headline=t.headline,
                    description=t.description,
                    instruction=t.instruction,
                    event=t.event,
                    cap_category=t.cap_category,
                    urgency=t.urgency,
                    severity=t.severity,
                    certainty=t.certainty,
                    categories=list(t.categories),
                )
            ),
            m.AlertInfo,
        )


def test_templates_carry_response_type_and_translations() -> None:
    """`response_type` is optional (Monitor when absent); `[[translations]]` tables become
    the wire's translations, so the Welsh wording goes out as a second CAP `info` block."""
    by_key = {t.key: t for t in load_templates()}
    assert by_key["burglary_warning"].response_type == "Prepare"
    assert by_key["fly_tipping"].response_type == "Monitor"
    assert by_key["fly_tipping"].translations == ()
    (welsh,) = by_key["vehicle_crime"].translations
    assert welsh.language == "cy" and welsh.headline.startswith("Lladradau")
    assert welsh.instruction.endswith("nawr.")
    assert all(t.response_type in CAP_RESPONSE_TYPES for t in by_key.values())


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('response_type = "Run"', "response_type is 'Run'; it must be one of Shelter"),
        ('[[translations]]\nlanguage = "cy cy"\nheadline = "h"', "translation is not usable"),
        ('[[translations]]\nlanguage = "cy"\nheadline = " "', "cy translation has no headline"),
        ('[[translations]]\nlanguage = "cy"\nheadline = "h"\ncolour = 1', "field(s) colour"),
        ('[[translations]]\nlanguage = "EN-gb"\nheadline = "h"', "EN-gb is given twice"),
        (
            '[[translations]]\nlanguage = "cy"\nheadline = "h"\n'
            '[[translations]]\nlanguage = "cy"\nheadline = "i"',
            "cy is given twice",
        ),
    ],
)
def test_a_bad_response_type_or_translation_is_a_clear_error(
    tmp_path: Path, text: str, words: str
) -> None:
    good = (ROOT / "resources/templates/fly_tipping.toml").read_text()
    (tmp_path / "broken.toml").write_text(good + "\n" + text + "\n")
    with pytest.raises(TemplateError) as err:
        load_templates(tmp_path)
    assert "broken.toml" in str(err.value)
    assert words in str(err.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('name = "x"\nheadline = "h"', "missing field"),
        ("name = ", "not valid TOML"),
        ('urgency = "Soon"', "urgency is 'Soon'; it must be one of Immediate"),
        ('categories = ["burglary", "ufo"]', "unknown category ufo"),
        ("expiry_hours = 0", "expiry_hours is 0"),
        ('colour = "red"', "unknown field(s) colour"),
    ],
)
def test_a_bad_template_is_a_clear_error_naming_file_and_field(
    tmp_path: Path, text: str, words: str
) -> None:
    good = (ROOT / "resources/templates/burglary_warning.toml").read_text()
    key = text.split("=")[0].strip()
    if "missing field" in words or "TOML" in words:
        body = text
    else:  # replace one field of a good template
        lines = [ln for ln in good.splitlines() if not ln.startswith(f"{key} =")]
        body = "\n".join(lines) + "\n" + text + "\n"
    (tmp_path / "broken.toml").write_text(body)
    with pytest.raises(TemplateError) as err:
        load_templates(tmp_path)
    assert "broken.toml" in str(err.value)
    assert words in str(err.value)


# ------------------------------------------------------------------ the book and the rules


def test_model_progress_and_order() -> None:
    book = AlertBook()
    now = time.time()
    book.upsert(alert("old", sent_at=now - 600))
    book.upsert(alert("new", sent_at=now - 10, recipients=40, delivered=10, read=4))
    assert [r.alert_id for r in book.rows()] == ["new", "old"]
    row = book.rows()[0]
    assert row.delivered_fraction == 0.25 and row.read_fraction == 0.1
    assert fraction(5, 0) == 0.0 and fraction(7, 5) == 1.0
    # counts climbing do not move the row
    assert book.upsert(alert("old", sent_at=now, delivered=3)) == (1, False)
    # past its expiry, an active alert is shown as expired
    book.upsert(alert("gone", sent_at=now - 900, info=info(expires_at=now - 1)))
    assert book.rows()[2].state == "expired"


@pytest.mark.parametrize("role", rules.ROLES)
def test_approval_follows_the_shared_two_person_rule(role: str) -> None:
    pending = alert(state="pending_approval", sender="dana")
    assert can_approve(pending, role, "sam") == rules.supervises(role)
    assert can_approve(pending, role, "dana") is False  # never the sender, whatever the role
    assert can_approve(alert(state="active"), role, "sam") is False


def test_update_and_cancel_follow_the_shown_state() -> None:
    now = time.time()
    live, gone = alert(), alert(info=info(expires_at=now - 1))
    waiting = alert(state="pending_approval")
    assert can_update(live, now) and can_cancel(live, now)
    assert not can_update(gone, now) and not can_cancel(gone, now)
    assert not can_update(waiting, now) and can_cancel(waiting, now)


def test_a_refusal_says_what_was_refused_and_why_in_plain_words() -> None:
    error = m.Error(code="forbidden", message="role dispatcher may not approve")
    text = refusal_text("alert.approve", error)
    assert text.startswith("The approval was refused. You are not allowed to do that")
    # an unknown code falls back to the relay's own message
    odd = m.Error(code="teapot", message="the relay is a teapot")
    assert refusal_text("alert.frobnicate", odd) == (
        "The action was refused. the relay is a teapot"
    )


def test_times_in_the_list_show_the_day_only_when_not_today() -> None:
    now = time.mktime((2026, 3, 14, 15, 0, 0, 0, 0, -1))
    assert when(now - 3600, now) == "14:00"
    assert when(now - 2 * 86400, now) == "12 Mar 15:00"
    assert when(now - 10 * 86400, now) == "4 Mar 15:00"  # no leading zero on the day


def test_a_small_count_is_shown_as_fewer_than_k() -> None:
    from console.alerts.model import reach_text

    low = m.AlertCount(re="p1", recipients=0, approval_required=False, fewer_than=5)
    assert reach_text(low) == "Reaches fewer than 5 phones"
    one = m.AlertCount(re="p2", recipients=1, approval_required=False)
    assert reach_text(one) == "Reaches 1 phone"
    many = m.AlertCount(re="p3", recipients=312, approval_required=True)
    assert reach_text(many) == "Reaches 312 phones"


def test_review_lines_and_readiness() -> None:
    from console.alerts.model import approval_waiting_text, ready_to_approve, review_lines

    a = alert(state="pending_approval", sender="dana", recipients=1)
    lines = dict(review_lines(a, time.time()))
    assert lines["Headline"] == "Burglaries on Elm Road"
    assert lines["Description"] == "(none)"
    assert lines["Reaches"] == "1 phone"
    assert lines["Area"].startswith("Elm Road: Polygon")
    assert lines["Sent by"] == "dana"
    assert not ready_to_approve(a, "supervisor", "sam", set())
    assert ready_to_approve(a, "supervisor", "sam", {a.alert_id})
    assert not ready_to_approve(a, "supervisor", "dana", {a.alert_id})
    assert "dana" in approval_waiting_text(a)


def test_the_emails_cell_and_its_tooltip_count_late_bounces_as_failures() -> None:
    import dataclasses

    from console.alerts.model import AlertRow, emails_text, emails_tooltip

    row = AlertRow.of(alert(), time.time())
    # two queued; both accepted, then one bounced later (a DSN): 1 sent, 1 failed
    late = dataclasses.replace(row, emails=2, emails_sent=1, emails_failed=1)
    assert "1" in emails_text(late)
    tip = emails_tooltip(late)
    assert tip.startswith("1 of 2 emails accepted by the mail server and not bounced since")
    assert "bounced at once or later" in tip
    none = dataclasses.replace(row, emails=0)
    assert emails_text(none) == "–" and emails_tooltip(none).startswith("No emails")


def test_an_alerts_cap_messages_are_offered_newest_first() -> None:
    from console.alerts.model import message_choices

    got = message_choices(["A-1", "A-1.1", "A-1.2"])
    assert list(got.values()) == ["A-1.2", "A-1.1", "A-1"]
    assert list(got) == [
        "A-1.2: the current message",
        "A-1.1: an earlier message",
        "A-1: the original Alert",
    ]
    assert message_choices(["A-1"]) == {"A-1: the current message": "A-1"}
