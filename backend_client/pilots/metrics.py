"""A pilot's metrics (metrics.json, metrics.csv) from what the relay recorded of it.

Pure arithmetic on a `Record` (reports, officer actions, alerts, participants, already
in plan time), so the relay can compute a real pilot's metrics for `pilot.review`
(`relay/pilot_review.py` reads the record from its database) exactly as a rehearsal's
are computed (`pilot.metrics`, over the embedded relay's files).

Nothing here trusts what the runner thinks it did: the record is the relay's. The runner
contributes only what the relay cannot know: how its clock maps to plan time
(`messages.PlanTimeMap`, `timemap.mapper`), which report ids a burst produced, and when
a prompt was shown (a headless run has no console to show it on). Times are plan seconds
throughout.

The per-report times, each from the report's creation: *acknowledge*, an officer first
took it on (claimed, assigned, or moved it out of `new`); *first response*, the first
officer chat message to the reporter (the expectations' `first_response`); *first
action*, whichever officer action or chat came first. A participant is *active* on a
plan day when it sent a report or a chat message, or read an alert, that day; *retention
day over day* is, over every day but the last, the share of a day's active participants
active again the next day (pooled: the sum over days of those still active over the sum
of those active).

Privacy: the figures are counts, rates and times, with report, alert and expectation
ids; never a device, a position or a coordinate (`POSITION_KEYS` never appear).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from backend_client import messages as m
from backend_client.pilots import evaluation
from backend_client.pilots.model import (
    METRICS,
    AlertInject,
    BurstInject,
    Plan,
    PromptInject,
    ReportInject,
    Target,
)
from backend_client.pilots.running import pilot_id_of
from backend_client.pilots.schedule import Schedule
from backend_client.pilots.timemap import mapper, speed_of

#: keys that would carry a position: none is ever in metrics.json (a test walks it)
POSITION_KEYS = frozenset(("lat", "lon", "coordinates", "area", "location", "device_id"))


@dataclass
class ReportRecord:
    report_id: str
    category: str
    text: str
    created_at: float  # unix, relay clock
    t: float  # plan time
    act: str | None
    day: int
    group: str | None = None  # the participant group its device joined with
    claim_t: float | None = None
    ack_t: float | None = None
    chat_t: float | None = None
    link_t: float | None = None
    close_t: float | None = None
    first_action_t: float | None = None

    def action_t(self, action: str) -> float | None:
        return {
            "claim": self.claim_t,
            "first_response": self.chat_t,
            "chat": self.chat_t,
            "link_incident": self.link_t,
            "close": self.close_t,
        }.get(action)


@dataclass
class AlertRecord:
    alert_id: str
    sender: str
    t: float
    info: m.AlertInfo
    #: when its current version went out (relay clock): a receipt's times are of it
    out_at: float = 0.0
    reach: int = 0
    delivered: int = 0
    read: int = 0
    #: sent -> read of each receipt with a read time, plan seconds
    read_after: list[float] = field(default_factory=list)


@dataclass
class Record:
    """What the relay recorded of a pilot, in plan time."""

    reports: list[ReportRecord] = field(default_factory=list)
    alerts: list[AlertRecord] = field(default_factory=list)
    events: int = 0
    joined: dict[str, int] = field(default_factory=dict)
    active: dict[str, int] = field(default_factory=dict)
    #: group -> plan day -> participants joined by the end of it / active on it
    joined_by_day: dict[str, dict[int, int]] = field(default_factory=dict)
    active_by_day: dict[str, dict[int, set[int]]] = field(default_factory=dict)


def compute(
    plan: Plan,
    rec: Record,
    *,
    clock: m.PlanTimeMap,
    burst_reports: dict[str, list[str]] | None = None,
    prompts: dict[str, float] | None = None,
) -> dict[str, Any]:
    """metrics.json: the plan's METRICS names at the top, the detail beside them.
    `prompts` are unix times (when each prompt was shown), mapped by `clock`."""
    sched = Schedule.of(plan)
    plan_t = mapper(clock, sched)
    by_id = {r.report_id: r for r in rec.reports}
    per_act = {a.id: [r for r in rec.reports if r.act == a.id] for a in plan.acts}
    shown = {k: plan_t(v) for k, v in (prompts or {}).items()}
    injects = _injects(plan, sched, rec, by_id, burst_reports or {}, shown)
    fired_t = {i["id"]: i["fired_s"] for i in injects if i["fired"]}
    # each act's reports and the alerts as the evaluation sees them, built once (not once
    # per expectation: a reviewed plan may carry hundreds)
    seen = {a.id: _seen(per_act[a.id]) for a in plan.acts}
    sent = [evaluation.SeenAlert(a.t, tuple(a.info.categories), a.info.area) for a in rec.alerts]
    covering = _covering(plan, sent)
    expected = [
        _evaluated(plan, sched, act.id, exp, seen[act.id], sent, fired_t, covering)
        for act in plan.acts
        for exp in act.expect
    ]
    latenesses = [i["lateness_s"] for i in injects if i["fired"]]
    chat = [r.chat_t - r.t for r in rec.reports if r.chat_t is not None]
    claims = [r.claim_t - r.t for r in rec.reports if r.claim_t is not None]
    acks = [r.ack_t - r.t for r in rec.reports if r.ack_t is not None]
    reach = sum(a.reach for a in rec.alerts)
    delivered = sum(a.delivered for a in rec.alerts)
    read_n = sum(a.read for a in rec.alerts)
    read_after = [x for a in rec.alerts for x in a.read_after]
    citizen_groups = [g.name for g in plan.groups if g.role == "citizen"]
    groups = citizen_groups + sorted(set(rec.joined) - set(citizen_groups))
    per_group = {g: [r for r in rec.reports if r.group == g] for g in groups}
    participation = _participation(rec, groups)
    out: dict[str, Any] = {
        "pilot": plan.name,
        "speed": speed_of(clock),
        "reports": len(rec.reports),
        "participants": sum(rec.joined.values()),
        "active_participants": sum(rec.active.values()),
        "injects_fired": len(latenesses),
        "alerts_sent": len(rec.alerts),
        "alert_delivered_rate": _round(delivered / reach) if reach else None,
        "alert_read_rate": _round(read_n / reach) if reach else None,
        "median_time_to_read_s": _round(_pct(read_after, 50)),
        "retention_day_over_day": participation["all"]["retention_day_over_day"],
        "expected_actions_met": sum(1 for e in expected if e["met"]),
        "expected_actions_missed": sum(1 for e in expected if not e["met"]),
        # first officer chat message on a report (the expectations' `first_response`)
        "median_time_to_first_response_s": _round(_pct(chat, 50)),
        "median_time_to_claim_s": _round(_pct(claims, 50)),
        "median_time_to_acknowledge_s": _round(_pct(acks, 50)),
        "reports_by_act": {k: len(v) for k, v in per_act.items()},
        "reports_by_day": _count(f"day {r.day}" for r in rec.reports),
        "reports_by_group": {g: len(rs) for g, rs in per_group.items()},
        "reports_unattributed": sum(1 for r in rec.reports if r.act is None),
        "reports_without_group": sum(1 for r in rec.reports if r.group is None),
        "participants_by_group": {
            g.name: {
                "planned": g.count,
                "joined": rec.joined.get(g.name, 0),
                "active": rec.active.get(g.name, 0),
            }
            for g in plan.groups
            if g.role == "citizen"
        },
        "participation_by_day": participation,
        "injects": injects,
        "inject_lateness_s": {
            "max": _round(max(latenesses, default=math.nan)),
            "p99": _round(_pct(latenesses, 99)),
            "median": _round(_pct(latenesses, 50)),
        },
        "injects_planned": len(injects),
        # report created -> taken on (claim, assign, status) / first officer chat / either
        "time_to_acknowledge_s": _dists(rec.reports, per_act, per_group, "ack_t"),
        "time_to_first_response_s": _dists(rec.reports, per_act, per_group, "chat_t"),
        "time_to_first_action_s": _dists(rec.reports, per_act, per_group, "first_action_t"),
        "report_times": [
            {
                "report_id": r.report_id,
                "act": r.act,
                "group": r.group,
                "day": r.day,
                "category": r.category,
                "created_s": _round(r.t),
                "acknowledge_s": _after(r, r.ack_t),
                "first_response_s": _after(r, r.chat_t),
                "first_action_s": _after(r, r.first_action_t),
            }
            for r in rec.reports
        ],
        "expected_actions": expected,
        "alerts": [
            {
                "alert_id": a.alert_id,
                "sender": a.sender,
                "sent_s": _round(a.t),
                "headline": a.info.headline,
                "status": a.info.status,
                "reach": a.reach,
                "delivered": a.delivered,
                "read": a.read,
                "delivered_rate": _round(a.delivered / a.reach) if a.reach else None,
                "read_rate": _round(a.read / a.reach) if a.reach else None,
                "time_to_read_s": _read_dist(a.read_after),
            }
            for a in rec.alerts
        ],
        "alert_reach": reach,
        "alert_delivered": delivered,
        "alert_read": read_n,
        "time_to_read_s": _read_dist(read_after),
        "events": rec.events,
    }
    out["objectives"] = [_objective(o.id, o.text, o.target, out) for o in plan.objectives]
    return out


def _after(r: ReportRecord, t: float | None) -> float | None:
    return None if t is None else _round(t - r.t)


def _dists(
    reports: list[ReportRecord],
    per_act: dict[str, list[ReportRecord]],
    per_group: dict[str, list[ReportRecord]],
    attr: str,
) -> dict[str, Any]:
    """One per-report time's distribution: over all reports, per act, per group."""

    def dist(rs: list[ReportRecord]) -> dict[str, Any]:
        return _dist([t - r.t for r in rs if (t := getattr(r, attr)) is not None], len(rs))

    return {
        "all": dist(reports),
        "by_act": {k: dist(v) for k, v in per_act.items()},
        "by_group": {k: dist(v) for k, v in per_group.items()},
    }


