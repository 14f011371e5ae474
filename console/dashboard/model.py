"""The dashboard's numbers, from events, with no Qt: cheap to ingest, cheap to read.

Ingesting is O(1) per event (reports are counted into fixed 5-minute bins as they arrive) so
it keeps up with the feed at any rate; reading the series costs only the bins on screen, so
the widget can redraw on a slow timer. Only categories, counts and times are kept: never a
report's text or position.

"First response" is the time from a report's creation to the first thing an officer did
about it: the first `report.updated` with `by` set (claim, status, priority, link) or the
first officer chat message on it. `ingest()` takes wire events and is exact; `observe_report`
serves callers that only see the report itself (it infers an officer action from a change
in status, claim, priority or incident and times it when it is observed).

Exercise traffic (a pilot's reports, their chat, its alerts) is left out of every number by
default, as docs/protocol.md asks of statistics: it is only counted apart
(`exercise_reports`), so the dashboard can say how many it did not count.
`include_exercise=True` counts it like live traffic.
"""

from __future__ import annotations

import bisect
import statistics
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from backend_client import messages as m
from backend_client import rules
from console.common.exercise import is_exercise_report

BIN_S = 300.0
WINDOW_S = 7200.0
#: how long a report waits for its first response before the dashboard forgets it
KEEP_S = 24 * 3600.0
#: first-response histogram bin edges, in minutes (the last bin is open-ended)
RESPONSE_EDGES_MIN = (0.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0)


#: a median of fewer first responses than this says nothing yet, so none is shown
MIN_MEDIAN_SAMPLES = 3


def duration_text(seconds: float) -> str:
    """A short duration as a dispatcher reads it: "40 s" under a minute, else "2.5 min"."""
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def median_text(median_s: float | None, samples: int) -> str:
    """The summary's median first response: "—" until there are enough samples."""
    if median_s is None or samples < MIN_MEDIAN_SAMPLES:
        return "—"
    return duration_text(median_s)


def response_labels(edges: tuple[float, ...] = RESPONSE_EDGES_MIN) -> list[str]:
    out = [f"{a:g}–{b:g}" for a, b in zip(edges, edges[1:], strict=False)]
    return [*out, f"{edges[-1]:g}+"]


def count_top(highest: int) -> float:
    """The top of a count axis: headroom enough that the highest tick keeps its label
    (pyqtgraph drops a label that would cross the plot's edge, as "1" did on a short chart)."""
    return max(highest, 1) * 1.3


def curve_label(alert_id: str, categories: Iterable[str]) -> str:
    """A delivery curve's legend entry: the alert and who it was sent to, in the labels
    every other screen uses for those categories."""
    return f"{alert_id} ({', '.join(rules.category_label(c) for c in categories)})"


@dataclass(frozen=True)
class ReportBins:
    starts: list[float]  # unix seconds at the start of each bin, oldest first
    counts: dict[str, list[int]]  # category -> count per bin (only categories seen)

    def total(self) -> int:
        return sum(sum(c) for c in self.counts.values())


@dataclass
class DeliveryCurve:
    alert_id: str
    categories: tuple[str, ...]
    sent_at: float
    state: str
    recipients: int = 0
    minutes: list[float] = field(default_factory=list)  # since sent_at
    delivered: list[int] = field(default_factory=list)
    read: list[int] = field(default_factory=list)


_OFFICER_FIELDS = ("status", "claimed_by", "priority", "incident_ref")


