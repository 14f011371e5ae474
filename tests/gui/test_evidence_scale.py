"""The workspace opens a 10,000-report package (issue 10): every report in the Reports
list, every event on the timeline, verified, and the window answering its event loop
while it loads and while it writes the PDF report of them all. The case is written straight into a data dir and exported by the relay's
own `relay.evidence.export` (tests/support/evidence_scale.py): a few seconds, no media."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, QTimer

from console.settings import ConsoleSettings
from console.workspace_window import WorkspaceWindow
from tests.support.console import close_map
from tests.support.evidence_scale import ScaleCase, export, make_case, signer

pytestmark = pytest.mark.gui

REPORTS = 10_000
#: the longest the GUI thread may go without running a zero timer while the package loads:
#: a bound for a stall, not for speed. A normal open's longest gap was 1.77 s on this 2-core
#: machine with other work beside the suite (1.5 s failed CI once); verifying and loading
#: the package on the GUI thread, the stall this catches, would hold it for the whole open.
STALL_BOUND_S = 3.0


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[ScaleCase, Path]:
    root = tmp_path_factory.mktemp("scale")
    case = make_case(root / "relay", REPORTS)
    return case, export(case, root / "big.lookout-evidence")


def test_the_workspace_opens_a_10000_report_package_and_stays_responsive(
    big: tuple[ScaleCase, Path], qtbot: Any, tmp_path: Path
) -> None:
    case, package = big
    settings = ConsoleSettings(
        "analyst", QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    )
    w = WorkspaceWindow(
        package, settings, fingerprint=signer(case.data_dir), map_cache_dir=tmp_path / "cache"
    )
    qtbot.addWidget(w)
    # a zero timer on the GUI thread: the longest gap between its runs is the longest the
    # window could not answer a click or a repaint while the package was verified and loaded
    ticks: list[float] = []
    beat = QTimer(w, interval=0)
    beat.timeout.connect(lambda: ticks.append(time.perf_counter()))
    try:
        w.show()
        beat.start()
        w.start()
        qtbot.waitUntil(w.done.is_set, timeout=45_000)
        qtbot.waitUntil(lambda: w.first_paint.seconds is not None, timeout=10_000)
        beat.stop()

        assert w.result is not None and w.result.ok, [c.line() for c in w.result.failures]
        assert w.banner.verdict is not None and w.banner.verdict.level == "verified"
        assert w.package is not None and w.package.problems == []
        model = w.feed.model
        assert model.rowCount() == REPORTS
        shown = {model.report_at(row).report_id for row in range(model.rowCount())}
        assert shown == {f"rep_{i:07d}" for i in range(REPORTS)}
        lanes = Counter(e.lane for e in w.timeline.events)
        assert lanes["report"] == REPORTS
        assert lanes["chat"] == case.chats
        assert lanes["alert"] == 2  # sent, then updated
        assert lanes["audit"] >= REPORTS  # one report.link each
        plotted = sum(len(s.points()) for s in w.timeline._scatters)
        assert plotted == len(w.timeline.events)
        assert len(w.session.chats) == case.chats

        gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
        # a busy GUI thread runs the zero timer seldom (6 times in a fast open): what matters
        # is the longest gap, so only ask for enough ticks to have gaps at all
        assert len(ticks) > 2, "the zero timer hardly ran while loading"
        assert max(gaps) < STALL_BOUND_S, f"the GUI thread stalled {max(gaps):.2f} s"

        # the PDF report of all 10,000 is laid out and written off the GUI thread
        ticks.clear()
        beat.start()
        pdf = tmp_path / "all.pdf"
        with qtbot.waitSignal(w.pdf_written, timeout=120_000) as written:
            assert w.export_report_pdf(pdf)
        beat.stop()
        assert written.args[1] > 100 and pdf.stat().st_size > 0
        gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
        assert len(ticks) > 2 and max(gaps) < STALL_BOUND_S, max(gaps, default=None)
    finally:
        beat.stop()
        close_map(w.map)
        w.session.client.outbox.close()
