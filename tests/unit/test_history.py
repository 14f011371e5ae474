"""Report history and notes, pure parts: exercise marking, words, the frame budget."""

from __future__ import annotations

from backend_client import codec, rules
from backend_client import messages as m
from relay import history


def _note(text: str = "n", pilot: str | None = None) -> m.Note:
    return m.Note(note_id="N-1", report_id="R-1", author="dana", text=text, at=1.0, pilot_id=pilot)


def test_a_note_on_a_pilots_report_is_exercise_traffic() -> None:
    assert rules.event_pilot(m.ReportNoted(seq=1, at=1.0, note=_note(pilot="preston-2017"))) == (
        "preston-2017"
    )
    assert rules.event_pilot(m.ReportNoted(seq=1, at=1.0, note=_note())) is None


def test_actions_read_in_words_and_unknown_ones_are_not_hidden() -> None:
    assert history.describe("report.status", {"status": "closed", "reason": "Duplicate"}) == (
        "set the status to Closed (reason: Duplicate)"
    )
    assert history.describe("report.link", {"incident": "INC-2026-00001"}) == (
        "linked it to incident INC-2026-00001"
    )
    assert history.describe("report.merge", {"into": "R-2"}) == "merge (into: R-2)"


def test_a_reply_too_big_for_a_frame_leaves_out_the_oldest() -> None:
    text = "\x01" * m.NOTE_MAX_CHARS  # escaped as \u0001: 6 bytes a character
    notes = [_note(text) for _ in range(m.HISTORY_MAX_NOTES)]
    entries = [m.HistoryEntry(float(i), "dana", "report.claim", "x" * 300) for i in range(300)]
    big = m.ReportHistory(re="r", report_id="R-1", entries=entries, notes=notes)
    assert len(codec.encode(big)) > m.HISTORY_MAX_BYTES
    fitted = history.fit(big)
    assert len(codec.encode(fitted)) <= m.HISTORY_MAX_BYTES
    assert fitted.omitted + len(fitted.entries) == 300
    assert fitted.notes_omitted + len(fitted.notes) == m.HISTORY_MAX_NOTES
    assert fitted.entries[-1].at == 299.0  # the newest stay
