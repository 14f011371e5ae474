"""The composer's CAP fields for other systems (issue 14): Response type, the instruction
prompt, a translation into a second language, and Google Public Alerts' profile notes,
through to the queued alert.send and the CAP the relay would write from it.

Same set-up as tests/gui/test_alerts.py: a real ConsoleSession whose client never starts;
actions land in its durable outbox, `session.run` records requests and the test answers.
"""

from __future__ import annotations

import msgspec
import pytest
from PySide6.QtCore import QDateTime, Qt

from backend_client import messages as m
from console.alerts.composer import NO_INSTRUCTION, AlertComposer
from relay import alerts, cap
from tests.gui.test_alerts import CIRCLE, Runs, pending, session
from tests.support.samples import elm_road_alert as alert

pytestmark = pytest.mark.gui
__all__ = ["session"]  # the fixture, shared with test_alerts.py

ISSUER = cap.Issuer("lookout@force.example", "https://alerts.force.example")


def composer(qtbot, session, template: str | None = None) -> AlertComposer:
    dlg = AlertComposer(session, CIRCLE)
    qtbot.addWidget(dlg)
    dlg.show()
    if template is not None:
        dlg.template.setCurrentIndex(dlg.template.findText(template))
    return dlg


def send_from_preview(qtbot, session, dlg: AlertComposer) -> m.AlertSend:
    qtbot.mouseClick(dlg.send_button, Qt.MouseButton.LeftButton)
    preview = dlg.preview
    assert preview is not None and preview.isVisible()
    runs: Runs = session.run  # type: ignore[assignment]
    _, on_reply, _ = runs.calls[-1]
    on_reply(m.AlertCount(re="p", recipients=40, approval_required=False))
    with qtbot.waitSignal(dlg.sent):
        qtbot.mouseClick(preview.send_button, Qt.MouseButton.LeftButton)
    [action] = pending(session)
    assert isinstance(action, m.AlertSend)
    return action


def test_a_welsh_translation_is_previewed_and_sent_as_a_second_info_block(qtbot, session):
    dlg = composer(qtbot, session, "Burglary warning")
    assert dlg.response_type.currentText() == "Prepare"  # from the template
    assert not dlg.translation_box.isVisibleTo(dlg)
    qtbot.mouseClick(dlg.add_translation, Qt.MouseButton.LeftButton)
    assert dlg.translation_box.isVisibleTo(dlg) and not dlg.add_translation.isVisibleTo(dlg)
    assert dlg.translation_language() == "cy"  # Welsh is offered first
    # a translation needs its headline before the alert can go
    qtbot.mouseClick(dlg.send_button, Qt.MouseButton.LeftButton)
    assert "translation's headline" in dlg.problems.text() and dlg.preview is None
    dlg.tr_headline.setText("Lladradau yn eich ardal")
    dlg.tr_description.setPlainText("Sawl lladrad drwy ddrysau cefn.")
    dlg.tr_instruction.setPlainText("Cloiwch ddrysau a ffenestri.")
    dlg.response_type.setCurrentText("Avoid")

    qtbot.mouseClick(dlg.send_button, Qt.MouseButton.LeftButton)
    preview = dlg.preview
    assert preview is not None
    assert preview.values["Headline"].text() == "Burglaries reported in your area"
    assert preview.values["Headline (cy)"].text() == "Lladradau yn eich ardal"
    assert preview.values["Instruction (cy)"].text() == "Cloiwch ddrysau a ffenestri."
    assert preview.values["Headline (cy)"].textFormat() == Qt.TextFormat.PlainText
    assert preview.values["Response"].text().startswith("Avoid")
    assert preview.values["Google profile"].text() == "Meets it"
    preview.reject()
    pending_before = pending(session)
    assert pending_before == []

    action = send_from_preview(qtbot, session, dlg)
    got = action.info
    assert (got.response_type, got.language) == ("Avoid", "en-GB")
    assert got.translations == [
        m.AlertTranslation(
            language="cy",
            headline="Lladradau yn eich ardal",
            description="Sawl lladrad drwy ddrysau cefn.",
            instruction="Cloiwch ddrysau a ffenestri.",
        )
    ]
    # the relay's CAP of exactly this alert: two info blocks, valid, Google's profile met
    sent = m.Alert(
        alert_id="A-1",
        sender="pc.jones",
        sent_at=got.expires_at - 3600,
        msg_type="Alert",
        state="active",
        info=msgspec.convert(msgspec.to_builtins(got), m.AlertInfo),
        recipients=40,
        delivered=0,
        read=0,
    )
    xml = alerts.to_cap(sent, [], ISSUER)
    assert cap.validate_cap(xml) == []
    assert cap.validate_google_profile(xml) == []
    assert xml.count("<info>") == 2 and "<language>cy</language>" in xml


