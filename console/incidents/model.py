"""Incidents as the console sees them, from events, with no Qt.

`IncidentsModel.apply(event)` is O(1) per event and keeps only what incidents need: the
incidents opened, the reports linked to one (not the whole feed), the alerts carrying an
incident's ref, and the links, unlinks and merges seen live (the relay's events say who and
when). Chat is read from the session's own threads when an incident is looked at, so it is
never copied.

`summaries()` is the Incidents list; `view(ref)` is one incident: its reports, their chat,
its alerts and a timeline of all of it in time order. `duplicate_candidates()` ranks the
reports a dispatcher is likely to merge with a primary: same traffic (live or the same
pilot), not closed, same category first, then nearest in place and time.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from backend_client import messages as m
from backend_client import rules

#: how many reports the merge dialog offers besides the primary
CANDIDATES_SHOWN = 40


@dataclass(frozen=True, slots=True)
class IncidentInfo:
    ref: str
    title: str
    opened_by: str
    opened_at: float


@dataclass(frozen=True, slots=True)
class IncidentSummary:
    """One row of the Incidents list."""

    ref: str
    title: str
    reports: int
    duplicates: int
    opened_by: str
    opened_at: float | None  # None: an incident known only from its reports' links
    latest: float  # the last thing that happened in it (report, link, chat, alert)
    exercise: bool


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: float
    kind: str  # "opened", "report", "link", "unlink", "merge", "chat", "alert"
    text: str
    report_id: str | None = None


@dataclass(frozen=True, slots=True)
class IncidentView:
    info: IncidentInfo
    reports: list[m.Report]  # oldest first
    chat: list[m.ChatMessage]  # every message on its reports, in time order
    alerts: list[m.Alert]  # newest first
    timeline: list[TimelineEntry]  # in time order


@dataclass
class _Moves:
    """Links, unlinks and merges seen live, per incident."""

    entries: list[TimelineEntry] = field(default_factory=list)


class IncidentsModel:
    def __init__(self) -> None:
        self._info: dict[str, IncidentInfo] = {}
        self._reports: dict[str, dict[str, m.Report]] = {}  # ref -> report id -> report
        self._ref_of: dict[str, str] = {}  # report id -> ref
        self._alerts: dict[str, dict[str, m.Alert]] = {}  # ref -> alert id -> alert
        self._alert_ref: dict[str, str] = {}
        self._moves: dict[str, _Moves] = {}
        #: bumped on every change that shows: the widget redraws when it moved
        self.version = 0

    def clear(self) -> None:
        """Forget everything (the relay lost the history it came from)."""
        version = self.version
        self.__init__()  # type: ignore[misc]
        self.version = version + 1

    # ------------------------------------------------------------ ingest

    def opened(self, ref: str, title: str, by: str, at: float) -> None:
        if ref not in self._info:
            self._info[ref] = IncidentInfo(ref, title, by, at)
            self.version += 1

    def load(
        self,
        incidents: Iterable[IncidentInfo],
        reports: Iterable[m.Report],
        alerts: Iterable[m.Alert],
    ) -> None:
        """What the session (and its cache) already hold, before live events."""
        for i in incidents:
            self.opened(i.ref, i.title, i.opened_by, i.opened_at)
        for r in reports:
            self.report(r)
        for a in alerts:
            self.alert(a)

    def apply(self, event: m.Msg) -> None:
        if isinstance(event, m.IncidentOpened):
            self.opened(event.incident_ref, event.title, event.by, event.at)
        elif isinstance(event, m.ReportCreated):
            self.report(event.report)
        elif isinstance(event, m.ReportUpdated):
            self._moved(event)
            self.report(event.report)
        elif isinstance(event, m.AlertChanged):
            self.alert(event.alert)
        elif isinstance(event, m.ChatPosted):
            if event.message.report_id in self._ref_of:
                self.version += 1
        elif isinstance(event, m.ReportErased):
            for rid in event.report_ids:
                self._drop(rid)

    def report(self, r: m.Report) -> None:
        old = self._ref_of.get(r.report_id)
        if old is None and r.incident_ref is None:
            return  # the common case at the feed's rate: nothing to do
        if old is not None and old != r.incident_ref:
            self._drop(r.report_id)
        if r.incident_ref is not None:
            self._reports.setdefault(r.incident_ref, {})[r.report_id] = r
            self._ref_of[r.report_id] = r.incident_ref
        self.version += 1

    def alert(self, a: m.Alert) -> None:
        ref = a.info.incident_ref
        old = self._alert_ref.pop(a.alert_id, None)
        if old is not None:
            self._alerts.get(old, {}).pop(a.alert_id, None)
        if ref:
            self._alerts.setdefault(ref, {})[a.alert_id] = a
            self._alert_ref[a.alert_id] = ref
        if ref or old:
            self.version += 1

    def _moved(self, event: m.ReportUpdated) -> None:
        r, by = event.report, event.by or "the relay"
        old = self._ref_of.get(r.report_id)
        was = self._reports.get(old, {}).get(r.report_id) if old else None
        if r.incident_ref is not None and r.duplicate_of and (was is None or not was.duplicate_of):
            text = f"{r.report_id} merged as a duplicate of {r.duplicate_of} by {by}"
            self._note(r.incident_ref, TimelineEntry(event.at, "merge", text, r.report_id))
        elif r.incident_ref is not None and r.incident_ref != old:
            text = f"{r.report_id} linked by {by}"
            self._note(r.incident_ref, TimelineEntry(event.at, "link", text, r.report_id))
        if old is not None and r.incident_ref != old:
            text = f"{r.report_id} unlinked by {by}"
            self._note(old, TimelineEntry(event.at, "unlink", text, r.report_id))

    def _note(self, ref: str, entry: TimelineEntry) -> None:
        self._moves.setdefault(ref, _Moves()).entries.append(entry)

    def _drop(self, report_id: str) -> None:
        ref = self._ref_of.pop(report_id, None)
        if ref is not None:
            self._reports.get(ref, {}).pop(report_id, None)
            self.version += 1

    # ------------------------------------------------------------ read

    def refs(self) -> list[str]:
        return sorted(set(self._info) | {k for k, v in self._reports.items() if v})

    def info(self, ref: str) -> IncidentInfo:
        return self._info.get(ref) or IncidentInfo(ref, "(opened before this console)", "?", 0.0)

    def reports_of(self, ref: str) -> list[m.Report]:
        return sorted(self._reports.get(ref, {}).values(), key=lambda r: r.created_at)

    def incident_of(self, report_id: str) -> str | None:
        return self._ref_of.get(report_id)

    def summaries(self, chats: Mapping[str, list[m.ChatMessage]]) -> list[IncidentSummary]:
        """Every incident, most recently active first."""
        out = []
        for ref in self.refs():
            info = self.info(ref)
            reports = self.reports_of(ref)
            times = [info.opened_at]
            times += [r.created_at for r in reports]
            times += [c.sent_at for r in reports for c in chats.get(r.report_id, ())[-1:]]
            times += [a.sent_at for a in self._alerts.get(ref, {}).values()]
            times += [e.at for e in self._moves.get(ref, _Moves()).entries]
            out.append(
                IncidentSummary(
                    ref=ref,
                    title=info.title,
                    reports=len(reports),
                    duplicates=sum(1 for r in reports if r.duplicate_of),
                    opened_by=info.opened_by,
                    opened_at=info.opened_at if ref in self._info else None,
                    latest=max(times),
                    exercise=any(r.exercise for r in reports),
                )
            )
        out.sort(key=lambda s: s.latest, reverse=True)
        return out

    def view(self, ref: str, chats: Mapping[str, list[m.ChatMessage]]) -> IncidentView:
        info = self.info(ref)
        reports = self.reports_of(ref)
        chat = sorted(
            (c for r in reports for c in chats.get(r.report_id, ())), key=lambda c: c.sent_at
        )
        alerts = sorted(self._alerts.get(ref, {}).values(), key=lambda a: -a.sent_at)
        timeline: list[TimelineEntry] = []
        if ref in self._info:
            timeline.append(
                TimelineEntry(info.opened_at, "opened", f"Incident opened by {info.opened_by}")
            )
        for r in reports:
            words = " ".join(r.text.split())
            timeline.append(
                TimelineEntry(
                    r.created_at,
                    "report",
                    f"{r.report_id} reported ({rules.category_label(r.category)}): {words}",
                    r.report_id,
                )
            )
        timeline += self._moves.get(ref, _Moves()).entries
        for c in chat:
            who = c.author if c.sender == "officer" else f"{c.author} (citizen)"
            timeline.append(TimelineEntry(c.sent_at, "chat", f"{who}: {c.text}", c.report_id))
        for a in alerts:
            timeline.append(
                TimelineEntry(a.sent_at, "alert", f"Alert {a.state}: {a.info.headline}", None)
            )
        timeline.sort(key=lambda e: e.at)
        return IncidentView(info, reports, chat, alerts, timeline)


# ---------------------------------------------------------------- actions' helpers


def suggested_title(report: m.Report) -> str:
    """A new incident's title from its first report (the officer may change it)."""
    words = " ".join(report.text.split())
    title = f"{rules.category_label(report.category)}: {words}" if words else report.category
    return title if len(title) <= 80 else title[:79] + "…"


