"""The inspector's after-action report as data: what `report.py` prints, section by
section (headings, label lines, tables, text, the plots' figures), built from the plan and
the rehearsal's metrics.json. No Qt: the rows and the plotted values are tested without a
printer. A heading is printed on the same page as what follows it (`report.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend_client.pilots import METRICS, Plan, Schedule


@dataclass(frozen=True)
class Heading:
    text: str
    size: float = 13


@dataclass(frozen=True)
class Line:
    label: str
    value: str


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    #: the column whose "met"/"missed" is coloured (None: none)
    colour_col: int | None = None


@dataclass(frozen=True)
class Plot:
    """Bars, one group per category (x), one bar per series in each group; a value of None
    draws no bar. `unit` names the y axis."""

    name: str
    categories: list[str]
    series: dict[str, list[float | None]]
    unit: str = ""


Section = Heading | Line | Text | Table | Plot


@dataclass
class _Sections:
    out: list[Section] = field(default_factory=list)

    def heading(self, text: str, size: float = 13) -> None:
        self.out.append(Heading(text, size))

    def line(self, label: str, value: str) -> None:
        self.out.append(Line(label, value))

    def text(self, value: str) -> None:
        self.out.append(Text(value))

    def table(
        self, header: list[str], rows: list[list[str]], colour_col: int | None = None
    ) -> None:
        self.out.append(Table(header, rows, colour_col))

    def plot(
        self,
        name: str,
        title: str,
        categories: list[str],
        series: dict[str, list[float | None]],
        unit: str = "",
    ) -> None:
        """A plot under its own heading (the title pdftotext and a reader find)."""
        self.heading(title, 11)
        self.out.append(Plot(name, categories, series, unit))


def hms(t: float | None) -> str:
    """Plan seconds as h:mm:ss of plan time ("" for none)."""
    if t is None:
        return ""
    sign, t = ("-" if t < 0 else ""), abs(t)
    h, rest = divmod(round(t), 3600)
    return f"{sign}{h}:{rest // 60:02d}:{rest % 60:02d}"


def num(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".")
    return str(v)


def sections(plan: Plan, metrics: dict[str, Any]) -> list[Section]:
    """The after-action report, section by section, from the plan and metrics.json."""
    b = _Sections()
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
        f"speed {num(metrics.get('speed'))}x, seed {num(metrics.get('seed'))}, "
        f"wall time {num(metrics.get('wall_s'))} s; times below are plan time (h:mm:ss "
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
                num(joined.get(g.name, {}).get("joined")) if g.name in joined else "",
                num(joined.get(g.name, {}).get("active")) if g.name in joined else "",
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
                hms(t0),
                "act",
                act.id,
                f"day {act.day}, {act.start:%H:%M}-{act.end:%H:%M} (to {hms(t1)}): "
                f"{act.title or act.id}; {by_act.get(act.id, 0)} reports",
                "",
                "",
            ]
        )
        for inj in sorted(act.injects, key=lambda i: i.at_s):
            got = fired.get(inj.id, {})
            rows.append(
                [
                    hms(t0 + inj.at_s),
                    str(got.get("kind", inj.kind if hasattr(inj, "kind") else "inject")),
                    inj.id,
                    getattr(inj, "text", "") or "",
                    hms(got.get("fired_s")) if got.get("fired") else "not fired",
                    num(got.get("lateness_s")) if got.get("fired") else "",
                ]
            )
    b.table(["due", "kind", "id", "what", "fired", "late (s)"], rows)
    late = metrics.get("inject_lateness_s", {})
    b.text(
        f"{num(metrics.get('injects_fired'))} of {num(metrics.get('injects_planned'))} "
        f"injects fired; lateness in plan seconds: median {num(late.get('median'))}, "
        f"p99 {num(late.get('p99'))}, max {num(late.get('max'))}."
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
                hms(e.get("done_s")),
                f"{hms(e.get('first_due_s'))} ({num(e.get('within_s'))} s)",
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
        f"{num(metrics.get('expected_actions_met'))} met, "
        f"{num(metrics.get('expected_actions_missed'))} missed."
    )

    b.heading("Objectives and targets")
    b.table(
        ["objective", "text", "target", "value", "result"],
        [
            [
                o["id"],
                o["text"],
                o.get("target") or "(judged by people)",
                num(o.get("value")),
                {True: "met", False: "missed", None: "n/a"}[o.get("met")],
            ]
            for o in metrics.get("objectives", [])
        ],
        colour_col=4,
    )

    b.heading("Metrics")
    names = [
        *METRICS,
        "reports_unattributed",
        "reports_without_group",
        "events",
    ]
    b.table(["metric", "value"], [[n, num(metrics.get(n))] for n in names if n in metrics])
    _participation(b, metrics)
    _report_times(b, metrics)
    _alerts(b, metrics)

    b.heading("Reports per group", 11)
    by_group = metrics.get("reports_by_group", {})
    b.table(["group", "reports"], [[g, num(n)] for g, n in by_group.items()])
    _plots(b, metrics)
    return b.out


def _plots(b: _Sections, metrics: dict[str, Any]) -> None:
    """The figures an evaluator looks at first, as bars: reports per day and per act,
    participation per day with its retention, time to first response per act, and each
    alert's reach, delivery and reading in the order they were sent."""
    b.heading("Plots")
    by_day = metrics.get("reports_by_day", {})
    if by_day:
        b.plot("reports-per-day", "Reports per day", list(by_day), {"reports": _values(by_day)})
    by_act = metrics.get("reports_by_act", {})
    b.plot("reports-per-act", "Reports per act", list(by_act), {"reports": _values(by_act)})
    part = (metrics.get("participation_by_day") or {}).get("all", {}).get("days", {})
    if part:
        days = list(part)
        b.plot(
            "participation-per-day",
            "Participation per day and retention (active again the next day)",
            [
                f"{day} (retention {num(d.get('retention'))})"
                if d.get("retention") is not None
                else day
                for day, d in part.items()
            ],
            {
                key.replace("_", " "): [part[day].get(key) for day in days]
                for key in ("joined", "active", "active_next_day")
            },
            "participants",
        )
    reply = (metrics.get("time_to_first_response_s") or {}).get("by_act", {})
    if reply:
        acts = list(reply)
        b.plot(
            "first-response-per-act",
            "Time to first response per act (plan s): median and p90",
            acts,
            {q: [reply[a].get(q) for a in acts] for q in ("median", "p90")},
            "plan seconds",
        )
    alerts = sorted(metrics.get("alerts") or [], key=lambda a: a.get("sent_s") or 0.0)
    if alerts:
        b.plot(
            "alert-delivery",
            "Alerts: reach, delivered and read, in the order sent (as in the alerts table)",
            [f"alert {n} ({hms(a.get('sent_s'))})" for n, a in enumerate(alerts, 1)],
            {key: [a.get(key) for a in alerts] for key in ("reach", "delivered", "read")},
            "participants",
        )


