"""What an export holds and how it reaches the disk, with no Qt: testable on its own.

An export is audited by the relay before the file exists (`export.audit`, then
`export.audited`), so the console renders first (the audit names the bytes by their
SHA-256), asks, and only then writes, whole or not at all (a temporary file beside the
target, then `os.replace`). The scope names the view in the console's words (filters,
"map view", an incident's reference), never in a citizen's.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from backend_client import exports
from backend_client import messages as m
from backend_client.exports import files
from backend_client.limits import MAX_SHORT_CHARS

#: where an export comes from: decides its kind (the dialog offers no choice of kind)
Source = Literal["feed", "map", "incident"]
SOURCE_KIND: dict[Source, exports.Kind] = {
    "feed": "reports",
    "map": "reports",
    "incident": "incidents",
}
FORMAT_LABELS: dict[exports.Format, str] = {
    "geojson": "GeoJSON (RFC 7946): GIS tools, TAK, web maps",
    "kml": "KML 2.2: Google Earth, TAK",
    "csv": "CSV (UTF-8): spreadsheets, Ushahidi, statistics",
}


@dataclass(frozen=True)
class ExportJob:
    """One view's items, ready to render. For the map view the alerts shown go into
    GeoJSON and KML beside the reports; a CSV holds one kind, the reports."""

    source: Source
    scope: str
    reports: Sequence[m.Report] = ()
    alerts: Sequence[m.Alert] = ()
    incidents: Sequence[exports.IncidentSummary] = ()
    #: when the view was taken (unix seconds): names the default file
    taken_at: float = field(default_factory=time.time)

    @property
    def kind(self) -> exports.Kind:
        return SOURCE_KIND[self.source]

    def count(self, fmt: exports.Format) -> int:
        """How many items the file in `fmt` holds (CSV: the kind's rows only)."""
        if self.kind == "incidents":
            return len(self.incidents)
        if fmt == "csv":
            return len(self.reports)
        return len(self.reports) + len(self.alerts)

    def kinds(self, fmt: exports.Format) -> tuple[exports.Kind, ...]:
        """Every kind the file in `fmt` holds, its own kind first: a map view's GeoJSON or
        KML also holds the alerts on it, and its audit record says so."""
        if self.kind == "reports" and fmt != "csv" and self.alerts:
            return ("reports", "alerts")
        return (self.kind,)

    def is_empty(self) -> bool:
        return not (self.reports or self.alerts or self.incidents)


@dataclass(frozen=True)
class Rendered:
    data: bytes
    fmt: exports.Format
    count: int
    sha256: str


def render(job: ExportJob, fmt: exports.Format, bom: bool = False) -> Rendered:
    """The file's bytes, by the same writers as `lookout-relay export`."""
    alerts = () if fmt == "csv" else job.alerts
    data = exports.render(job.kind, fmt, job.reports, alerts, job.incidents, bom=bom)
    return Rendered(data, fmt, job.count(fmt), hashlib.sha256(data).hexdigest())


def default_name(job: ExportJob, fmt: exports.Format) -> str:
    """`lookout-feed-20261202-0358.geojson`: the view and the time, in UTC."""
    stamp = datetime.fromtimestamp(job.taken_at, UTC).strftime("%Y%m%d-%H%M")
    what = (
        job.incidents[0].incident_ref if job.source == "incident" and job.incidents else job.source
    )
    return f"lookout-{_safe(what)}-{stamp}{exports.SUFFIXES[fmt]}"


def with_suffix(path: Path, fmt: exports.Format) -> Path:
    """The path the user gave, with the format's ending if it had none of its own."""
    suffix = exports.SUFFIXES[fmt]
    return path if path.suffix.lower() == suffix else path.with_name(path.name + suffix)


def audit_request(job: ExportJob, rendered: Rendered, path: Path) -> m.ExportAudit:
    """What the relay audits: numbers, the digest and names, none of the items' text."""
    return m.ExportAudit(
        id="",
        idem=uuid.uuid4().hex,
        kind=job.kind,
        kinds=list(job.kinds(rendered.fmt)),
        format=rendered.fmt,
        count=rendered.count,
        sha256=rendered.sha256,
        scope=_cut(job.scope),
        filename=_cut(path.name),
    )


def write_atomically(path: Path, data: bytes) -> Path:
    """Whole or not at all, readable by this user only (`files.write_private`)."""
    return files.write_private(path, data)


# ------------------------------------------------------------ what each view holds


def feed_scope(
    statuses: Iterable[str],
    categories: Iterable[str] | None,
    window_s: float | None,
    search: str,
    hide_exercise: bool,
    shown: int,
) -> str:
    """The feed's filters in words: `feed: filter new, claimed; burglary; last 3600 s;
    search "van"; 12 rows`."""
    parts = [", ".join(sorted(statuses)) or "no status"]
    if categories is not None:
        parts.append(", ".join(sorted(categories)) or "no category")
    if window_s is not None:
        parts.append(f"last {int(window_s)} s")
    if search:
        parts.append(f'search "{search[:40]}"')
    if hide_exercise:
        parts.append("no exercise traffic")
    return f"feed: filter {'; '.join(parts)}; {shown} rows"


def map_reports(
    reports: Iterable[m.Report],
    shows: Callable[[m.Report], bool],
    hide_exercise: bool,
    bounds: tuple[float, float, float, float] | None = None,
) -> list[m.Report]:
    """The reports the map shows: the feed's filters, exercise traffic if not hidden, and
    inside `bounds` (west, south, east, north) when the map's view is known."""
    out = []
    for r in reports:
        if not shows(r) or (hide_exercise and r.exercise):
            continue
        if bounds is not None:
            west, south, east, north = bounds
            if not (west <= r.lon <= east and south <= r.lat <= north):
                continue
        out.append(r)
    return sorted(out, key=lambda r: (-r.created_at, r.report_id))


def incident_summary(
    ref: str, title: str, opened_by: str, opened_at: float, reports: Sequence[m.Report]
) -> exports.IncidentSummary:
    return exports.IncidentSummary(
        incident_ref=ref,
        title=title,
        opened_at=opened_at,
        opened_by=opened_by,
        reports=tuple(reports),
        exercise=bool(reports) and all(r.exercise for r in reports),
    )


def feed_job(shown: Sequence[m.Report], scope: str) -> ExportJob:
    """What the feed shows: its filtered rows, top (newest) first."""
    return ExportJob("feed", scope, reports=tuple(shown))


def map_job(reports: Sequence[m.Report], alerts: Sequence[m.Alert], bounded: bool) -> ExportJob:
    where = "map view" if bounded else "map view (everything on the map)"
    scope = f"{where}: {_n(len(reports), 'report')}, {_n(len(alerts), 'alert')}"
    return ExportJob("map", scope, reports=tuple(reports), alerts=tuple(alerts))


def incident_job(summary: exports.IncidentSummary) -> ExportJob:
    scope = f"incident {summary.incident_ref}: {_n(len(summary.reports), 'report')}"
    return ExportJob("incident", scope, incidents=(summary,))


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:60] or "export"


def _cut(text: str) -> str:
    return text if len(text) <= MAX_SHORT_CHARS else text[: MAX_SHORT_CHARS - 1] + "…"
