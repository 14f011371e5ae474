"""The send preview's and the alert history's words, without Qt (console/alerts/model.py)."""

from __future__ import annotations

import time

import pytest

from backend_client import messages as m
from console.alerts.model import (
    LARGE_REACH,
    area_words,
    categories_words,
    expiry_text,
    history_lines,
    in_words,
    phones,
    preview_lines,
    reach_warning,
)
from tests.support.samples import elm_road_info as info


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (-5, "already past"),
        (20, "in 1 min"),
        (45 * 60, "in 45 min"),
        (2 * 3600 + 30, "in 2 h"),
        (2.5 * 3600, "in 2 h 30 min"),
        (3 * 86400, "in 3 days"),
    ],
)
def test_a_duration_reads_as_a_dispatcher_says_it(seconds, words):
    assert in_words(seconds) == words


def test_the_expiry_is_an_absolute_time_and_how_long_from_now():
    now = time.time()
    text = expiry_text(now + 7200, now)
    assert text.endswith("(in 2 h)")
    assert time.strftime("%H:%M", time.localtime(now + 7200)) in text


def count(n: int, approval: bool = False, fewer_than: int | None = None) -> m.AlertCount:
    return m.AlertCount(re="p", recipients=n, approval_required=approval, fewer_than=fewer_than)


def test_warnings_at_no_phone_and_at_a_large_reach_only():
    assert reach_warning(count(0)) == "This alert will reach no phone now."
    assert "no phone" in (reach_warning(count(0), update=True) or "")
    assert reach_warning(count(12)) is None
    assert reach_warning(count(LARGE_REACH - 1)) is None
    assert reach_warning(count(LARGE_REACH)) == "This will reach 1,000 phones."
    assert reach_warning(count(40, approval=True)) == "This will reach 40 phones."
    # coarsened: "fewer than 5" is not zero, and is no large reach
    assert reach_warning(count(0, fewer_than=5)) is None
    assert phones(0, 5) == "fewer than 5 phones"


def test_categories_read_with_the_shared_labels():
    assert categories_words(["burglary", "vehicle", "missing_person"]) == (
        "Burglary, Vehicle crime, Missing person"
    )


def test_the_area_is_described_once_when_the_officer_kept_the_default():
    own = info(area_desc="Elm Road")
    assert area_words(own).startswith("Elm Road: Polygon, 4 points")
    plain = info(area_desc="")
    assert area_words(plain).startswith("Polygon, 4 points")


def test_the_preview_lists_every_field_in_reading_order():
    now = time.time()
    lines = dict(preview_lines(info(incident_ref="INC-7"), count(5), now))
    assert list(lines) == [
        "Headline",
        "Description",
        "Instruction",
        "Response",
        "Area",
        "Categories",
        "Expires",
        "Status",
        "Incident",
        "Reaches",
        "Approval",
        "Google profile",
    ]
    assert lines["Incident"] == "INC-7" and lines["Reaches"] == "5 phones"
    assert lines["Approval"].startswith("No")
    assert lines["Response"] == "Monitor: keep an eye on news and updates"
    assert dict(preview_lines(info(), None, now))["Reaches"] == "Counting…"


def test_the_preview_shows_each_translation_after_the_first_language():
    now = time.time()
    welsh = m.AlertTranslation(language="cy", headline="Pennawd", instruction="Ffoniwch 101")
    own = info(translations=[welsh], response_type="Avoid", description="Three cars")
    lines = dict(preview_lines(own, None, now))
    assert list(lines)[3:6] == ["Headline (cy)", "Description (cy)", "Instruction (cy)"]
    assert lines["Headline (cy)"] == "Pennawd" and lines["Description (cy)"] == "(none)"
    assert lines["Response"].startswith("Avoid")
    # the Welsh block has no description: Google's profile needs one in every language
    assert lines["Google profile"].startswith("Needed: Add a description (cy): Google")


def test_history_lines_give_time_step_and_officer():
    now = time.time()
    lines = history_lines(
        [
            m.AlertHistoryEntry(action="sent", by="dana", at=now - 60),
            m.AlertHistoryEntry(action="rejected", by="sam", at=now, note="the proposed update"),
            m.AlertHistoryEntry(action="expired", by=None, at=now),
        ],
        now,
    )
    hhmm = time.strftime("%H:%M", time.localtime(now))
    assert lines[1] == f"{hhmm}  Rejected by sam (the proposed update)"
    assert lines[2] == f"{hhmm}  Expired"
    assert lines[0].endswith("Sent by dana")
