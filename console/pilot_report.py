"""A pilot's after-action report as a PDF, with Qt's PDF writer (issue 12, deliverable 8).

    python -m console.pilot_report PLAN.toml METRICS.json OUT.pdf

`lookout-pilot rehearse` runs this as a child process after writing `metrics.json` (the
pilot package stands on the contract without Qt: "Only the console imports Qt"). The
report holds the plan (name, title, area, days, groups), the timeline of acts and injects
with their fired times and lateness, the evaluation table (each expected action met or
missed, when, its deadline), the metrics beside the plan's objectives and their targets,
and a plot of reports per act drawn with QPainter.

As in the analyst's report (`console/evidence/report_pdf.py`) the body is a QTextDocument
built only with `QTextCursor.insertText` and formats: nothing from the plan or from
citizens is ever parsed as HTML, and bidirectional controls print as [U+XXXX]. Headless:
no widget and no screen; with no Qt application yet, `main` makes a QGuiApplication on the
offscreen platform unless QT_QPA_PLATFORM says otherwise.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMarginsF, QPointF, QRectF, QSizeF, Qt, QUrl
from PySide6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPen,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextImageFormat,
    QTextLength,
    QTextTableFormat,
)

from backend_client.pilots import Plan, Schedule, load
from console.evidence.report_pdf import as_typed

DPI = 200
MARGIN_MM = 15.0
FOOTER_MM = 8.0
#: a QTextImageFormat's size is in the paint device's units scaled from 96 DPI
_IMAGE_UNITS = DPI / 96
_STATUS_COLOUR = {"met": "#1b7a34", "missed": "#b3261e", "not triggered": "#9a6700"}


def _mm(mm: float) -> float:
    return mm / 25.4 * DPI


def _font(size: float, bold: bool = False) -> QFont:
    """No ligatures: pdftotext and a reader's search must find the words as written."""
    font = QFont("DejaVu Sans", 1)
    font.setPointSizeF(size)
    if bold:
        font.setWeight(QFont.Weight.Bold)
    for tag in ("liga", "clig", "dlig"):
        font.setFeature(QFont.Tag(tag), 0)
    return font


def _hms(t: float | None) -> str:
    """Plan seconds as h:mm:ss of plan time ("" for none)."""
    if t is None:
        return ""
    sign, t = ("-" if t < 0 else ""), abs(t)
    h, rest = divmod(round(t), 3600)
    return f"{sign}{h}:{rest // 60:02d}:{rest % 60:02d}"


def _num(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".")
    return str(v)


class _Builder:
    def __init__(self, doc: QTextDocument, width: float) -> None:
        self.doc = doc
        self.width = width
        self.cur = QTextCursor(doc)
        ink = QColor("#000000")
        self.plain = QTextCharFormat()
        self.plain.setFont(_font(9))
        self.plain.setForeground(ink)
        self.bold = QTextCharFormat(self.plain)
        self.bold.setFont(_font(9, bold=True))
        self.small = QTextCharFormat(self.plain)
        self.small.setFont(_font(7.5))
        self._first = True

    def block(self, space_before: float = 0.0) -> None:
        fmt = QTextBlockFormat()
        fmt.setTopMargin(space_before)
        if self._first:
            self.cur.setBlockFormat(fmt)
            self._first = False
        else:
            self.cur.insertBlock(fmt)

    def heading(self, text: str, size: float = 13) -> None:
        self.block(space_before=_mm(4))
        fmt = QTextCharFormat(self.bold)
        fmt.setFont(_font(size, bold=True))
        self.cur.insertText(as_typed(text), fmt)

    def line(self, label: str, value: str) -> None:
        self.block()
        if label:
            self.cur.insertText(f"{label}: ", self.bold)
        self.cur.insertText(as_typed(value), self.plain)

    def text(self, value: str) -> None:
        self.block()
        self.cur.insertText(as_typed(value), self.plain)

    def table(
        self,
        head: Sequence[str],
        rows: Sequence[Sequence[str]],
        colour_col: int | None = None,
    ) -> None:
        """A table of plain text cells; `colour_col`'s cells coloured by status."""
        self.block(space_before=_mm(1.5))
        fmt = QTextTableFormat()
        fmt.setCellPadding(3)
        fmt.setCellSpacing(0)
        fmt.setBorder(0.5)
        fmt.setHeaderRowCount(1)
        fmt.setWidth(QTextLength(QTextLength.Type.PercentageLength, 100))
        table = self.cur.insertTable(len(rows) + 1, len(head), fmt)
        for c, h in enumerate(head):
            table.cellAt(0, c).firstCursorPosition().insertText(h, self.bold)
        for r, row in enumerate(rows, 1):
            for c, value in enumerate(row):
                cf = QTextCharFormat(self.small)
                if c == colour_col and value in _STATUS_COLOUR:
                    cf.setForeground(QColor(_STATUS_COLOUR[value]))
                    cf.setFont(_font(7.5, bold=True))
                table.cellAt(r, c).firstCursorPosition().insertText(as_typed(value), cf)
        self.cur.movePosition(QTextCursor.MoveOperation.End)

    def image(self, name: str, image: QImage) -> None:
        self.doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), image)
        fmt = QTextImageFormat()
        fmt.setName(name)
        width = self.width / _IMAGE_UNITS
        fmt.setWidth(width)
        fmt.setHeight(width * image.height() / max(1, image.width()))
        self.block(space_before=_mm(2))
        self.cur.insertImage(fmt)