def _read_dist(values: list[float]) -> dict[str, Any]:
    return {
        "read": len(values),
        "median": _round(_pct(values, 50)),
        "p90": _round(_pct(values, 90)),
    }


def _participation(rec: Record, groups: list[str]) -> dict[str, Any]:
    """Per plan day: joined by its end, active on it, and of those how many were active
    again the next day; pooled retention over the days but the last. Overall and per
    group."""

    def of(joined: dict[int, int], active: dict[int, set[int]]) -> dict[str, Any]:
        days = sorted(joined)
        out: dict[str, Any] = {}
        kept = base = 0
        for d, nxt in zip(days, [*days[1:], None] if days else [], strict=True):
            on = active.get(d, set())
            again = len(on & active.get(nxt, set())) if nxt is not None else None
            out[f"day {d}"] = {
                "joined": joined[d],
                "active": len(on),
                "active_next_day": again,
                "retention": _round(again / len(on)) if again is not None and on else None,
            }
            if again is not None:
                kept, base = kept + again, base + len(on)
        return {"retention_day_over_day": _round(kept / base) if base else None, "days": out}

    empty: dict[int, set[int]] = {}
    per = {g: of(rec.joined_by_day.get(g, {}), rec.active_by_day.get(g, empty)) for g in groups}
    days = sorted({d for j in rec.joined_by_day.values() for d in j})
    joined = {d: sum(j.get(d, 0) for j in rec.joined_by_day.values()) for d in days}
    active = {
        d: set[int]().union(*(a.get(d, set()) for a in rec.active_by_day.values())) for d in days
    }
    return {"all": of(joined, active), "by_group": per}


