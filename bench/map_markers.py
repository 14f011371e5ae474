"""Map bench: load the real page with N report markers, then apply live updates.

Target (DESIGN.md): 50,000 report markers clustered, pan/zoom interactive, and live
updates through the bridge without re-rendering the page. Measures, headless:

- load_ms: from creating the map widget to the page confirming all N markers are in its
  cluster group (page load + N events through the session + one coalesced batch),
- update_ms: 100 report updates through the session until the page confirms them,
- zoom_ms: one zoom out and back in with N markers (the clustering work per zoom),

and fails if the page was ever loaded more than once. Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.map.widget import MapWidget


def wait_until(app: Any, predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the map page did not confirm in time")
        app.processEvents()
        time.sleep(0.002)


def evaluate(app: Any, widget: MapWidget, script: str, timeout: float = 60.0) -> Any:
    box: list[Any] = []
    widget.run_js(script, box.append)
    wait_until(app, lambda: bool(box), timeout)
    return box[0]


def page_stats(app: Any, widget: MapWidget) -> dict[str, Any]:
    return dict(json.loads(evaluate(app, widget, "JSON.stringify(LookoutMap.stats())")))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--markers", type=int, default=50_000)
    p.add_argument("--updates", type=int, default=100)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from backend_client import messages as m
    from backend_client.client import ClientConfig, Credentials, RelayClient
    from backend_client.outbox import Outbox
    from console.session import ConsoleSession
    from console.settings import ConsoleSettings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="lookout-map-bench-"))
    client = RelayClient(
        ClientConfig(url="wss://127.0.0.1:1"),
        Credentials("bench", "bench", lambda: None),
        Outbox(tmp / "outbox.sqlite"),
    )
    session = ConsoleSession(client)
    settings = ConsoleSettings("bench", QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat))
    now = time.time()
    categories = list(m.CATEGORIES)

    def report(i: int, status: str = "new") -> m.Report:
        r = random.Random(i)
        return m.Report(
            report_id=f"r{i}",
            reporter=f"walker-{i % 997}",
            category=categories[i % len(categories)],  # type: ignore[arg-type]
            text=f"bench report {i}: someone trying car doors on the street",
            lat=53.7590 + r.gauss(0, 0.03),
            lon=-2.6990 + r.gauss(0, 0.05),
            created_at=now - r.uniform(0, 3 * 86400),
            status=status,  # type: ignore[arg-type]
            priority="normal",
            claimed_by=None,
            incident_ref=None,
            media=[],
        )

    t0 = time.perf_counter()
    widget = MapWidget(session, settings, cache_dir=tmp / "cache")
    widget.resize(1280, 800)
    widget.show()
    for i in range(args.markers):
        session.dispatch(m.ReportCreated(seq=i + 1, at=now, report=report(i)))
    wait_until(app, lambda: widget.settled, 600)
    stats = page_stats(app, widget)
    load_ms = (time.perf_counter() - t0) * 1000
    assert stats["clustered"] == args.markers, stats

    picked = rng.sample(range(args.markers), args.updates)
    t1 = time.perf_counter()
    for n, i in enumerate(picked):
        session.dispatch(
            m.ReportUpdated(seq=args.markers + n + 1, at=now, report=report(i, "claimed"), by="b")
        )
    widget.flush()  # do not wait out the coalescing timer: measure the page
    wait_until(app, lambda: widget.settled, 120)
    update_ms = (time.perf_counter() - t1) * 1000
    claimed = evaluate(
        app,
        widget,
        f"{json.dumps([f'r{i}' for i in picked])}"
        ".filter(id => LookoutMap.markerFor(id).report.status === 'claimed').length",
    )
    assert claimed == args.updates, claimed

    zoom_ms = evaluate(
        app,
        widget,
        "(() => { const map = LookoutMap.map(), t = performance.now();"
        " map.setZoom(11, {animate: false}); map.setZoom(15, {animate: false});"
        " return performance.now() - t; })()",
    )
    assert widget.load_count == 1, f"page loaded {widget.load_count} times"
    assert not [u for u in widget.requests if u.startswith(("http:", "https:"))]

    result = {
        "markers": stats["clustered"],
        "load_ms": round(load_ms, 1),
        "update_ms": round(update_ms, 1),
        "updates": args.updates,
        "zoom_ms": round(float(zoom_ms), 1),
        "page_loads": widget.load_count,
        "batches": widget.batches_sent,
    }
    widget.close()
    widget.deleteLater()
    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
