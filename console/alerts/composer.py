"""The alert composer: opened from an area drawn on the map (or an alert to update), docked
beside the map in the main window (a dialog elsewhere).

It fills CAP 1.2 fields from a template, shows live how many phones the alert would reach
(`alert.preview` answers with a number only, debounced while categories are ticked), checks
what it can, then shows the send preview (`console.alerts.preview`): only the preview's
Send hands the alert to the session's durable outbox. Whether
the alert needs a supervisor's approval is decided by the relay; the dialog only says so.

An `Exercise` alert belongs to a pilot (docs/protocol.md 5.9): choosing that status shows a
Pilot choice, filled from `pilot.list` with the pilots running now; the chosen pilot goes
into the alert and into the reach preview (its participants only, never email).

CAP that other systems accept (issue 14): a Response type (CAP `responseType`, from the
template), an instruction prompted for, and "Add translation" for the same alert in a
second language (Welsh by default), sent as a second CAP `info` block. What the Google
Public Alerts profile would say of the alert (`backend_client.cap_profile`) is shown as
the officer writes, and again in the send preview; it warns, it does not stop a send.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

import msgspec
from PySide6.QtCore import QDateTime, QEvent, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import Shiboken

from backend_client import cap_profile, limits, rules
from backend_client import messages as m
from backend_client.cache import Incident
from backend_client.outbox import OutboxEntry
from console.alerts.area import describe_area, distinct_points
from console.alerts.model import email_reach_text, reach_text
from console.alerts.preview import SendPreview
from console.alerts.templates import (
    CAP_CATEGORIES,
    CAP_CERTAINTIES,
    CAP_RESPONSE_TYPES,
    CAP_SEVERITIES,
    CAP_URGENCIES,
    AlertTemplate,
    TemplateError,
    load_templates,
)
from console.common.exercise import pilot_words
from console.common.labels import plain_label
from console.session import ConsoleSession
from console.theme import current

DEFAULT_CONTACT = "Call 101, quote the incident number"
DEFAULT_EVENT = "Community alert"
DEFAULT_EXPIRY_HOURS = 24
CAP_STATUSES = ("Actual", "Exercise", "Test")
#: an alert must stay current at least this long after it is sent
MIN_LIFETIME_S = 60
_PLACEHOLDER = re.compile(r"\[(Describe|Add|Insert)[^\]]*\]")
#: the composer's own language (the first CAP `info` block)
LANGUAGE = "en-GB"
#: languages offered for a translation, tag and name; any other RFC 5646 tag can be typed
TRANSLATION_LANGUAGES = (("cy", "Welsh (Cymraeg)"), ("gd", "Scottish Gaelic (Gàidhlig)"))
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")
NO_INSTRUCTION = (
    "No instruction yet: say what people should do (Google Public Alerts strongly advises one)."
)


def _caption(text: str = "") -> QLabel:
    """A plain-text label that keeps its text's width and is not selectable."""
    return plain_label(text, selectable=False, wrap=False, shrink=False)