def same_traffic(a: m.Report, b: m.Report) -> bool:
    """Live with live, or the same pilot's exercise: what may share an incident."""
    return a.pilot_id == b.pilot_id


def linkable(reports: list[m.Report]) -> str | None:
    """Why these reports cannot go into one incident together, or None."""
    if len({r.pilot_id for r in reports}) > 1:
        return "Live and exercise reports cannot share an incident."
    return None


def duplicate_candidates(
    primary: m.Report, reports: Iterable[m.Report], limit: int = CANDIDATES_SHOWN
) -> list[m.Report]:
    """Reports likely to repeat `primary`, best first (see the module docstring)."""

    def distance_m(r: m.Report) -> float:
        dlat = math.radians(r.lat - primary.lat)
        dlon = math.radians(r.lon - primary.lon) * math.cos(math.radians(primary.lat))
        return 6_371_000.0 * math.hypot(dlat, dlon)

    pool = (
        r
        for r in reports
        if r.report_id != primary.report_id
        and same_traffic(r, primary)
        and r.status != "closed"
        and not r.duplicate_of
    )
    # half a kilometre counts as much as half an hour; one pass, even over a long shift
    return heapq.nsmallest(
        limit,
        pool,
        key=lambda r: (
            r.category != primary.category,
            distance_m(r) / 500.0 + abs(r.created_at - primary.created_at) / 1800.0,
        ),
    )