class DashboardStats:
    def __init__(
        self, window_s: float = WINDOW_S, bin_s: float = BIN_S, include_exercise: bool = False
    ) -> None:
        self.window_s = window_s
        self.bin_s = bin_s
        self.include_exercise = include_exercise
        #: exercise reports seen and not counted (ids only, to count each once)
        self._exercise: set[str] = set()
        #: bumped on every change that alters a series (the widget redraws only then)
        self.version = 0
        self._bins: dict[int, Counter[str]] = {}
        self._created: dict[str, float] = {}  # reports still awaiting a first response
        self._answered: set[str] = set()
        self._snapshot: dict[str, tuple[object, ...]] = {}
        self._responses: deque[tuple[float, float]] = deque()  # (responded at, seconds)
        self._curves: dict[str, DeliveryCurve] = {}

    def clear(self) -> None:
        """Forget every count (the relay lost the history they came from; its replay
        from seq 0 counts again)."""
        version = self.version
        self.__init__(self.window_s, self.bin_s, self.include_exercise)  # type: ignore[misc]
        self.version = version + 1

    # ------------------------------------------------------------ ingest

    def ingest(self, event: m.Msg) -> None:
        """One officer event from the wire (others are ignored)."""
        if isinstance(event, m.ReportCreated | m.ReportUpdated) and self._left_out(event.report):
            return
        if isinstance(event, m.ChatPosted) and not self.counts_chat(event.message):
            return
        if isinstance(event, m.AlertChanged) and not self.counts_alert(event.alert):
            return
        if isinstance(event, m.ReportCreated):
            self.report_seen(event.report.report_id, event.report.category, event.report.created_at)
            self._snapshot[event.report.report_id] = _officer_fields(event.report)
        elif isinstance(event, m.ReportUpdated):
            r = event.report
            self.report_seen(r.report_id, r.category, r.created_at)
            self._snapshot[r.report_id] = _officer_fields(r)
            if event.by is not None:
                self.officer_action(r.report_id, event.at)
        elif isinstance(event, m.ChatPosted):
            if event.message.sender == "officer":
                self.officer_action(event.message.report_id, event.message.sent_at)
        elif isinstance(event, m.AlertChanged):
            self.alert_progress(event.alert, event.at)
        elif isinstance(event, m.ReportErased):  # counted as seen; no longer awaiting anyone
            for report_id in event.report_ids:
                self._created.pop(report_id, None)
                self._snapshot.pop(report_id, None)
                if report_id in self._exercise:
                    self._exercise.discard(report_id)
                    self.version += 1

    @property
    def exercise_reports(self) -> int:
        """Exercise reports seen and left out of the numbers (0 when they are counted)."""
        return len(self._exercise)

    def _left_out(self, report: m.Report) -> bool:
        if self.include_exercise or not is_exercise_report(report):
            return False
        if report.report_id not in self._exercise:
            self._exercise.add(report.report_id)
            self.version += 1
        return True

    def counts_chat(self, msg: m.ChatMessage) -> bool:
        """Whether this chat message counts (an exercise report's chat does not)."""
        exercise = msg.exercise or msg.pilot_id is not None or msg.report_id in self._exercise
        return self.include_exercise or not exercise

    def counts_alert(self, alert: m.Alert) -> bool:
        """Whether this alert counts: a pilot's (Exercise) alert does not."""
        return self.include_exercise or alert.info.pilot_id is None

    def observe_report(self, report: m.Report, at: float) -> None:
        """A report as the console saw it, at `at` (see the module docstring)."""
        if self._left_out(report):
            return
        fields = _officer_fields(report)
        before = self._snapshot.get(report.report_id)
        self._snapshot[report.report_id] = fields
        new = self.report_seen(report.report_id, report.category, report.created_at)
        if new and (report.status != "new" or report.claimed_by is not None):
            # first seen already handled (from the cache, or replayed): when is unknown
            self._created.pop(report.report_id, None)
            self._answered.add(report.report_id)
        elif not new and before is not None and before != fields:
            self.officer_action(report.report_id, at)

    def report_seen(self, report_id: str, category: str, created_at: float) -> bool:
        """Count a report once, in the bin of its creation; True if it was new."""
        if report_id in self._created or report_id in self._answered:
            return False
        key = int(created_at // self.bin_s)
        self._bins.setdefault(key, Counter())[category] += 1
        self._created[report_id] = created_at
        self.version += 1
        return True

    def officer_action(self, report_id: str, at: float) -> None:
        """Record the first officer action on a report (later ones change nothing)."""
        created = self._created.pop(report_id, None)
        if created is None:
            return  # already answered, or never seen
        self._answered.add(report_id)
        self._responses.append((at, max(0.0, at - created)))
        self.version += 1

    def alert_progress(self, alert: m.Alert, at: float) -> None:
        curve = self._curves.get(alert.alert_id)
        if curve is None or (curve.sent_at != alert.sent_at and alert.msg_type == "Update"):
            # a new alert, or an update (counts restart from zero for the new content)
            curve = DeliveryCurve(
                alert.alert_id, tuple(alert.info.categories), alert.sent_at, alert.state
            )
            curve.minutes.append(0.0)
            curve.delivered.append(0)
            curve.read.append(0)
            self._curves[alert.alert_id] = curve
        curve.state = alert.state
        curve.recipients = alert.recipients
        point = (alert.delivered, alert.read)
        if (curve.delivered[-1], curve.read[-1]) != point:
            curve.minutes.append(max(0.0, (at - curve.sent_at) / 60.0))
            curve.delivered.append(alert.delivered)
            curve.read.append(alert.read)
        self.version += 1

    def prune(self, now: float) -> None:
        """Forget what no series can show any more."""
        oldest_bin = int((now - self.window_s) // self.bin_s) - 1
        for key in [k for k in self._bins if k < oldest_bin]:
            del self._bins[key]
        while self._responses and self._responses[0][0] < now - self.window_s:
            self._responses.popleft()
        for rid in [r for r, t in self._created.items() if t < now - KEEP_S]:
            del self._created[rid]
            self._snapshot.pop(rid, None)
        # answered ids are kept only to refuse a second count; drop their snapshots
        for rid in [r for r in self._snapshot if r in self._answered]:
            del self._snapshot[rid]

    # ------------------------------------------------------------ series

    def report_bins(self, now: float) -> ReportBins:
        """Reports per bin and category over the window, the current (partial) bin last."""
        last = int(now // self.bin_s)
        n = max(1, round(self.window_s / self.bin_s))
        keys = range(last - n + 1, last + 1)
        cats = sorted({c for k in keys for c in self._bins.get(k, ())}, key=_category_order)
        counts = {c: [self._bins.get(k, Counter())[c] for k in keys] for c in cats}
        return ReportBins([k * self.bin_s for k in keys], counts)

    def response_times(self, now: float) -> list[float]:
        """Seconds to first response, for responses within the window."""
        return [s for at, s in self._responses if at >= now - self.window_s]

    def median_response(self, now: float) -> float | None:
        times = self.response_times(now)
        return statistics.median(times) if times else None

    def response_histogram(
        self, now: float, edges_min: tuple[float, ...] = RESPONSE_EDGES_MIN
    ) -> list[int]:
        out = [0] * len(edges_min)
        for s in self.response_times(now):
            out[max(0, bisect.bisect_right(edges_min, s / 60.0) - 1)] += 1
        return out

    def awaiting_response(self, now: float) -> int:
        """Reports created within the window that no officer has acted on yet."""
        return sum(1 for t in self._created.values() if t >= now - self.window_s)

    def delivery_curves(self, now: float, limit: int = 5) -> list[DeliveryCurve]:
        """The `limit` most recently sent alerts still worth watching (sent within the
        window, or still active or awaiting approval), newest first."""
        live = [
            c
            for c in self._curves.values()
            if c.sent_at >= now - self.window_s or c.state in ("active", "pending_approval")
        ]
        return sorted(live, key=lambda c: c.sent_at, reverse=True)[:limit]


def _officer_fields(r: m.Report) -> tuple[object, ...]:
    return tuple(getattr(r, f) for f in _OFFICER_FIELDS)


def _category_order(category: str) -> int:
    cats: tuple[str, ...] = rules.CATEGORIES
    return cats.index(category) if category in cats else len(cats)
