"""Run blocking work off the GUI thread: an op, then success or failure on the GUI thread.

The op runs on Qt's global thread pool and must touch no widget; its result (or the
exception it raised) comes back through a queued signal to one dispatcher object living on
the GUI thread, which then calls `on_success` or `on_failure` there. `when_done` does the
same for work already running elsewhere (a `concurrent.futures.Future`), holding no
worker thread while it waits.

One dispatcher, for the application's life, and not a small object per job: a worker
thread then holds nothing that is freed when it lets go. (A per-job QObject, referenced by
the job, was freed on the worker thread whenever the GUI thread had delivered its result
first, deleting a GUI-thread object from another thread: an occasional segfault.) Only the
GUI thread touches the table of waiting callbacks; workers send a job number.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QRunnable, Qt, QThreadPool, Signal, Slot


@dataclass(frozen=True)
class _Waiting:
    on_success: Callable[[Any], None]
    on_failure: Callable[[BaseException], None]
    owner: QObject | None


class _Dispatcher(QObject):
    finished = Signal(int, bool, object)

    def __init__(self) -> None:
        super().__init__(QCoreApplication.instance())  # lives, and dies, with the app
        self.waiting: dict[int, _Waiting] = {}
        self._numbers = itertools.count(1)
        self.finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def expect(self, waiting: _Waiting) -> int:
        number = next(self._numbers)
        self.waiting[number] = waiting
        return number

    @Slot(int, bool, object)
    def _deliver(self, number: int, ok: bool, value: object) -> None:
        waiting = self.waiting.pop(number, None)
        if waiting is None:
            return
        if waiting.owner is not None and not shiboken6.isValid(waiting.owner):
            return  # the widget that asked is gone; drop the result
        if ok:
            waiting.on_success(value)
        else:
            assert isinstance(value, BaseException)
            waiting.on_failure(value)


_dispatcher: _Dispatcher | None = None


def _the_dispatcher() -> _Dispatcher:
    """The GUI thread's dispatcher (made on first use, again if the app was replaced)."""
    global _dispatcher
    if _dispatcher is None or not shiboken6.isValid(_dispatcher):
        _dispatcher = _Dispatcher()
    return _dispatcher


class _Job(QRunnable):
    def __init__(self, op: Callable[[], Any], dispatcher: _Dispatcher, number: int) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._op = op
        self._dispatcher = dispatcher
        self._number = number

    def run(self) -> None:
        try:
            result = self._op()
        except Exception as exc:
            self._dispatcher.finished.emit(self._number, False, exc)
        else:
            self._dispatcher.finished.emit(self._number, True, result)


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
    dispatcher = _the_dispatcher()
    number = dispatcher.expect(_Waiting(on_success, on_failure, owner))
    (pool or QThreadPool.globalInstance()).start(_Job(op, dispatcher, number))


def when_done(
    future: Future[Any],
    on_success: Callable[[Any], None],
    on_failure: Callable[[BaseException], None],
    owner: QObject | None = None,
) -> None:
    """Once `future` resolves (on whatever thread), call `on_success(result)` or
    `on_failure(exception)` on the GUI thread, later, never from inside this call."""
    dispatcher = _the_dispatcher()
    number = dispatcher.expect(_Waiting(on_success, on_failure, owner))

    def resolved(done: Future[Any]) -> None:
        exc = done.exception()
        if exc is None:
            dispatcher.finished.emit(number, True, done.result())
        else:
            dispatcher.finished.emit(number, False, exc)

    future.add_done_callback(resolved)
