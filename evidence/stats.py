"""Statistics for analysts over an evidence package: what was reported, where and when,
and how soon officers answered (the seeds' crime-alerting apps exist to feed figures of
under-reported crime).

Counts by category, by area (a square grid of `cell_m` metres, or inside a drawn
polygon), by hour of day and by day of week (in a time zone the caller gives), and each
report's first-response time: from the report to the first officer action on it (a
claim, status change, assignment, priority, link to an incident, or an officer's chat
reply), as the package's audit extract and chat transcripts record it.

Pure standard library, like the verifier, so an analyst's laptop and the workspace's
plots compute the same numbers; `write_csv` gives each table as CSV.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from evidence import format as f
from evidence.container import Container

__all__ = [
    "RESPONSE_ACTIONS",
    "WEEKDAYS",
    "Figures",
    "compute",
    "inside",
    "load",
    "tables",
    "write_csv",
]

#: audit actions that count as an officer answering a report
RESPONSE_ACTIONS = frozenset(
    {
        "report.claim",
        "report.set_status",
        "report.assign",
        "report.set_priority",
        "report.link",
        "chat.reply",
    }
)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_M_PER_DEG = math.pi * 6371008.8 / 180.0


@dataclass(frozen=True)
class Content:
    reports: list[dict[str, Any]]
    chat: list[dict[str, Any]]
    audit: list[dict[str, Any]]


def load(package: Path | str) -> Content:
    """The parts of a package statistics read (no verification here: see evidence.verify).

    Read through the strict container, each entry no further than the manifest's size
    for it: ContainerError, EntryError or ValueError when that cannot be done."""
    with Container(package) as zf:
        manifest = f.loads(zf.read(f.MANIFEST, f.MAX_MANIFEST_BYTES))
        sizes = {
            e.get("path"): e.get("size")
            for e in (manifest.get("files") if isinstance(manifest, dict) else None) or []
            if isinstance(e, dict)
        }

        def read(name: str) -> bytes:
            size = sizes.get(name)
            if isinstance(size, bool) or not isinstance(size, int):
                raise ValueError(f"{name} is not listed in the manifest")
            return zf.read(name, min(size, f.MAX_JSON_BYTES))

        reports = f.loads(read("reports.json"))
        chat = f.loads(read("chat.json"))
        audit = [f.loads(x) for x in read("audit.jsonl").splitlines() if x.strip()]
    if not isinstance(reports, list) or not isinstance(chat, list):
        raise ValueError("reports.json or chat.json is not a JSON array")
    return Content(list(reports), list(chat), audit)


def inside(lat: float, lon: float, ring: Sequence[Sequence[float]]) -> bool:
    """Point in polygon (`ring` of [lon, lat] corners, open or closed), by ray casting on
    the plane of degrees, as the map draws it; a point on the edge may go either way."""
    hit = False
    n = len(ring)
    for i in range(n):
        x0, y0 = ring[i][0], ring[i][1]
        x1, y1 = ring[(i + 1) % n][0], ring[(i + 1) % n][1]
        if (y0 > lat) != (y1 > lat):
            x = x0 + (lat - y0) * (x1 - x0) / (y1 - y0)
            if lon < x:
                hit = not hit
    return hit


def _cell(lat: float, lon: float, cell_m: float) -> tuple[float, float]:
    """The centre of the `cell_m` square (about; as wide in metres as it is high at its
    row's latitude) holding the point."""
    dlat = cell_m / _M_PER_DEG
    row = (math.floor(lat / dlat) + 0.5) * dlat
    dlon = dlat / max(math.cos(math.radians(row)), 0.05)
    col = (math.floor((lon + 180.0) / dlon) + 0.5) * dlon - 180.0
    return round(row, 6), round(col, 6)


@dataclass
class Figures:
    reports: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    by_hour: list[int] = field(default_factory=lambda: [0] * 24)
    by_weekday: list[int] = field(default_factory=lambda: [0] * 7)
    by_cell: Counter[tuple[float, float]] = field(default_factory=Counter)
    in_area: int | None = None  # reports inside the polygon given, if one was
    #: report id -> seconds from the report to the first officer action; None: unanswered
    response_s: dict[str, float | None] = field(default_factory=dict)

    def response_summary(self) -> dict[str, float | int | None]:
        answered = sorted(s for s in self.response_s.values() if s is not None)
        if not answered:
            return {"answered": 0, "unanswered": len(self.response_s), "median_s": None}
        p90 = answered[min(len(answered) - 1, math.ceil(0.9 * len(answered)) - 1)]
        return {
            "answered": len(answered),
            "unanswered": len(self.response_s) - len(answered),
            "median_s": statistics.median(answered),
            "p90_s": p90,
            "max_s": answered[-1],
        }


def compute(
    content: Content,
    *,
    tz: tzinfo = UTC,
    cell_m: float = 500.0,
    area: Sequence[Sequence[float]] | None = None,
) -> Figures:
    """The figures of `content`'s reports; hours and weekdays in `tz`."""
    if not (cell_m > 0 and math.isfinite(cell_m)):
        raise ValueError("the grid's cell size must be a positive number of metres")
    out = Figures(in_area=0 if area is not None else None)
    first: dict[str, float] = {}
    for rec in content.audit:
        if rec.get("action") in RESPONSE_ACTIONS and isinstance(rec.get("subject"), str):
            at = float(rec["at"])
            first[rec["subject"]] = min(at, first.get(rec["subject"], at))
    for msg in content.chat:
        if msg.get("sender") == "officer":
            at = float(msg["sent_at"])
            first[msg["report_id"]] = min(at, first.get(msg["report_id"], at))
    for r in content.reports:
        out.reports += 1
        out.by_category[str(r.get("category"))] += 1
        when = datetime.fromtimestamp(float(r["created_at"]), tz)
        out.by_hour[when.hour] += 1
        out.by_weekday[when.weekday()] += 1
        lat, lon = r.get("lat"), r.get("lon")
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            out.by_cell[_cell(float(lat), float(lon), cell_m)] += 1
            if area is not None and inside(float(lat), float(lon), area):
                out.in_area = (out.in_area or 0) + 1
        answered = first.get(str(r["report_id"]))
        created = float(r["created_at"])
        out.response_s[str(r["report_id"])] = (
            max(0.0, answered - created) if answered is not None else None
        )
    return out


def tables(fig: Figures) -> dict[str, list[Sequence[object]]]:
    """Each figure as a table: a header row, then data rows (what `write_csv` writes)."""
    return {
        "by_category": [["category", "reports"], *sorted(map(list, fig.by_category.items()))],
        "by_hour": [["hour", "reports"], *[[h, n] for h, n in enumerate(fig.by_hour)]],
        "by_weekday": [
            ["weekday", "reports"],
            *[[d, n] for d, n in zip(WEEKDAYS, fig.by_weekday, strict=True)],
        ],
        "by_cell": [
            ["cell_lat", "cell_lon", "reports"],
            *[[la, lo, n] for (la, lo), n in sorted(fig.by_cell.items())],
        ],
        "response_times": [
            ["report_id", "first_response_s"],
            *[[rid, "" if s is None else round(s, 3)] for rid, s in sorted(fig.response_s.items())],
        ],
    }


def write_csv(rows: Iterable[Sequence[object]]) -> str:
    """A table as CSV text (RFC 4180: CRLF between rows). A cell that a spreadsheet would
    run as a formula (citizen text starting with =, +, - or @) is prefixed with an
    apostrophe. A cell holding a line break of any kind is quoted (CRLF as the row end
    makes the writer quote a lone CR too, which spreadsheets take as a new row: unquoted,
    text after it would start a row of its own, a formula included)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_safe(v) for v in row])
    return buf.getvalue()


def _safe(value: object) -> object:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