class AlertComposer(QDialog):
    """`AlertComposer(session, area)` for a new alert; `editing=alert` for a CAP Update."""

    sent = Signal(object)  # OutboxEntry of the queued alert.send / alert.update
    show_area = Signal(object)  # a draft m.Alert: the preview puts its area on the main map
    hide_area = Signal(str)  # the preview closed: the map drops that area (by its id)
    draft_cancelled = Signal()  # a new alert given up (Cancel): drawn draft shapes can go

    def __init__(
        self,
        session: ConsoleSession,
        area: m.Area | None,
        parent: QWidget | None = None,
        *,
        editing: m.Alert | None = None,
        templates: Sequence[AlertTemplate] | None = None,
        debounce_ms: int = 300,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.area: m.Area | None = editing.info.area if editing is not None else area
        self.editing = editing
        self.last_count: m.AlertCount | None = None
        self.preview: SendPreview | None = None  # open while the officer checks a send
        self._generation = 0
        template_error = ""
        if templates is None:
            try:
                templates = load_templates()
            except TemplateError as exc:
                templates, template_error = [], str(exc)
        self.templates = list(templates)
        #: the language of the headline, description and instruction (an update keeps its own)
        self.language = LANGUAGE
        self.setWindowTitle("Update alert" if editing else "New alert")
        self.setMinimumWidth(820)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(debounce_ms)
        self._debounce.timeout.connect(self.request_count)

        self._build(template_error)
        if editing is not None:
            self._prefill(editing)
        else:
            self._set_expiry_hours(DEFAULT_EXPIRY_HOURS)
        self.headline.setFocus()
        self._schedule_count()

    # ------------------------------------------------------------ layout

    def _build(self, template_error: str) -> None:
        root = QVBoxLayout(self)

        top = QHBoxLayout()
        top.addWidget(_caption("Template"))
        self.template = QComboBox()
        self.template.addItem("(none: start blank)", None)
        for t in self.templates:
            self.template.addItem(t.name, t.key)
        self.template.currentIndexChanged.connect(self._template_chosen)
        top.addWidget(self.template, 1)
        root.addLayout(top)
        if template_error:
            root.addWidget(_caption(f"Templates are unavailable: {template_error}"))

        #: side by side in a dialog; stacked when docked in a narrow pane (`set_compact`)
        self.body = body = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        root.addLayout(body, 1)
        self.form = form = QFormLayout()
        body.addLayout(form, 3)

        self.headline = QLineEdit()
        self.headline.setMaxLength(limits.MAX_SHORT_CHARS)
        self.headline.setPlaceholderText("What is happening, in a few words (required)")
        self.headline_count = _caption()
        self.headline.textChanged.connect(self._headline_changed)
        row = QHBoxLayout()
        row.addWidget(self.headline, 1)
        row.addWidget(self.headline_count)
        form.addRow("Headline", row)

        self.event_edit = QLineEdit(DEFAULT_EVENT)
        self.event_edit.setMaxLength(limits.MAX_SHORT_CHARS)
        form.addRow("Event", self.event_edit)
        self.description = QPlainTextEdit()
        self.description.setPlaceholderText("What happened and where (no names of victims)")
        self.description.setTabChangesFocus(True)
        form.addRow("Description", self.description)
        self.instruction = QPlainTextEdit()
        self.instruction.setPlaceholderText(
            "What people should do, e.g. lock doors and windows, call 101 (strongly advised)"
        )
        self.instruction.setTabChangesFocus(True)
        form.addRow("Instruction", self.instruction)
        #: the prompt while the instruction is empty
        self.instruction_note = _caption(NO_INSTRUCTION)
        self.instruction_note.setWordWrap(True)
        form.addRow(self.instruction_note)
        self._build_translation(form)
        self.contact = QLineEdit(DEFAULT_CONTACT)
        self.contact.setMaxLength(limits.MAX_SHORT_CHARS)
        form.addRow("Contact", self.contact)
        # known incidents to pick from (the session's cache), or any reference typed in
        self.incident = QComboBox()
        self.incident.setEditable(True)
        self.incident.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.incident.addItem("", None)
        for inc in self._known_incidents():
            self.incident.addItem(f"{inc.incident_ref} — {inc.title}", inc.incident_ref)
        self.incident.activated.connect(self._incident_picked)
        line = self.incident.lineEdit()
        assert line is not None
        self.incident_ref: QLineEdit = line
        self.incident_ref.setMaxLength(limits.MAX_SHORT_CHARS)
        self.incident_ref.setPlaceholderText("e.g. INC-2026-000017 (optional)")
        form.addRow("Incident", self.incident)
        self.expiry = QDateTimeEdit()
        self.expiry.setCalendarPopup(True)
        self.expiry.setDisplayFormat("ddd d MMM yyyy HH:mm")
        form.addRow("Expires", self.expiry)
        self.area_desc = QLineEdit(describe_area(self.area) if self.area is not None else "")
        self.area_desc.setMaxLength(limits.MAX_SHORT_CHARS)
        self.area_desc.setPlaceholderText("Draw the alert's area on the map")
        form.addRow("Area", self.area_desc)

        cap = QGridLayout()
        self.cap_category = self._combo(CAP_CATEGORIES, "Security")
        self.urgency = self._combo(CAP_URGENCIES, "Expected")
        self.severity = self._combo(CAP_SEVERITIES, "Moderate")
        self.certainty = self._combo(CAP_CERTAINTIES, "Likely")
        self.cap_status = self._combo(CAP_STATUSES, "Actual")
        self.response_type = self._combo(CAP_RESPONSE_TYPES, "Monitor")
        self.response_type.setToolTip("CAP responseType: what the alert asks people to do")
        for i, (name, combo) in enumerate(
            [
                ("Category", self.cap_category),
                ("Urgency", self.urgency),
                ("Severity", self.severity),
                ("Certainty", self.certainty),
                ("Status", self.cap_status),
                ("Response", self.response_type),
            ]
        ):  # two a row, so the composer fits a pane beside the map (300 px at 1280)
            row_, col = divmod(i, 2)
            cap.addWidget(_caption(name), 2 * row_, col)
            cap.addWidget(combo, 2 * row_ + 1, col)
        form.addRow("CAP", cap)
        #: an Exercise alert's pilot (shown only with status Exercise)
        self.pilot = QComboBox()
        self.pilot.addItem("Choose the pilot this exercise belongs to", None)
        self.pilot.currentIndexChanged.connect(self._pilot_chosen)
        self.pilot_note = _caption()
        self.pilot_row = QWidget()
        pilot_row = QHBoxLayout(self.pilot_row)
        pilot_row.setContentsMargins(0, 0, 0, 0)
        pilot_row.addWidget(self.pilot, 1)
        pilot_row.addWidget(self.pilot_note)
        self.pilot_row.setVisible(False)
        form.addRow(self.pilot_row)
        self._pilots_asked = False
        self.cap_status.currentTextChanged.connect(self._status_chosen)

        side = QVBoxLayout()
        body.addLayout(side, 2)
        side.addWidget(_caption("Send to phones that asked for"))
        self.categories = QListWidget()
        for cat in rules.CATEGORIES:
            item = QListWidgetItem(rules.category_label(cat))
            item.setData(Qt.ItemDataRole.UserRole, cat)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.categories.addItem(item)
        self.categories.itemChanged.connect(lambda _item: self._schedule_count())
        side.addWidget(self.categories, 1)
        self.reach = plain_label(selectable=False, shrink=False)
        font = self.reach.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.reach.setFont(font)
        side.addWidget(self.reach)
        #: the preview's email subscribers, counted apart from phones ("email alerts off")
        self.reach_email = plain_label(selectable=False, shrink=False)
        side.addWidget(self.reach_email)
        self.approval = plain_label(
            "A supervisor must approve (two-person rule)", selectable=False, shrink=False
        )
        self.approval.setVisible(False)
        side.addWidget(self.approval)

        #: what Google Public Alerts' profile would say, kept current while writing
        self.profile_notes = plain_label(selectable=False, shrink=False)
        self.profile_notes.setVisible(False)
        root.addWidget(self.profile_notes)
        self.problems = plain_label(selectable=False, shrink=False)
        self.problems.setVisible(False)
        root.addWidget(self.problems)

        buttons = QDialogButtonBox()
        self.send_button = QPushButton("Review update…" if self.editing else "Review and send…")
        self.send_button.setToolTip("Shows the alert as it will go out, and whom it reaches")
        self.send_button.setDefault(True)
        buttons.addButton(self.send_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.send_button.clicked.connect(self.review)
        buttons.rejected.connect(self.reject)
        root.addWidget(buttons)
        self._headline_changed(self.headline.text())
        for edit in (self.headline, self.contact, self.tr_headline):
            edit.textChanged.connect(self._refresh_profile)
        for text in (self.description, self.instruction, self.tr_description, self.tr_instruction):
            text.textChanged.connect(self._refresh_profile)
        for combo in (self.urgency, self.severity, self.certainty, self.cap_status):
            combo.currentTextChanged.connect(self._refresh_profile)
        self.tr_language.currentTextChanged.connect(self._refresh_profile)
        self.expiry.dateTimeChanged.connect(self._refresh_profile)
        self._refresh_profile()
        self._restyle()

    def _build_translation(self, form: QFormLayout) -> None:
        """The second language: hidden until "Add translation", removed by "Remove"."""
        self.add_translation = QPushButton("Add translation…")
        self.add_translation.setToolTip(
            "Write the alert in a second language too (sent as a second CAP info block)"
        )
        self.add_translation.clicked.connect(lambda: self.show_translation(True))
        form.addRow("", self.add_translation)
        self.translation_box = QWidget()
        box = QFormLayout(self.translation_box)
        box.setContentsMargins(0, 0, 0, 0)
        self.tr_language = QComboBox()
        self.tr_language.setEditable(True)
        self.tr_language.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        for tag, name in TRANSLATION_LANGUAGES:
            self.tr_language.addItem(f"{tag} — {name}", tag)
        self.tr_language.setToolTip("Pick a language or type its tag, e.g. cy, gd, pl, ur")
        # wide enough for "cy — Welsh (Cymraeg)", read from its start (the tag) when picked
        self.tr_language.setMinimumContentsLength(20)
        self.tr_language.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.tr_language.currentIndexChanged.connect(self._language_from_start)
        remove = QPushButton("Remove")
        remove.setToolTip("Remove the translation")
        remove.clicked.connect(lambda: self.show_translation(False))
        line = QHBoxLayout()
        line.addWidget(self.tr_language, 1)
        line.addWidget(remove)
        box.addRow("Language", line)
        self.tr_headline = QLineEdit()
        self.tr_headline.setMaxLength(limits.MAX_SHORT_CHARS)
        self.tr_headline.setPlaceholderText("The headline in that language (required)")
        box.addRow("Headline", self.tr_headline)
        self.tr_description = QPlainTextEdit()
        self.tr_description.setTabChangesFocus(True)
        self.tr_description.setPlaceholderText("The description in that language")
        box.addRow("Description", self.tr_description)
        self.tr_instruction = QPlainTextEdit()
        self.tr_instruction.setTabChangesFocus(True)
        self.tr_instruction.setPlaceholderText("The instruction in that language")
        box.addRow("Instruction", self.tr_instruction)
        self.translation_box.setVisible(False)
        form.addRow(self.translation_box)

    def _language_from_start(self, *_: object) -> None:
        edit = self.tr_language.lineEdit()
        if edit is not None:  # editable: read from the tag, not the end of the name
            edit.setCursorPosition(0)

    def show_translation(self, shown: bool) -> None:
        """Add (show) or remove the translation; removing clears its words."""
        self.translation_box.setVisible(shown)
        self.add_translation.setVisible(not shown)
        if not shown:
            self.set_translation(None)
        else:
            self._language_from_start()
            self.tr_headline.setFocus()
        self._refresh_profile()

    def set_translation(self, t: m.AlertTranslation | None) -> None:
        if t is None:
            self.tr_language.setCurrentIndex(0)
            for text in (self.tr_description, self.tr_instruction):
                text.clear()
            self.tr_headline.clear()
            return
        index = self.tr_language.findData(t.language)
        if index >= 0:
            self.tr_language.setCurrentIndex(index)
        else:
            self.tr_language.setEditText(t.language)
        self.tr_headline.setText(t.headline)
        self.tr_description.setPlainText(t.description)
        self.tr_instruction.setPlainText(t.instruction)
        self.translation_box.setVisible(True)
        self.add_translation.setVisible(False)

    def translation_language(self) -> str:
        """The tag of the translation's language (the picked item's, or the typed text)."""
        text = self.tr_language.currentText().strip()
        index = self.tr_language.currentIndex()
        if index >= 0 and text == self.tr_language.itemText(index):
            return str(self.tr_language.itemData(index))
        return text

    def translations(self) -> list[m.AlertTranslation]:
        if not self.translation_box.isVisibleTo(self):
            return []
        return [
            m.AlertTranslation(
                language=self.translation_language(),
                headline=self.tr_headline.text().strip(),
                description=self.tr_description.toPlainText().strip(),
                instruction=self.tr_instruction.toPlainText().strip(),
            )
        ]

    def _refresh_profile(self, *_: object) -> None:
        """The instruction prompt and Google's profile notes, as the officer writes."""
        self.instruction_note.setVisible(not self.instruction.toPlainText().strip())
        if self.area is None:
            self.profile_notes.setVisible(False)
            return
        problems = cap_profile.check(self.info(), web=self.session.client.cap_web)
        words = cap_profile.summary(problems)
        self.profile_notes.setText(f"Google Public Alerts profile:\n{words}" if words else "")
        self.profile_notes.setVisible(bool(words))

    def _known_incidents(self) -> list[Incident]:
        cache = self.session.cache
        if cache is None:
            return []
        found: list[Incident] = cache.incidents()
        return found[:200]  # newest first; any other reference can be typed

    def _incident_picked(self, index: int) -> None:
        ref = self.incident.itemData(index)
        if ref:
            self.incident_ref.setText(str(ref))

    def set_incident(self, incident_ref: str) -> None:
        """Fill in the incident reference (an alert composed for an incident)."""
        self.incident_ref.setText(incident_ref)

    def set_compact(self, compact: bool) -> None:
        """Stack the form above the categories, for a narrow pane beside the map; choices
        then narrow to a few letters rather than widen the pane past the map's edge."""
        self.body.setDirection(
            QBoxLayout.Direction.TopToBottom if compact else QBoxLayout.Direction.LeftToRight
        )
        self.setMinimumWidth(0 if compact else 820)
        self.form.setRowWrapPolicy(  # captions above their fields: the fields get the width
            QFormLayout.RowWrapPolicy.WrapAllRows
            if compact
            else QFormLayout.RowWrapPolicy.DontWrapRows
        )
        policy = (
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            if compact
            else QComboBox.SizeAdjustPolicy.AdjustToContentsOnFirstShow
        )
        for combo in self.findChildren(QComboBox):
            combo.setMinimumContentsLength(6)
            combo.setSizeAdjustPolicy(policy)

    def set_area(self, area: m.Area) -> None:
        """A (new) area drawn on the map for this draft: counted again, text kept."""
        if self.editing is not None:
            return
        previous = describe_area(self.area) if self.area is not None else ""
        self.area = area
        if self.area_desc.text().strip() in ("", previous):
            self.area_desc.setText(describe_area(area))
        self._schedule_count()

    # ------------------------------------------------------------ theme

    def _restyle(self) -> None:
        """Colours from the current theme; re-set only when they change (a style sheet
        re-polishes its widget)."""
        c = current()
        sheets = {
            # the dark palette hides unchecked indicators
            self.categories: (
                f"QListWidget::indicator {{ width: 12px; height: 12px;"
                f" border: 1px solid {c['muted']}; border-radius: 2px; }}"
                f" QListWidget::indicator:checked {{ background: {c['highlight']};"
                f" border-color: {c['highlight']}; }}"
            ),
            self.approval: f"color: {c['warning']};",
            self.problems: f"color: {c['danger']};",
        }
        for widget, sheet in sheets.items():
            if widget.styleSheet() != sheet:
                widget.setStyleSheet(sheet)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "send_button"):
            self._restyle()  # the theme was switched
        super().changeEvent(event)

    @staticmethod
    def _combo(choices: Sequence[str], default: str) -> QComboBox:
        combo = QComboBox()
        combo.addItems(list(choices))
        combo.setCurrentText(default)
        return combo

    # ------------------------------------------------------------ filling in

    def _headline_changed(self, text: str) -> None:
        self.headline_count.setText(f"{len(text)}/{limits.MAX_SHORT_CHARS}")

    def _set_expiry_hours(self, hours: float) -> None:
        self.expiry.setDateTime(QDateTime.currentDateTime().addSecs(int(hours * 3600)))

    def _template_chosen(self, index: int) -> None:
        key = self.template.itemData(index)
        for t in self.templates:
            if t.key == key:
                self.apply_template(t)

    def apply_template(self, t: AlertTemplate) -> None:
        """Fill the wording, CAP codes, categories and expiry; keep area, contact, incident."""
        self.headline.setText(t.headline)
        self.event_edit.setText(t.event)
        self.description.setPlainText(t.description)
        self.instruction.setPlainText(t.instruction)
        self.cap_category.setCurrentText(t.cap_category)
        self.urgency.setCurrentText(t.urgency)
        self.severity.setCurrentText(t.severity)
        self.certainty.setCurrentText(t.certainty)
        self.response_type.setCurrentText(t.response_type)
        self.set_categories(t.categories)
        self._set_expiry_hours(t.expiry_hours)
        self.set_translation(t.translations[0] if t.translations else None)
        if not t.translations:
            self.show_translation(False)

    def _prefill(self, alert: m.Alert) -> None:
        info = alert.info
        self.headline.setText(info.headline)
        self.event_edit.setText(info.event)
        self.description.setPlainText(info.description)
        self.instruction.setPlainText(info.instruction)
        self.contact.setText(info.contact)
        self.incident_ref.setText(info.incident_ref or "")
        self.area_desc.setText(info.area_desc)
        self.cap_category.setCurrentText(info.cap_category)
        self.urgency.setCurrentText(info.urgency)
        self.severity.setCurrentText(info.severity)
        self.certainty.setCurrentText(info.certainty)
        self.response_type.setCurrentText(info.response_type)
        self.language = info.language
        if info.translations:
            self.set_translation(info.translations[0])
        if info.pilot_id is not None:
            self.pilot.addItem(info.pilot_id, info.pilot_id)
            self.pilot.setCurrentIndex(self.pilot.count() - 1)
        # an update cannot move an alert into or out of a pilot: no other pilot to offer
        self._pilots_asked = True
        self.pilot.setEnabled(False)
        self.cap_status.setCurrentText(info.status)
        # nor change what kind of message it is (Test to Actual): the relay refuses that,
        # so the field says so instead of offering it
        self.cap_status.setEnabled(False)
        self.cap_status.setToolTip(
            "An update keeps the alert's status: cancel it and send a new alert to change it."
        )
        self.expiry.setDateTime(QDateTime.fromMSecsSinceEpoch(int(info.expires_at * 1000)))
        self.set_categories(info.categories)

    # ------------------------------------------------------------ exercise alerts

    def pilot_id(self) -> str | None:
        """The chosen pilot, when the status is Exercise (else None: a live alert)."""
        if self.cap_status.currentText() != "Exercise":
            return None
        value = self.pilot.currentData()
        return str(value) if value else None

    def _status_chosen(self, status: str) -> None:
        exercise = status == "Exercise"
        self.pilot_row.setVisible(exercise)
        if exercise and not self._pilots_asked:
            self._pilots_asked = True
            self.pilot_note.setText("Asking the relay for running pilots…")

            def on_error(message: str) -> None:
                if Shiboken.isValid(self):
                    self.pilot_note.setText(f"Pilots could not be listed: {message}")

            self.session.run(m.PilotList(id=""), self._guarded(self.show_pilots), on_error)
        self._pilot_chosen()

    def _guarded(self, fn: Callable[[m.Msg], None]) -> Callable[[m.Msg], None]:
        def call(reply: m.Msg) -> None:
            if Shiboken.isValid(self):
                fn(reply)

        return call

    def show_pilots(self, reply: m.Msg) -> None:
        """The relay's `pilot.listed`: the running pilots become the choices."""
        if not isinstance(reply, m.PilotListed):
            self.pilot_note.setText(f"Pilots could not be listed ({type(reply).__name__}).")
            return
        running = [p for p in reply.pilots if p.state == "active"]
        for p in running:
            if self.pilot.findData(p.pilot_id) < 0:
                self.pilot.addItem(f"{p.title} ({p.pilot_id})", p.pilot_id)
        if len(running) == 1:
            self.pilot.setCurrentIndex(self.pilot.findData(running[0].pilot_id))
        self._pilot_chosen()
        if not running:
            self.pilot_note.setText("No pilot is running: an Exercise alert needs one.")

    def _pilot_chosen(self, *_: object) -> None:
        pilot = self.pilot_id()
        if pilot is not None:
            self.pilot_note.setText(f"{pilot_words(pilot)}: only its participants, never email")
        elif self.cap_status.currentText() == "Exercise" and self.pilot.count() > 1:
            self.pilot_note.setText("")
        self._schedule_count()

    def set_categories(self, categories: Sequence[str]) -> None:
        wanted = set(categories)
        self.categories.blockSignals(True)
        try:
            for i in range(self.categories.count()):
                item = self.categories.item(i)
                on = item.data(Qt.ItemDataRole.UserRole) in wanted
                item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        finally:
            self.categories.blockSignals(False)
        self._schedule_count()

    def checked_categories(self) -> list[str]:
        out = []
        for i in range(self.categories.count()):
            item = self.categories.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(str(item.data(Qt.ItemDataRole.UserRole)))
        return out

    def expires_at(self) -> float:
        return self.expiry.dateTime().toMSecsSinceEpoch() / 1000.0

    # ------------------------------------------------------------ live recipient count

    def _schedule_count(self) -> None:
        self._generation += 1  # an answer to an older question is now stale
        self.last_count = None
        self.reach_email.setText("")
        self.approval.setVisible(False)
        if self.area is None:
            self._debounce.stop()
            self.reach.setText(
                "Draw the alert's area on the map to see how many phones it reaches."
            )
            return
        if isinstance(self.area, m.Polygon) and distinct_points(self.area) < 3:
            self._debounce.stop()
            self.show_count_error("the area needs at least 3 distinct points")
            return
        if not self.checked_categories():
            self._debounce.stop()
            self.reach.setText("Tick at least one category to see how many phones it reaches.")
            return
        self.reach.setText("Counting phones…")
        self._debounce.start()

    def request_count(self) -> None:
        """Ask the relay how many phones the alert would reach (a number, never positions)."""
        cats = self.checked_categories()
        if not cats or self.area is None:
            return
        gen = self._generation

        def on_reply(reply: m.Msg) -> None:
            if Shiboken.isValid(self) and gen == self._generation:
                self.show_count(reply)

        def on_error(message: str) -> None:
            if Shiboken.isValid(self) and gen == self._generation:
                self.show_count_error(message)

        preview = m.AlertPreview(
            id="",
            area=self.area,
            categories=cats,  # type: ignore[arg-type]
            pilot_id=self.pilot_id(),
        )
        self.session.run(preview, on_reply, on_error)

    def show_count(self, reply: m.Msg) -> None:
        if not isinstance(reply, m.AlertCount):
            self.show_count_error(f"unexpected answer {type(reply).__name__}")
            return
        self.last_count = reply
        self.reach.setText(reach_text(reply))
        self.reach_email.setText(email_reach_text(reply))
        self.approval.setVisible(reply.approval_required)

    def show_count_error(self, message: str) -> None:
        self.last_count = None
        self.reach_email.setText("")
        self.approval.setVisible(False)
        low = message.lower()
        if any(
            w in low
            for w in ("geometry", "intersect", "points", "radius", "ring", "small", "antimeridian")
        ):
            self.reach.setText(
                f"This area cannot be used: {message}. Close this window and draw the area again."
            )
        else:
            self.reach.setText(f"Could not count the phones it reaches: {message}")

    # ------------------------------------------------------------ sending

    def validate(self, now: float | None = None) -> list[str]:
        """What stops this alert being sent, in the dispatcher's words (empty when fine)."""
        now = time.time() if now is None else now
        problems = []
        if self.area is None:
            problems.append("Draw the alert's area on the map.")
        if not self.headline.text().strip():
            problems.append("Write a headline.")
        if not self.checked_categories():
            problems.append("Tick at least one category of phones to send to.")
        if self.cap_status.currentText() == "Exercise" and self.pilot_id() is None:
            problems.append("An Exercise alert belongs to a pilot: choose it under the status.")
        if self.expires_at() <= now + MIN_LIFETIME_S:
            problems.append("The expiry time has passed or is too close; set it in the future.")
        problems.extend(self._translation_problems())
        for name, widget in (
            ("description", self.description),
            ("instruction", self.instruction),
            ("translated description", self.tr_description),
            ("translated instruction", self.tr_instruction),
        ):
            text = widget.toPlainText()
            if _PLACEHOLDER.search(text):
                problems.append(f"Replace the text in square brackets in the {name}.")
            if len(text) > limits.MAX_TEXT_CHARS:
                problems.append(
                    f"The {name} is {len(text)} characters; shorten it to {limits.MAX_TEXT_CHARS}."
                )
        return problems

    def _translation_problems(self) -> list[str]:
        if not self.translation_box.isVisibleTo(self):
            return []
        tag = self.translation_language()
        if not _LANGUAGE_TAG.fullmatch(tag):
            return [f"The translation's language {tag!r} is not a language tag such as cy or gd."]
        out = []
        if tag.lower() == self.language.lower():
            out.append(f"The translation is in {tag}, the alert's own language: pick another.")
        if not self.tr_headline.text().strip():
            out.append("Write the translation's headline, or remove the translation.")
        return out

    def info(self) -> m.AlertInfo:
        ref = self.incident_ref.text().strip()
        assert self.area is not None, "validate() first: an alert needs its area"
        return m.AlertInfo(
            categories=self.checked_categories(),  # type: ignore[arg-type]
            area=self.area,
            area_desc=self.area_desc.text().strip() or describe_area(self.area),
            headline=self.headline.text().strip(),
            description=self.description.toPlainText().strip(),
            instruction=self.instruction.toPlainText().strip(),
            event=self.event_edit.text().strip() or DEFAULT_EVENT,
            cap_category=self.cap_category.currentText(),  # type: ignore[arg-type]
            urgency=self.urgency.currentText(),  # type: ignore[arg-type]
            severity=self.severity.currentText(),  # type: ignore[arg-type]
            certainty=self.certainty.currentText(),  # type: ignore[arg-type]
            contact=self.contact.text().strip(),
            incident_ref=ref or None,
            expires_at=self.expires_at(),
            status=self.cap_status.currentText(),  # type: ignore[arg-type]
            pilot_id=self.pilot_id(),
            response_type=self.response_type.currentText(),  # type: ignore[arg-type]
            language=self.language,
            translations=self.translations(),
        )

    def checked_info(self) -> m.AlertInfo | None:
        """The alert as written, or None with what stops it shown in the dialog."""
        problems = self.validate()
        info: m.AlertInfo | None = None
        if not problems:
            info = self.info()
            try:  # the wire's own limits, so the relay is not the first to say no
                msgspec.convert(msgspec.to_builtins(info), m.AlertInfo)
            except msgspec.ValidationError as exc:
                problems.append(f"The alert cannot be sent as written: {exc}.")
        if problems or info is None:
            self.problems.setText("\n".join(problems))
            self.problems.setVisible(True)
            return None
        self.problems.setVisible(False)
        return info

    def review(self) -> SendPreview | None:
        """Send, step one: the preview of what goes out (window-modal). Its Send queues the
        alert (`send`); Back returns here with nothing sent."""
        info = self.checked_info()
        if info is None:
            return None
        if self.preview is not None and Shiboken.isValid(self.preview):
            self.preview.close()
        preview = SendPreview(self.session, info, self, editing=self.editing)
        preview.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        preview.show_area.connect(self.show_area)
        preview.hide_area.connect(self.hide_area)
        preview.accepted.connect(lambda: self.send(info))
        self.preview = preview
        preview.open()
        if not self.isWindow():  # docked: over the composer's pane, so the map stays clear
            self._place_over_pane(preview)
        return preview

    def _place_over_pane(self, preview: QDialog) -> None:
        pane: QWidget = self
        up = pane.parentWidget()
        while up is not None and not up.isWindow():
            pane, up = up, up.parentWidget()  # up to the dock in the main window
        top_left = pane.mapToGlobal(pane.rect().topLeft())
        preview.setMinimumWidth(0)
        preview.resize(pane.width(), max(preview.sizeHint().height(), pane.height() // 2))
        preview.move(top_left)

    def send(self, info: m.AlertInfo | None = None) -> OutboxEntry | None:
        """Queue alert.send (or alert.update) in the outbox and close: the preview's Send
        (with the alert it showed), or `info` None to validate what is written now."""
        if info is None:
            info = self.checked_info()
        if info is None:
            return None
        action: m.AlertSend | m.AlertUpdate
        if self.editing is not None:
            action = m.AlertUpdate(id="", idem="", alert_id=self.editing.alert_id, info=info)
        else:
            action = m.AlertSend(id="", idem="", info=info)
        try:
            entry = self.session.submit(action)
        except Exception as exc:  # the outbox is on disk: a full or read-only disk
            self.problems.setText(f"The alert could not be queued: {exc}")
            self.problems.setVisible(True)
            return None
        self.problems.setVisible(False)
        self._debounce.stop()
        self.sent.emit(entry)
        self.accept()
        return entry

    def done(self, result: int) -> None:
        self._debounce.stop()
        self._generation += 1
        if self.preview is not None and Shiboken.isValid(self.preview):
            self.preview.close()
        cancelled = result != QDialog.DialogCode.Accepted and self.editing is None
        super().done(result)
        if cancelled:
            self.draft_cancelled.emit()