def test_a_typed_language_tag_is_used_and_a_bad_one_or_the_own_language_refused(qtbot, session):
    dlg = composer(qtbot, session, "Fly tipping notice")
    dlg.show_translation(True)
    dlg.tr_headline.setText("Nagłówek")
    for typed, words in (
        ("pl pl", "not a language tag"),
        ("EN-gb", "the alert's own language"),
    ):
        dlg.tr_language.setEditText(typed)
        qtbot.mouseClick(dlg.send_button, Qt.MouseButton.LeftButton)
        assert words in dlg.problems.text()
        assert dlg.preview is None
    dlg.tr_language.setEditText("pl")
    assert dlg.translations()[0].language == "pl"
    # removing the translation clears it: nothing in a second language goes out
    dlg.show_translation(False)
    assert dlg.translations() == [] and dlg.tr_headline.text() == ""


def test_the_composer_prompts_for_an_instruction_and_shows_googles_profile(qtbot, session):
    dlg = composer(qtbot, session)
    dlg.headline.setText("Vehicle crime on Elm Road")
    dlg.set_categories(["vehicle"])
    dlg.expiry.setDateTime(QDateTime.currentDateTime().addSecs(3600))
    # nothing but a headline: the instruction prompt, and Google's error and advice
    assert dlg.instruction_note.isVisibleTo(dlg)
    assert dlg.instruction_note.text() == NO_INSTRUCTION
    assert dlg.instruction_note.textFormat() == Qt.TextFormat.PlainText
    notes = dlg.profile_notes.text()
    assert dlg.profile_notes.isVisibleTo(dlg)
    assert "Needed: Add a description: Google Public Alerts needs one." in notes
    assert "Advised: Add an instruction: say what people should do." in notes

    dlg.description.setPlainText("Two cars broken into overnight on Elm Road.")
    dlg.instruction.setPlainText("Lock your car and take valuables out.")
    assert not dlg.instruction_note.isVisibleTo(dlg)
    assert not dlg.profile_notes.isVisibleTo(dlg)  # the profile is met: no notes
    dlg.urgency.setCurrentText("Unknown")
    assert dlg.profile_notes.text().endswith("Choose the urgency: Unknown is discouraged.")

    # the profile warns, it does not stop a send: the preview carries its verdict
    dlg.description.setPlainText("")
    qtbot.mouseClick(dlg.send_button, Qt.MouseButton.LeftButton)
    assert dlg.preview is not None
    verdict = dlg.preview.values["Google profile"].text()
    assert verdict.startswith("Needed: Add a description")
    action = send_from_preview(qtbot, session, dlg)
    assert action.info.description == "" and action.info.response_type == "Monitor"


def test_an_update_keeps_the_alerts_language_response_and_translation(qtbot, session):
    welsh = m.AlertTranslation(language="cy", headline="Pennawd", description="Disgrifiad")
    original = alert("A-9")
    original = msgspec.structs.replace(
        original,
        info=msgspec.structs.replace(
            original.info, response_type="Shelter", language="en-US", translations=[welsh]
        ),
    )
    dlg = AlertComposer(session, None, editing=original)
    qtbot.addWidget(dlg)
    got = dlg.info()
    assert (got.response_type, got.language, got.translations) == ("Shelter", "en-US", [welsh])
    # the status is the alert's for good (the relay refuses an Update that changes it)
    assert not dlg.cap_status.isEnabled() and got.status == original.info.status
    assert "cancel it and send a new alert" in dlg.cap_status.toolTip()


def test_a_relay_without_a_web_address_is_named_in_the_notes(qtbot, session):
    """The relay says at sign-in whether its CAP has `<web>` (AuthOk.cap_web): without it
    every alert breaks Google's profile, and the composer says why before anything goes."""
    session.client.cap_web = False
    dlg = composer(qtbot, session)
    dlg.headline.setText("Vehicle crime on Elm Road")
    dlg.set_categories(["vehicle"])
    dlg.expiry.setDateTime(QDateTime.currentDateTime().addSecs(3600))
    dlg.description.setPlainText("Two cars broken into overnight on Elm Road.")
    dlg.instruction.setPlainText("Lock your car and take valuables out.")
    assert dlg.profile_notes.isVisibleTo(dlg)
    assert "no web address for alert pages (cap_web_base)" in dlg.profile_notes.text()
    session.client.cap_web = True
    dlg.instruction.setPlainText("Lock your car and take your valuables out.")  # re-checked
    assert not dlg.profile_notes.isVisibleTo(dlg)