def _injects(
    plan: Plan,
    sched: Schedule,
    rec: Record,
    by_id: dict[str, ReportRecord],
    burst_reports: dict[str, list[str]],
    shown: dict[str, float],
) -> list[dict[str, Any]]:
    """Each inject, due and fired in plan time (`shown`: prompt id -> plan time)."""
    out = []
    for act in plan.acts:
        t0, _t1 = sched.act_span(act)
        for inject in act.injects:
            due = t0 + inject.at_s
            times: list[float] = []  # plan times it happened at
            if isinstance(inject, ReportInject):  # the scripted text, as the relay stored it
                times = [r.t for r in rec.reports if r.text == inject.text]
            elif isinstance(inject, BurstInject):
                times = [by_id[i].t for i in burst_reports.get(inject.id, []) if i in by_id]
            elif isinstance(inject, AlertInject):
                times = [
                    a.t
                    for a in rec.alerts
                    if a.sender == inject.by and a.info.headline == inject.alert.headline
                ]
            elif isinstance(inject, PromptInject) and inject.id in shown:
                times = [shown[inject.id]]
            first = min(times, default=None)
            late = first - due if first is not None else None
            row: dict[str, Any] = {
                "id": inject.id,
                "act": act.id,
                "kind": _kind(inject),
                "due_s": _round(due),
                "fired": first is not None,
                "fired_s": _round(due + late) if late is not None else None,
                "lateness_s": _round(late) if late is not None else None,
                "times": len(times) if not isinstance(inject, BurstInject) else int(bool(times)),
                "source": "runner" if isinstance(inject, PromptInject) else "relay",
            }
            if isinstance(inject, BurstInject):
                row["reports"] = len(times)
                row["planned_reports"] = inject.count
            out.append(row)
    return out


