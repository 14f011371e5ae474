"""The one-second tick both the status bar and the link-lost bar redraw on while the link
waits to retry ("retrying in 7 s"), and only then."""

from __future__ import annotations

from PySide6.QtCore import QTimer

from backend_client.state import ConnectionStatus, State


def follow(countdown: QTimer, status: ConnectionStatus) -> None:
    """Tick while backing off towards a known next attempt; stay quiet otherwise."""
    if status.state == State.BACKING_OFF and status.next_attempt_at is not None:
        countdown.start()
    else:
        countdown.stop()
