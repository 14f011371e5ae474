"""Work off the GUI thread comes back on the GUI thread, once each, and is dropped when the
widget that asked is gone: under many jobs finishing at once from pool threads and from
plain `threading` threads (the evidence workspace's verifier), nothing crashes."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QWidget

from console.common import ops

pytestmark = pytest.mark.gui

JOBS = 400


def test_results_and_failures_come_back_on_the_gui_thread_once_each(qtbot: Any) -> None:
    gui = QThread.currentThread()
    got: dict[int, Any] = {}
    threads: set[bool] = set()

    def keep(n: int, value: Any) -> None:
        assert n not in got
        got[n] = value
        threads.add(QThread.currentThread() is gui)

    def op(n: int) -> int:
        if n % 7 == 0:
            raise ValueError(f"job {n}")
        return n * n

    for n in range(JOBS):
        ops.run_off_thread(
            lambda n=n: op(n), lambda v, n=n: keep(n, v), lambda e, n=n: keep(n, str(e))
        )
    qtbot.waitUntil(lambda: len(got) == JOBS, timeout=30_000)
    assert threads == {True}
    assert got[3] == 9 and got[7] == "job 7"
    assert not ops._the_dispatcher().waiting


def test_futures_resolved_on_plain_threads_come_back_on_the_gui_thread(qtbot: Any) -> None:
    gui = QThread.currentThread()
    futures: list[Future[int]] = [Future() for _ in range(JOBS)]
    got: list[tuple[int, bool]] = []
    for f in futures:
        ops.when_done(f, lambda v: got.append((v, QThread.currentThread() is gui)), pytest.fail)

    def resolve(part: list[Future[int]], base: int) -> None:
        for i, f in enumerate(part):
            f.set_result(base + i)

    half = JOBS // 2
    workers = [
        threading.Thread(target=resolve, args=(futures[:half], 0)),
        threading.Thread(target=resolve, args=(futures[half:], half)),
    ]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    qtbot.waitUntil(lambda: len(got) == JOBS, timeout=30_000)
    assert sorted(v for v, _ in got) == list(range(JOBS))
    assert all(on_gui for _, on_gui in got)


def test_a_future_already_resolved_still_answers_later_not_inside_the_call(qtbot: Any) -> None:
    done: Future[str] = Future()
    done.set_result("ready")
    got: list[str] = []
    ops.when_done(done, got.append, pytest.fail)
    assert got == []  # never from inside when_done
    qtbot.waitUntil(lambda: got == ["ready"], timeout=5_000)


def test_the_result_for_a_deleted_widget_is_dropped(qtbot: Any) -> None:
    owner = QWidget()
    gate = threading.Event()
    got: list[object] = []
    ops.run_off_thread(lambda: gate.wait(10) and "late", got.append, got.append, owner=owner)
    owner.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(owner), timeout=5_000)
    gate.set()
    qtbot.waitUntil(lambda: not ops._the_dispatcher().waiting, timeout=10_000)
    assert got == []
