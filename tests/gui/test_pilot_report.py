"""The after-action report's pages, read back with poppler: no heading ends a page (a
plot's title stands on its plot's page, a table's heading with its first rows), and the
plots an evaluator expects are there under their titles."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from backend_client import pilots
from console.pilots import model, report

pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(
        shutil.which("pdftotext") is None or shutil.which("pdfimages") is None,
        reason="needs poppler-utils",
    ),
]

PRESTON = Path(__file__).resolve().parents[2] / "resources" / "pilots" / "preston-2017.toml"
FOOTER = "after-action report, exercise data"
PLOT_TITLES = (
    "Reports per day",
    "Reports per act",
    "Participation per day and retention (active again the next day)",
    "Time to first response per act (plan s): median and p90",
    "Alerts: reach, delivered and read, in the order sent (as in the alerts table)",
)


def _metrics(plan: pilots.Plan, expected: int) -> dict[str, Any]:
    """Metrics shaped as a rehearsal writes them, with `expected` evaluation rows: their
    number moves every heading after the evaluation table up and down the pages."""
    dist = {"reports": 40, "responded": 40, "median": 150.0, "p90": 190.0}
    day = {"joined": 61, "active": 50, "active_next_day": 45, "retention": 0.9}
    days = {f"day {n}": day for n in range(1, len(plan.days) + 1)}
    acts = [a.id for a in plan.acts]
    groups = [g.name for g in plan.groups]
    return {
        "speed": 2000.0,
        "reports": 331,
        "reports_by_day": {d: 100 + 10 * n for n, d in enumerate(days)},
        "reports_by_act": {a: 30 + n for n, a in enumerate(acts)},
        "reports_by_group": {g: 10 for g in groups},
        "participation_by_day": {
            "all": {"retention_day_over_day": 0.9, "days": days},
            "by_group": {g: {"retention_day_over_day": 0.9, "days": days} for g in groups},
        },
        "time_to_acknowledge_s": {
            "all": dist,
            "by_act": {a: dist for a in acts},
            "by_group": {g: dist for g in groups},
        },
        "time_to_first_response_s": {
            "all": dist,
            "by_act": {a: dist for a in acts},
            "by_group": {g: dist for g in groups},
        },
        "alerts": [
            {
                "sent_s": 1000.0 * n,
                "sender": "campus-sergeant",
                "headline": f"Exercise alert {n}",
                "reach": 28,
                "delivered": 28,
                "read": 20,
                "delivered_rate": 1.0,
                "read_rate": 0.71,
                "time_to_read_s": {"read": 20, "median": 200.0, "p90": 300.0},
            }
            for n in range(4)
        ],
        "expected_actions": [
            {
                "id": f"expect-{n}",
                "act": acts[n % len(acts)],
                "action": "first_response",
                "trigger": "each_report",
                "status": "met",
                "done_s": 100.0,
                "first_due_s": 400.0,
                "within_s": 300.0,
                "in_time": 3,
                "triggered": 3,
                "text": "A first response within 5 min of each report",
            }
            for n in range(expected)
        ],
    }


def _pages(pdf: Path) -> list[list[str]]:
    out = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return [
        [ln.strip() for ln in page.splitlines() if ln.strip() and FOOTER not in ln]
        for page in out.split("\f")[:-1]
    ]


def _image_pages(pdf: Path) -> list[int]:
    """The page of each image drawn (one drawn across a page break counts twice)."""
    out = subprocess.run(
        ["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    return [int(row.split()[0]) for row in out.splitlines()[2:] if row.split()[2] == "image"]


# 0, 2 and 9 evaluation rows each left a heading at a page's foot before headings were kept
# with what follows them ("Plots", "Reports per group", "Metrics"), and plots' titles apart
@pytest.mark.parametrize("expected", [0, 2, 9])
def test_no_heading_ends_a_page_and_each_plot_is_on_its_titles_page(
    qapp: Any, tmp_path: Path, expected: int
) -> None:
    plan = pilots.load(PRESTON)
    metrics = _metrics(plan, expected)
    pdf = tmp_path / "report.pdf"
    report.write_pdf(plan, metrics, pdf)
    parts = model.sections(plan, metrics)
    titles = [parts[k - 1] for k, p in enumerate(parts) if isinstance(p, model.Plot)]
    assert [t.text for t in titles if isinstance(t, model.Heading)] == list(PLOT_TITLES)
    # a plot's title is its page's last text when the plot (an image) is below it
    headings = {p.text for p in parts if isinstance(p, model.Heading)} - set(PLOT_TITLES)
    pages = _pages(pdf)
    for n, lines in enumerate(pages, 1):
        assert lines and lines[-1] not in headings, (n, lines[-1:])
    title_pages = [next(n for n, ls in enumerate(pages, 1) if t in ls) for t in PLOT_TITLES]
    assert _image_pages(pdf) == title_pages


def test_the_plots_hold_the_metrics_figures() -> None:
    plan = pilots.load(PRESTON)
    metrics = _metrics(plan, 1)
    plots = {p.name: p for p in model.sections(plan, metrics) if isinstance(p, model.Plot)}
    day = plots["reports-per-day"]
    assert day.categories == ["day 1", "day 2", "day 3"]
    assert day.series == {"reports": [100.0, 110.0, 120.0]}
    part = plots["participation-per-day"]
    assert part.categories[0] == "day 1 (retention 0.9)"
    assert part.series["active next day"] == [45, 45, 45]
    reply = plots["first-response-per-act"]
    assert reply.categories == [a.id for a in plan.acts]
    assert set(reply.series) == {"median", "p90"} and reply.series["p90"][0] == 190.0
    alerts = plots["alert-delivery"]
    assert alerts.categories[1] == "alert 2 (0:16:40)"
    assert alerts.series["read"] == [20, 20, 20, 20]


def test_a_plot_is_drawn_by_pyqtgraph_with_a_row_per_category(qapp: Any) -> None:
    """`plots.render`: bars in the series' colours, the image growing with the rows; and
    only on the application's thread (pyqtgraph's items are graphics widgets), which
    the console's worker that prints the PDF respects by drawing them first."""
    import threading

    from console.pilots import plots

    two = model.Plot("p", ["day 1", "day 2"], {"reports": [3.0, 7.0]})
    five = model.Plot("q", [f"act {k}" for k in range(5)], {"a": [1.0] * 5, "b": [2.0] * 5})
    small, tall = plots.render(two), plots.render(five)
    assert small.width() == tall.width() == plots.WIDTH and tall.height() > small.height()

    def colours(image: Any) -> set[str]:
        step = 7
        return {
            image.pixelColor(x, y).name()
            for x in range(0, image.width(), step)
            for y in range(0, image.height(), step)
        }

    first, second = plots.SERIES_COLOURS[:2]
    assert first in colours(small) and second not in colours(small)
    assert {first, second} <= colours(tall)
    failed: list[BaseException] = []

    def off_thread() -> None:
        try:
            plots.render(two)
        except RuntimeError as exc:
            failed.append(exc)

    worker = threading.Thread(target=off_thread)
    worker.start()
    worker.join(30)
    assert failed and "application's own thread" in str(failed[0])