def bars_plot(counts: dict[str, int], width: int = 1400, height: int = 600) -> QImage:
    """Reports per act as bars, drawn with QPainter; labels are drawn text, never markup."""
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    left, top, bottom = 80.0, 30.0, 140.0
    box = QRectF(left, top, width - left - 20, height - top - bottom)
    p.setPen(QPen(QColor("#888888"), 1))
    p.drawLine(box.bottomLeft(), box.bottomRight())
    p.drawLine(box.bottomLeft(), box.topLeft())
    font = p.font()
    font.setPixelSize(18)
    p.setFont(font)
    top_n = max(counts.values(), default=0) or 1
    p.setPen(QColor("#444444"))
    p.drawText(QPointF(8, box.top() + 14), str(top_n))
    p.drawText(QPointF(8, box.bottom()), "0")
    n = max(1, len(counts))
    slot = box.width() / n
    for i, (label, value) in enumerate(counts.items()):
        h = box.height() * value / top_n
        bar = QRectF(box.left() + i * slot + slot * 0.15, box.bottom() - h, slot * 0.7, h)
        p.fillRect(bar, QColor("#1f5fa8"))
        p.setPen(QColor("#111111"))
        p.drawText(
            QRectF(bar.left(), bar.top() - 24, bar.width(), 22),
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
            str(value),
        )
        p.save()
        p.translate(box.left() + i * slot + slot / 2, box.bottom() + 8)
        p.rotate(30)
        p.drawText(QPointF(0, 14), as_typed(label)[:28])
        p.restore()
    p.end()
    return image


