"""Trust on first use: a new relay asks, a pinned one passes, a changed one is refused."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from console.login.dialog import LoginDialog, TrustStore
from console.login.model import check_trust


def _store(tmp_path) -> TrustStore:
    return TrustStore(QSettings(str(tmp_path / "trust.ini"), QSettings.Format.IniFormat))


def test_trust_on_first_use_then_pinned_then_changed(tmp_path):
    store = _store(tmp_path)
    url = "wss://relay.example:8765"
    assert check_trust(store, url, "AA:BB") == "new"
    store.pin(url, "AA:BB")
    assert check_trust(store, url, "aa:bb") == "pinned"
    assert check_trust(store, url, "CC:DD") == "changed"
    assert check_trust(store, "wss://other:1", "AA:BB") == "new"
    # pins persist across instances (a restart of the console)
    assert check_trust(_store(tmp_path), url, "AA:BB") == "pinned"
    # a rebuilt development relay: forget the pin, and the next contact asks again
    assert store.forget(url) and not store.forget(url)
    assert check_trust(_store(tmp_path), url, "CC:DD") == "new"


def test_dialog_refuses_plain_websocket_and_missing_fields(qtbot, tmp_path):
    dialog = LoginDialog(relay="ws://insecure:1", user="dana", trust=_store(tmp_path))
    qtbot.addWidget(dialog)
    dialog._submit()
    assert "wss://" in dialog.error.text()
    dialog.relay.setText("wss://relay:1")
    dialog.password.setText("pw")
    dialog.totp.setText("")
    dialog._submit()
    assert "6-digit code" in dialog.error.text()
    assert dialog.password.echoMode() == dialog.password.EchoMode.Password


def test_dialog_is_wide_enough_for_a_relay_address(qtbot, tmp_path):
    dialog = LoginDialog(relay="wss://relay.example.org:8765", user="dana", trust=_store(tmp_path))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.width() >= 440
    fm = dialog.relay.fontMetrics()
    assert dialog.relay.width() > fm.horizontalAdvance(dialog.relay.text())
    assert dialog.totp.width() > fm.horizontalAdvance(dialog.totp.placeholderText())


def test_a_failed_sign_in_says_why_and_asks_for_a_new_code(qtbot, tmp_path):
    dialog = LoginDialog(relay="wss://relay:1", user="dana", trust=_store(tmp_path))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.password.setText("pw")
    dialog.totp.setText("123456")
    dialog.password.setFocus()
    dialog.failed("The code was wrong or already used. Enter the next code.")
    assert dialog.error.text().startswith("The code was wrong")
    assert dialog.totp.text() == ""
    assert dialog.password.text() == "pw"  # only the one-time code is cleared
    qtbot.waitUntil(dialog.totp.hasFocus)