def _kind(inject: object) -> str:
    return {
        ReportInject: "report",
        BurstInject: "burst",
        PromptInject: "prompt",
        AlertInject: "alert",
    }[type(inject)]  # type: ignore[index]


def _expectation(
    plan: Plan,
    sched: Schedule,
    act_id: str,
    exp: Any,
    reports: list[ReportRecord],
    alerts: list[AlertRecord],
    fired_t: dict[str, float],
) -> dict[str, Any]:
    """The after-the-fact evaluation (`evaluation.evaluate`, the live rule, at the end)."""
    sent = [evaluation.SeenAlert(a.t, tuple(a.info.categories), a.info.area) for a in alerts]
    return _evaluated(plan, sched, act_id, exp, _seen(reports), sent, fired_t)


def _evaluated(
    plan: Plan,
    sched: Schedule,
    act_id: str,
    exp: Any,
    seen: list[evaluation.SeenReport],
    sent: list[evaluation.SeenAlert],
    fired_t: dict[str, float],
    covering: dict[str, list[evaluation.SeenAlert]] | None = None,
) -> dict[str, Any]:
    if covering is not None and exp.area in covering and exp.action == "alert":
        # the alerts covering its zone, found once per zone (`_covering`): the same
        # evaluation without testing each alert against the zone again
        sent, exp = covering[exp.area], msgspec.structs.replace(exp, area=None)
    o = evaluation.evaluate(plan, sched, act_id, exp, seen, sent, fired_t)
    return {
        "id": o.id,
        "act": o.act,
        "action": o.action,
        "trigger": o.trigger,
        "within_s": o.within_s,
        "text": o.text,
        "triggered": o.triggered,
        "in_time": o.in_time,
        "met": o.met,
        "status": o.status,
        "first_due_s": None if o.first_due_s is None else _round(o.first_due_s),
        "done_s": None if o.done_s is None else _round(o.done_s),
        "worst_delay_s": None if o.worst_delay_s is None else _round(o.worst_delay_s),
    }


def _covering(
    plan: Plan, sent: list[evaluation.SeenAlert]
) -> dict[str, list[evaluation.SeenAlert]]:
    """Per zone an alert expectation names, the alerts whose area covers it: one polygon
    test per zone and alert, however many expectations name the zone (a reviewed plan
    may carry hundreds, and a zone 2,000 points: 1.2 ms a test)."""
    named = {e.area for a in plan.acts for e in a.expect if e.action == "alert" and e.area}
    return {
        z: [a for a in sent if evaluation.covers(a.area, plan.area_of(z))]
        for z in sorted(named)
        if any(zone.name == z for zone in plan.zones)
    }


def _seen(reports: list[ReportRecord]) -> list[evaluation.SeenReport]:
    return [
        evaluation.SeenReport(
            r.report_id,
            r.t,
            r.category,
            r.text,
            r.act,
            {a: t for a in evaluation.REPORT_ACTIONS if (t := r.action_t(a)) is not None},
        )
        for r in reports
    ]


def _objective(oid: str, text: str, target: str, metrics: dict[str, Any]) -> dict[str, Any]:
    parsed = Target.parse(target) if target else None
    value = metrics.get(parsed.metric) if parsed is not None and parsed.metric in METRICS else None
    met = None if parsed is None or value is None else parsed.met_by(float(value))
    return {"id": oid, "text": text, "target": target, "value": value, "met": met}


def day_of(sched: Schedule, t: float) -> int:
    """The plan day plan time `t` falls on (a time after the last day: the last day)."""
    for w in sched.windows:
        if t < w.t0 + w.length_s:
            return w.day
    return sched.windows[-1].day if sched.windows else 1


def first_of(old: float | None, new: float) -> float:
    return new if old is None or new < old else old


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = max(0, math.ceil(q / 100.0 * len(ordered)) - 1)
    return ordered[k]


def _dist(values: list[float], reports: int) -> dict[str, Any]:
    return {
        "reports": reports,
        "responded": len(values),
        "median": _round(_pct(values, 50)),
        "p90": _round(_pct(values, 90)),
    }


