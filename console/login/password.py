"""Session > Change password: the officer's own new password, sent as
`auth.change_password` with the current one and a fresh code."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from backend_client import messages as m
from console.common.labels import plain_label
from console.login.model import password_form_problem
from console.session import ConsoleSession


class PasswordDialog(QDialog):
    def __init__(self, session: ConsoleSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Change password")
        self.session = session
        self.current, self.new, self.again = QLineEdit(), QLineEdit(), QLineEdit()
        for field in (self.current, self.new, self.again):
            field.setEchoMode(QLineEdit.EchoMode.Password)
        self.new.setPlaceholderText("8 or more characters; a few uncommon words work well")
        self.totp = QLineEdit()
        self.totp.setPlaceholderText("6-digit code from your authenticator")
        self.totp.setMaxLength(8)
        self.message = plain_label(selectable=False, shrink=False)
        form = QFormLayout()
        form.addRow("Current password", self.current)
        form.addRow("New password", self.new)
        form.addRow("New password again", self.again)
        form.addRow("Code", self.totp)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Change password")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.message)
        lay.addWidget(self.buttons)
        self.setMinimumWidth(460)
        self.done_ok = False

    def submit(self) -> None:
        problem = password_form_problem(
            self.current.text(), self.new.text(), self.again.text(), self.totp.text()
        )
        if problem is not None:
            self._say(problem, error=True)
            return
        self.ok.setEnabled(False)
        self._say("Asking the relay…", error=False)
        request = m.PasswordChange(
            id="", current=self.current.text(), new=self.new.text(), totp=self.totp.text().strip()
        )
        self.session.run(request, self._changed, self._refused)

    def _changed(self, _reply: m.Msg) -> None:
        self.done_ok = True
        for field in (self.current, self.new, self.again, self.totp):
            field.clear()
        self._say(
            "Password changed. Your other sessions have ended; this one goes on.", error=False
        )
        self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Close)
        self.buttons.button(QDialogButtonBox.StandardButton.Close).clicked.connect(self.accept)

    def _refused(self, reason: str) -> None:
        """Say why (a weak password's reason comes from the relay); each code works once."""
        self.ok.setEnabled(True)
        self.totp.clear()
        self._say(reason, error=True)

    def _say(self, text: str, error: bool) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #e5534b" if error else "")