def _document(plan: Plan, metrics: dict[str, Any], width: float) -> QTextDocument:
    doc = QTextDocument()
    doc.setDocumentMargin(0)
    b = _Builder(doc, width)
    sched = Schedule.of(plan)
    b.heading("Lookout pilot after-action report", 16)
    b.line("Plan", plan.name)
    b.line("Title", plan.title)
    if plan.description:
        b.line("Description", plan.description)
    b.line("Area", plan.area_description or "(no description)")
    b.line("Time zone", plan.timezone)
    b.line(
        "Rehearsal",
        f"speed {_num(metrics.get('speed'))}x, seed {_num(metrics.get('seed'))}, "
        f"wall time {_num(metrics.get('wall_s'))} s; times below are plan time (h:mm:ss "
        "from day 1's opening, nights skipped)",
    )

    b.heading("Days")
    b.table(
        ["day", "date", "window", "title"],
        [
            [str(n), d.date.isoformat(), f"{d.start:%H:%M}-{d.end:%H:%M}", d.title]
            for n, d in enumerate(plan.days, 1)
        ],
    )
    b.heading("Participant groups")
    joined = metrics.get("participants_by_group", {})
    b.table(
        ["group", "title", "role", "planned", "joined", "active"],
        [
            [
                g.name,
                g.title,
                g.role,
                str(g.count),
                _num(joined.get(g.name, {}).get("joined")) if g.name in joined else "",
                _num(joined.get(g.name, {}).get("active")) if g.name in joined else "",
            ]
            for g in plan.groups
        ],
    )

    b.heading("Timeline: acts and injects")
    fired = {i["id"]: i for i in metrics.get("injects", [])}
    by_act = metrics.get("reports_by_act", {})
    rows: list[list[str]] = []
    for act in plan.acts:
        t0, t1 = sched.act_span(act)
        rows.append(
            [
                _hms(t0),
                "act",
                act.id,
                f"day {act.day}, {act.start:%H:%M}-{act.end:%H:%M} (to {_hms(t1)}): "
                f"{act.title or act.id}; {by_act.get(act.id, 0)} reports",
                "",
                "",
            ]
        )
        for inj in sorted(act.injects, key=lambda i: i.at_s):
            got = fired.get(inj.id, {})
            rows.append(
                [
                    _hms(t0 + inj.at_s),
                    str(got.get("kind", inj.kind if hasattr(inj, "kind") else "inject")),
                    inj.id,
                    getattr(inj, "text", "") or "",
                    _hms(got.get("fired_s")) if got.get("fired") else "not fired",
                    _num(got.get("lateness_s")) if got.get("fired") else "",
                ]
            )
    b.table(["due", "kind", "id", "what", "fired", "late (s)"], rows)
    late = metrics.get("inject_lateness_s", {})
    b.text(
        f"{_num(metrics.get('injects_fired'))} of {_num(metrics.get('injects_planned'))} "
        f"injects fired; lateness in plan seconds: median {_num(late.get('median'))}, "
        f"p99 {_num(late.get('p99'))}, max {_num(late.get('max'))}."
    )

    b.heading("Evaluation: expected officer actions")
    b.table(
        ["id", "act", "action", "trigger", "status", "done (last)", "first deadline", "in time"],
        [
            [
                e["id"],
                e["act"],
                e["action"],
                str(e.get("trigger") or ""),
                e["status"],
                _hms(e.get("done_s")),
                f"{_hms(e.get('first_due_s'))} ({_num(e.get('within_s'))} s)",
                f"{e.get('in_time', 0)}/{e.get('triggered', 0)}",
            ]
            for e in metrics.get("expected_actions", [])
        ],
        colour_col=4,
    )
    for e in metrics.get("expected_actions", []):
        if e.get("text"):
            b.line(e["id"], e["text"])
    b.text(
        f"{_num(metrics.get('expected_actions_met'))} met, "
        f"{_num(metrics.get('expected_actions_missed'))} missed."
    )

    b.heading("Objectives and targets")
    b.table(
        ["objective", "text", "target", "value", "result"],
        [
            [
                o["id"],
                o["text"],
                o.get("target") or "(judged by people)",
                _num(o.get("value")),
                {True: "met", False: "missed", None: "n/a"}[o.get("met")],
            ]
            for o in metrics.get("objectives", [])
        ],
        colour_col=4,
    )

    b.heading("Metrics")
    names = [
        "reports",
        "participants",
        "active_participants",
        "injects_fired",
        "alerts_sent",
        "alert_read_rate",
        "expected_actions_met",
        "expected_actions_missed",
        "median_time_to_first_response_s",
        "median_time_to_claim_s",
        "reports_unattributed",
        "events",
    ]
    b.table(["metric", "value"], [[n, _num(metrics.get(n))] for n in names if n in metrics])
    ttfr = metrics.get("time_to_first_response_s", {})
    b.heading("Time to first officer action per act (plan s)", 11)
    b.table(
        ["scope", "reports", "responded", "median", "p90"],
        [
            [k, _num(d["reports"]), _num(d["responded"]), _num(d["median"]), _num(d["p90"])]
            for k, d in ttfr.items()
        ],
    )
    if metrics.get("alerts"):
        b.heading("Alerts", 11)
        b.table(
            ["sent", "sender", "headline", "reach", "delivered", "read"],
            [
                [
                    _hms(a.get("sent_s")),
                    a["sender"],
                    a["headline"],
                    _num(a["reach"]),
                    _num(a["delivered"]),
                    _num(a["read"]),
                ]
                for a in metrics["alerts"]
            ],
        )

    b.heading("Reports per act")
    b.image("lookout-pilot://reports-per-act", bars_plot(dict(by_act)))
    return doc


def write_pdf(plan: Plan, metrics: dict[str, Any], path: Path) -> int:
    """Write the after-action report to `path`; returns the number of pages. Needs a
    QGuiApplication (fonts); touches no widget or screen, so any thread will do."""
    writer = QPdfWriter(str(path))
    writer.setResolution(DPI)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(0, 0, 0, 0),
        )
    )
    writer.setTitle(f"Lookout pilot after-action report: {plan.name}")
    writer.setCreator("Lookout")
    page_w, page_h = float(writer.width()), float(writer.height())
    margin = _mm(MARGIN_MM)
    body = QRectF(margin, margin, page_w - 2 * margin, page_h - 2 * margin - _mm(FOOTER_MM))
    painter = QPainter(writer)
    try:
        doc = _document(plan, metrics, body.width())
        doc.documentLayout().setPaintDevice(writer)
        doc.setPageSize(QSizeF(body.width(), body.height()))
        pages = doc.pageCount()
        for page in range(pages):
            if page:
                writer.newPage()
            painter.setFont(_font(7))
            painter.setPen(QColor("#333333"))
            foot = QRectF(margin, body.bottom() + _mm(2), body.width(), _mm(FOOTER_MM))
            painter.drawText(
                foot,
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                f"{plan.name}: after-action report, exercise data  |  page {page + 1} of {pages}",
            )
            painter.save()
            painter.translate(body.left(), body.top() - page * body.height())
            doc.drawContents(painter, QRectF(0, page * body.height(), body.width(), body.height()))
            painter.restore()
    finally:
        painter.end()
    return pages


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print(
            "usage: python -m console.pilot_report PLAN.toml METRICS.json OUT.pdf", file=sys.stderr
        )
        return 2
    plan = load(Path(args[0]))
    metrics = json.loads(Path(args[1]).read_text())
    if QGuiApplication.instance() is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QGuiApplication([sys.argv[0]])  # noqa: F841 (kept alive while writing)
    pages = write_pdf(plan, metrics, Path(args[2]))
    print(f"{args[2]}: {pages} pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
