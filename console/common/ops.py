"""Run blocking work off the GUI thread: an op, then success or failure on the GUI thread.

The op runs on Qt's global thread pool and must touch no widget; its result (or the
exception it raised) comes back through a queued signal to a small relay object living on
the GUI thread, which then calls `on_success` or `on_failure` there. `when_done` does the
same for work already running elsewhere (a `concurrent.futures.Future`), holding no
worker thread while it waits.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot

_in_flight: set[_Relay] = set()


class _Relay(QObject):
    finished = Signal(bool, object)

    def __init__(
        self,
        on_success: Callable[[Any], None],
        on_failure: Callable[[BaseException], None],
        owner: QObject | None,
        connection: Qt.ConnectionType = Qt.ConnectionType.AutoConnection,
    ) -> None:
        super().__init__()
        self._owner = owner
        self._on_success = on_success
        self._on_failure = on_failure
        self.finished.connect(self._deliver, connection)

    @Slot(bool, object)
    def _deliver(self, ok: bool, value: object) -> None:
        _in_flight.discard(self)
        if self._owner is not None and not shiboken6.isValid(self._owner):
            return  # the widget that asked is gone; drop the result
        if ok:
            self._on_success(value)
        else:
            assert isinstance(value, BaseException)
            self._on_failure(value)


class _Job(QRunnable):
    def __init__(self, op: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._op = op
        self._relay = relay

    def run(self) -> None:
        try:
            result = self._op()
        except Exception as exc:
            self._relay.finished.emit(False, exc)
        else:
            self._relay.finished.emit(True, result)


def run_off_thread(
    op: Callable[[], Any],
    on_success: Callable[[Any], None],
    on_failure: Callable[[BaseException], None],
    owner: QObject | None = None,
    pool: QThreadPool | None = None,
) -> None:
    """Start `op()` on a worker thread; the callbacks run later on the GUI thread.

    If `owner` (usually the widget asking) is deleted meanwhile, the result is dropped.
    """
    relay = _Relay(on_success, on_failure, owner)
    _in_flight.add(relay)
    (pool or QThreadPool.globalInstance()).start(_Job(op, relay))


def when_done(
    future: Future[Any],
    on_success: Callable[[Any], None],
    on_failure: Callable[[BaseException], None],
    owner: QObject | None = None,
) -> None:
    """Once `future` resolves (on whatever thread), call `on_success(result)` or
    `on_failure(exception)` on the GUI thread, later, never from inside this call."""
    # queued even when it resolves on the GUI thread itself (then: at once, in here)
    relay = _Relay(on_success, on_failure, owner, Qt.ConnectionType.QueuedConnection)
    _in_flight.add(relay)

    def resolved(done: Future[Any]) -> None:
        exc = done.exception()
        if exc is None:
            relay.finished.emit(True, done.result())
        else:
            relay.finished.emit(False, exc)

    future.add_done_callback(resolved)
