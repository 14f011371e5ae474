"""A pilot's review saved as its organisers read it: `metrics.json` (the relay's
`pilot.reviewed` figures), `metrics.csv` (one row per figure) and the after-action report
`report.pdf`, in a folder of the review's own.

The same three files as `lookout-pilot rehearse` writes (`backend_client.pilots.metrics`
makes the CSV, `console.pilots.report` prints the PDF), only in this process: the console
has Qt already. Blocking (files and a PDF): the pane runs it off the GUI thread, having drawn the plots
on it first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtGui import QImage

from backend_client.pilots import Plan
from backend_client.pilots.metrics import write_csv
from console.pilots import report


@dataclass(frozen=True)
class Reviewed:
    folder: Path
    metrics: Path
    csv: Path
    pdf: Path
    pages: int


def save_review(
    plan: Plan, metrics: dict[str, Any], folder: Path, plots: Mapping[str, QImage]
) -> Reviewed:
    """Write the three files into `folder` (made; it must not exist yet, so nothing of an
    earlier review is overwritten). `plots`: the report's plots, drawn beforehand on the
    GUI thread (`plots.render_all`: pyqtgraph's items are graphics widgets)."""
    folder.mkdir(parents=True, exist_ok=False)
    out = folder / "metrics.json"
    out.write_text(json.dumps(metrics, indent=2) + "\n")
    table = folder / "metrics.csv"
    write_csv(metrics, table)
    pdf = folder / "report.pdf"
    pages = report.write_pdf(plan, metrics, pdf, plots)
    return Reviewed(folder, out, table, pdf, pages)