def _round(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 3)


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


def write_csv(metrics: dict[str, Any], path: Path) -> None:
    """Every metric as one row (metric, scope, value): what a spreadsheet wants."""
    rows = csv_rows(metrics)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("metric", "scope", "value"))
        w.writerows(rows)


def csv_rows(metrics: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """metrics.csv's rows: first every objective metric for the pilot, then each per act,
    day, group, report, alert and expected action."""
    rows: list[tuple[str, str, Any]] = []
    for name in METRICS:
        rows.append((name, "pilot", metrics.get(name)))
    for act, n in metrics["reports_by_act"].items():
        rows.append(("reports", f"act {act}", n))
    for day, n in metrics["reports_by_day"].items():
        rows.append(("reports", day, n))
    for g, n in metrics["reports_by_group"].items():
        rows.append(("reports", f"group {g}", n))
    for g, counts in metrics["participants_by_group"].items():
        for k, v in counts.items():
            rows.append((f"participants_{k}", f"group {g}", v))
    part = metrics["participation_by_day"]
    for scope, p in [
        ("pilot", part["all"]),
        *((f"group {g}", v) for g, v in part["by_group"].items()),
    ]:
        rows.append(("retention_day_over_day", scope, p["retention_day_over_day"]))
        for day, d in p["days"].items():
            for k in ("joined", "active", "active_next_day", "retention"):
                rows.append((f"participants_{k}", f"{scope}, {day}", d[k]))
    for name in ("time_to_acknowledge", "time_to_first_response", "time_to_first_action"):
        dists = metrics[f"{name}_s"]
        scoped = [
            ("pilot", dists["all"]),
            *((f"act {k}", v) for k, v in dists["by_act"].items()),
            *((f"group {k}", v) for k, v in dists["by_group"].items()),
        ]
        for scope, d in scoped:
            for k in ("median", "p90", "responded", "reports"):
                rows.append((f"{name}_{k}" + ("_s" if k in ("median", "p90") else ""), scope, d[k]))
    for r in metrics["report_times"]:
        for k in ("acknowledge", "first_response", "first_action"):
            rows.append((f"time_to_{k}_s", f"report {r['report_id']}", r[f"{k}_s"]))
    for i in metrics["injects"]:
        rows.append(("inject_lateness_s", f"inject {i['id']}", i["lateness_s"]))
    rows.append(("inject_lateness_p99_s", "pilot", metrics["inject_lateness_s"]["p99"]))
    for e in metrics["expected_actions"]:
        rows.append(("expected_action", f"expect {e['id']}", e["status"]))
        rows.append(("expected_action_worst_delay_s", f"expect {e['id']}", e["worst_delay_s"]))
    for a in metrics["alerts"]:
        for k in ("reach", "delivered", "read", "delivered_rate", "read_rate"):
            rows.append((f"alert_{k}", f"alert {a['alert_id']}", a[k]))
    for scope, d in [
        ("pilot", metrics["time_to_read_s"]),
        *((f"alert {a['alert_id']}", a["time_to_read_s"]) for a in metrics["alerts"]),
    ]:
        for k in ("median", "p90"):
            rows.append((f"time_to_read_{k}_s", scope, d[k]))
        rows.append(("alert_read_with_time", scope, d["read"]))
    return rows


def plan_problem(plan: Plan, pilot: m.PilotInfo) -> str | None:
    """Why `plan` is not the plan `pilot` ran (None: it is). The pilot's id is the plan's
    name (`pilot_id_of`), or, for a pilot created under another id, its title is the
    plan's; either way its groups are the plan's (the metrics count by group)."""
    if pilot_id_of(plan) != pilot.pilot_id and plan.title != pilot.title:
        return (
            f"the plan {plan.name!r} ({plan.title!r}) is not the plan of pilot "
            f"{pilot.pilot_id!r} ({pilot.title!r}): choose the plan the pilot was created from"
        )
    planned = {g.name for g in plan.groups}
    groups = {g.name for g in pilot.groups}
    if planned != groups:
        missing = ", ".join(sorted(groups - planned)) or "none"
        extra = ", ".join(sorted(planned - groups)) or "none"
        return (
            f"the plan {plan.name!r} has other groups than pilot {pilot.pilot_id!r} (the pilot's "
            f"not in the plan: {missing}; the plan's not in the pilot: {extra}): choose the "
            "plan the pilot was created from"
        )
    return None
