"""The Pilots pane's two forms: a plan's pilot before it is created, and a batch of invite
codes before it is asked for. Each only collects choices; the pane sends the request."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from backend_client import limits
from backend_client import messages as m
from backend_client.pilots import Plan
from console.common.labels import plain_label
from console.pilots import pilots_model as pm
from console.pilots.form_parts import lay_out, with_browse


class CreateDialog(QDialog):
    """What the plan's pilot will be, with its id (a purged pilot's id stays taken on the
    relay, so a plan run again needs a new one)."""

    def __init__(self, plan: Plan, pilot_id: str, when: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Create a pilot from a plan")
        self.plan = plan
        form = QFormLayout()
        form.addRow("Title", plain_label(plan.title))
        self.pilot_id = QLineEdit(pilot_id)
        self.pilot_id.setToolTip("Lower-case letters, digits and dashes; unique on the relay")
        form.addRow("Pilot id", self.pilot_id)
        groups = ", ".join(f"{g.name} ({max(g.count, 0)})" for g in plan.groups)
        form.addRow("Groups", plain_label(groups or "none"))
        self.runs = plain_label(when)
        form.addRow("Runs", self.runs)
        lay_out(self, form, "Create pilot")


class InviteDialog(QDialog):
    """Group, how many codes, how long they work, and the folder they are saved in (chosen
    before asking: the relay shows the codes once)."""

    def __init__(self, info: m.PilotInfo, portal: str, folder: Path, parent: QWidget | None):
        super().__init__(parent)
        self.setWindowTitle(f"Invite codes — {info.pilot_id}")
        self.info = info
        form = QFormLayout()
        form.addRow("Pilot", plain_label(info.title))
        self.group = QComboBox()
        for g in info.groups:
            self.group.addItem(f"{g.name} ({g.joined} of {g.planned} joined)", g.name)
        form.addRow("Group", self.group)
        self.count = QSpinBox()
        self.count.setRange(1, limits.MAX_INVITES_PER_REQUEST)
        self.count.setValue(10)
        form.addRow("Codes", self.count)
        self.valid_days = QSpinBox()
        self.valid_days.setRange(1, int(limits.MAX_INVITE_VALID_S // 86400))
        self.valid_days.setValue(14)
        self.valid_days.setSuffix(" days")
        form.addRow("Valid for", self.valid_days)
        self.portal = QLineEdit(portal)
        self.portal.setToolTip("The citizens' portal the QR codes open")
        form.addRow("Portal", self.portal)
        self.folder = QLineEdit(str(folder))
        form.addRow("Save in", with_browse(self.folder, self._browse))
        self.note = plain_label(pm.CODES_ONCE)
        lay_out(self, form, "Issue codes", self.note)

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(
            self, "Save the invitations in", self.folder.text()
        )
        if chosen:
            self.folder.setText(chosen)

    def chosen_group(self) -> str:
        return str(self.group.currentData() or "")