def _values(counts: dict[str, Any]) -> list[float | None]:
    return [None if v is None else float(v) for v in counts.values()]


def _participation(b: _Sections, metrics: dict[str, Any]) -> None:
    """Joined and active per day, overall then per group, and who came back the next day."""
    part = metrics.get("participation_by_day")
    if not part:
        return
    b.heading("Participation per day and retention", 11)
    scopes = [("all", part["all"]), *part.get("by_group", {}).items()]
    b.table(
        ["scope", "day", "joined", "active", "active next day", "retention"],
        [
            [
                scope,
                day,
                num(d["joined"]),
                num(d["active"]),
                num(d["active_next_day"]),
                num(d["retention"]),
            ]
            for scope, p in scopes
            for day, d in p["days"].items()
        ],
    )
    b.text(
        "Active: sent a report or a chat message, or read an alert, that day. Retention day "
        "over day (of a day's active, the share active again the next day, pooled over the "
        "days but the last): "
        + "; ".join(f"{scope} {num(p['retention_day_over_day'])}" for scope, p in scopes)
        + "."
    )


def _report_times(b: _Sections, metrics: dict[str, Any]) -> None:
    """Time to acknowledge and to first response side by side, per act and per group."""
    ack = metrics.get("time_to_acknowledge_s")
    reply = metrics.get("time_to_first_response_s")
    if not ack or not reply:
        return
    b.heading("Time to acknowledge and to first response (plan s)", 11)
    scopes: list[tuple[str, dict[str, Any], dict[str, Any]]] = [("all", ack["all"], reply["all"])]
    for kind, label in (("by_act", "act"), ("by_group", "group")):
        for k, a in ack.get(kind, {}).items():
            scopes.append((f"{label} {k}", a, reply.get(kind, {}).get(k, {})))
    rows = [
        [
            label,
            num(a["reports"]),
            num(a["responded"]),
            num(a["median"]),
            num(a["p90"]),
            num(r.get("responded")),
            num(r.get("median")),
            num(r.get("p90")),
        ]
        for label, a, r in scopes
    ]
    b.table(
        [
            "scope",
            "reports",
            "acked",
            "ack median",
            "ack p90",
            "answered",
            "answer median",
            "answer p90",
        ],
        rows,
    )
    b.text(
        "Acknowledged: an officer claimed the report, was assigned it, or moved it on from "
        "new. Answered: an officer's first chat message to the reporter. Each report's own "
        "times are in metrics.csv (time_to_acknowledge_s, time_to_first_response_s)."
    )


def _alerts(b: _Sections, metrics: dict[str, Any]) -> None:
    alerts = metrics.get("alerts")
    if not alerts:
        return
    b.heading("Alerts: delivery, reading and time to read (plan s)", 11)

    def rate(n: Any, r: Any) -> str:
        return f"{num(n)} ({100 * r:.0f}%)" if r is not None else num(n)

    b.table(
        ["sent", "sender", "headline", "reach", "delivered", "read", "read median", "read p90"],
        [
            [
                hms(a.get("sent_s")),
                a["sender"],
                a["headline"],
                num(a["reach"]),
                rate(a["delivered"], a.get("delivered_rate")),
                rate(a["read"], a.get("read_rate")),
                num(a.get("time_to_read_s", {}).get("median")),
                num(a.get("time_to_read_s", {}).get("p90")),
            ]
            for a in alerts
        ],
    )
    total = metrics.get("time_to_read_s", {})
    b.text(
        f"All alerts: reach {num(metrics.get('alert_reach'))}, delivered "
        f"{rate(metrics.get('alert_delivered'), metrics.get('alert_delivered_rate'))}, read "
        f"{rate(metrics.get('alert_read'), metrics.get('alert_read_rate'))}; time to read "
        f"(sent to read) median {num(total.get('median'))}, p90 {num(total.get('p90'))}."
    )
