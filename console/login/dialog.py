"""The login dialog: relay address, user, password, TOTP code; trust on first use.

On first contact with a relay the dialog shows its certificate's SHA-256 fingerprint and
asks the officer to confirm it against the one the relay printed; the fingerprint is then
pinned. A relay that later presents a different certificate is refused with a clear message.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from backend_client.client import ClientConfig, Credentials, fetch_fingerprint
from console.common.labels import plain_label
from console.login.model import check_trust, relay_key


@dataclass
class LoginResult:
    config: ClientConfig
    credentials: Credentials
    data_dir: Path


class TrustStore:
    """Pinned relay fingerprints, per relay address (shared by every user of this machine)."""

    def __init__(self, store: QSettings | None = None) -> None:
        self._s = store or QSettings("Lookout", "trust")

    def pinned(self, url: str) -> str | None:
        value = self._s.value(f"relays/{relay_key(url)}")
        return str(value) if value else None

    def forget(self, url: str) -> bool:
        """Drop a pinned fingerprint (a rebuilt development relay); True if there was one."""
        key = f"relays/{relay_key(url)}"
        had = self._s.contains(key)
        self._s.remove(key)
        self._s.sync()
        return had

    def pin(self, url: str, fingerprint: str) -> None:
        self._s.setValue(f"relays/{relay_key(url)}", fingerprint)
        self._s.sync()


MIN_WIDTH = 440


class LoginDialog(QDialog):
    def __init__(
        self,
        relay: str | None = None,
        user: str | None = None,
        trust: TrustStore | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Lookout — sign in")
        self.trust = trust or TrustStore()
        prefs = QSettings("Lookout", "console")
        self.relay = QLineEdit(relay or str(prefs.value("last/relay", "wss://localhost:8765")))
        self.user = QLineEdit(user or str(prefs.value("last/user", "")))
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.totp = QLineEdit()
        self.totp.setPlaceholderText("6-digit code from your authenticator")
        self.totp.setMaxLength(8)
        self.error = plain_label(selectable=False, shrink=False)
        self.error.setStyleSheet("color: #e5534b")
        form = QFormLayout()
        form.addRow("Relay", self.relay)
        form.addRow("User", self.user)
        form.addRow("Password", self.password)
        form.addRow("Code", self.totp)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Sign in")
        buttons.accepted.connect(self._submit)
        buttons.rejected.connect(self.reject)
        # wide enough for a full relay address and the code field's hint
        self.setMinimumWidth(MIN_WIDTH)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self._future: asyncio.Future[LoginResult | None] | None = None
        self.finished.connect(self._finished)
        (self.password if self.user.text() else self.user).setFocus()

    def failed(self, reason: str) -> None:
        """The relay refused the sign-in: say why, and ask for a fresh code (each code
        works once, so the one just used is cleared)."""
        self.error.setText(reason)
        self.totp.clear()
        self.totp.setFocus()

    async def ask(self) -> LoginResult | None:
        self._future = asyncio.get_running_loop().create_future()
        self.show()
        return await self._future

    def _finished(self, _code: int) -> None:
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    def _submit(self) -> None:
        url = self.relay.text().strip()
        if not url.startswith("wss://"):
            self.error.setText(
                "The relay address must start with wss:// (Lookout only talks over TLS)."
            )
            return
        if (
            not self.user.text().strip()
            or not self.password.text()
            or not self.totp.text().strip().isdigit()
        ):
            self.error.setText("Fill in user, password and the 6-digit code.")
            return
        asyncio.ensure_future(self._verify(url))

    async def _verify(self, url: str) -> None:
        self.error.setText("Contacting the relay…")
        try:
            presented = await fetch_fingerprint(url)
        except Exception as exc:
            self.error.setText(
                f"Cannot reach the relay at {url}: {exc}. Check the address and your network."
            )
            return
        verdict = check_trust(self.trust, url, presented)
        if verdict == "changed":
            self.error.setText(
                "The relay's certificate has changed since you last connected. This could be an "
                "attack, so the connection was refused. Ask your administrator before going on."
            )
            return
        if verdict == "new" and not self._confirm(url, presented):
            self.error.setText("Not connected: the certificate was not confirmed.")
            return
        self.trust.pin(url, presented)
        prefs = QSettings("Lookout", "console")
        prefs.setValue("last/relay", url)
        prefs.setValue("last/user", self.user.text().strip())
        code = self.totp.text().strip()
        used: list[str] = []

        def totp_once() -> str | None:
            # The code is good for one login; after that a lapsed session asks again.
            if used:
                return None
            used.append(code)
            return code

        username = self.user.text().strip()
        base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
        result = LoginResult(
            config=ClientConfig(url=url, pin_sha256=presented),
            credentials=Credentials(username, self.password.text(), totp_once),
            data_dir=Path(base or Path.home() / ".lookout") / username,
        )
        if self._future is not None and not self._future.done():
            self._future.set_result(result)
        self.accept()

    def _confirm(self, url: str, fingerprint: str) -> bool:
        box = QMessageBox(self)
        box.setWindowTitle("Trust this relay?")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(
            f"First connection to {url}.\n\nIts certificate fingerprint (SHA-256) is:\n\n{fingerprint}\n\n"
            "Compare it with the fingerprint the relay printed when it started (or ask your "
            "administrator). Trust it only if they match."
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes
