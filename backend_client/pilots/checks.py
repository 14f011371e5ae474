"""Cross-checks of a decoded plan, each problem named by field in an inspector's words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from backend_client import messages as m
from backend_client import scenarios as sc
from backend_client.geometry import covers, polygon_problem, shape
from backend_client.pilots.model import (
    METRICS,
    TRIGGERS,
    Act,
    AlertInject,
    BurstInject,
    Expectation,
    Inject,
    Objective,
    Plan,
    Problem,
    ReportInject,
    StandIn,
    Target,
    Trigger,
    scenario_of,
)
from backend_client.pilots.schedule import Schedule, deadline, duration, hm, schedule_problems

# ---------------------------------------------------------------- checking


def check(plan: Plan, scenario_dir: Path | None = None) -> list[Problem]:
    """Every cross-field problem of a decoded plan, in file order; empty when it is usable."""
    return list(_Checker(plan, scenario_dir).run())


class _Checker:
    def __init__(self, plan: Plan, scenario_dir: Path | None) -> None:
        self.plan = plan
        self.scenario_dir = scenario_dir
        self.groups = {g.name: g for g in plan.groups}
        self.zones = {z.name for z in plan.zones}
        self.stand_ins = {s.name for s in plan.stand_ins}
        self.injects = {i.id: (a, i) for a in plan.acts for i in a.injects}
        self.inject_act = {k: a for k, (a, _) in self.injects.items()}
        self.area_ok = False
        self.sched: Schedule | None = None

    def run(self) -> Iterator[Problem]:
        plan = self.plan
        yield from self.area()
        timing = schedule_problems(plan)
        yield from timing
        if not timing:
            self.sched = Schedule.of(plan)
        yield from _duplicates("groups", "group", [g.name for g in plan.groups])
        for i, g in enumerate(plan.groups):
            if g.count < 0:
                yield Problem(
                    f"groups[{i}] ({g.name}).count",
                    f"is {g.count}; give the number of participants in the group, 0 or more",
                )
        if not any(g.role == "citizen" and g.count > 0 for g in plan.groups):
            yield Problem("groups", "no citizen group with participants: nobody would report")
        yield from _duplicates("objectives", "objective", [o.id for o in plan.objectives])
        for i, o in enumerate(plan.objectives):
            yield from self.objective(f"objectives[{i}] ({o.id}).target", o)
        yield from _duplicates("acts", "act", [a.id for a in plan.acts])
        yield from _duplicates("injects", "inject", [i.id for a in plan.acts for i in a.injects])
        yield from _duplicates(
            "expect", "expected action", [e.id for a in plan.acts for e in a.expect]
        )
        yield from _duplicates("stand_ins", "stand-in", [s.name for s in plan.stand_ins])
        for i, act in enumerate(plan.acts):
            yield from self.act(f"acts[{i}] ({act.id})", act)
        for i, s in enumerate(plan.stand_ins):
            yield from self.stand_in(f"stand_ins[{i}] ({s.name})", s)

    # -- area and zones

    def area(self) -> Iterator[Problem]:
        problem = polygon_problem(self.plan.area.coordinates)
        if problem:
            yield Problem("area", f"{problem}; the pilot area must be a shape the relay accepts")
            return
        self.area_ok = True
        area = shape(self.plan.area.coordinates)
        yield from _duplicates("zones", "zone", [z.name for z in self.plan.zones])
        for i, z in enumerate(self.plan.zones):
            where = f"zones[{i}] ({z.name})"
            problem = polygon_problem(z.coordinates)
            if problem:
                yield Problem(where, problem)
            elif not area.covers(shape(z.coordinates)):
                yield Problem(where, "reaches outside the pilot area; draw it inside the area")

    def inside(self, lat: float, lon: float) -> bool:
        return not self.area_ok or covers(self.plan.area.coordinates, lat, lon)

    def zone(self, where: str, name: str | None) -> Iterator[Problem]:
        if name is not None and name not in self.zones:
            known = ", ".join(sorted(self.zones)) or "none: add [[zones]] or leave area out"
            yield Problem(
                where, f"names zone {name!r}, which the plan does not have (zones: {known})"
            )

    # -- objectives

    def objective(self, where: str, o: Objective) -> Iterator[Problem]:
        if not o.target:
            return
        target = Target.parse(o.target)
        if target is None:
            yield Problem(
                where, f"{o.target!r} is not of the form 'metric >= number' (e.g. 'reports >= 200')"
            )
        elif target.metric not in METRICS:
            yield Problem(
                where,
                f"{target.metric!r} is not a metric a rehearsal computes (metrics: {', '.join(METRICS)})",
            )

    # -- acts

    def act(self, where: str, act: Act) -> Iterator[Problem]:
        plan = self.plan
        if plan.days and not 1 <= act.day <= len(plan.days):
            yield Problem(
                f"{where}.day",
                f"is day {act.day} but the plan has {len(plan.days)} day{'s' if len(plan.days) != 1 else ''} "
                "(days count from 1)",
            )
        length = None
        on_a_day = 1 <= act.day <= len(plan.days)
        if self.sched is not None and on_a_day:
            day = plan.days[act.day - 1]
            t_start, t_end = self.sched.act_span(act)
            w = self.sched.windows[act.day - 1]
            if t_end <= t_start:
                yield Problem(where, f"ends ({hm(act.end)}) before it starts ({hm(act.start)})")
            elif t_start < w.t0 or t_end > w.t0 + w.length_s:
                yield Problem(
                    where,
                    f"runs {hm(act.start)}-{hm(act.end)}, outside day {act.day}'s window "
                    f"({hm(day.start)}-{hm(day.end)} on {day.date}); move the act or widen the day",
                )
            else:
                length = t_end - t_start
        for name in act.groups:
            yield from self.group(f"{where}.groups", name, "citizen", "report in an act")
        resolved: sc.Resolved | None = None
        try:
            resolved = scenario_of(plan, act, self.scenario_dir)
        except sc.ScenarioError as exc:
            yield Problem(f"{where}.scenario", str(exc))
        places: dict[str, sc.Hotspot] = {}
        if resolved is not None:
            places = {h.name: h for h in resolved.hotspots()}
            for h in places.values():
                if not self.inside(h.lat, h.lon):
                    yield Problem(
                        f"{where}.scenario",
                        f"scenario {resolved.spec.name!r} has place {h.name!r} outside the pilot area; "
                        "widen the area or use another scenario",
                    )
        categories = set(resolved.categories) if resolved else set(m.CATEGORIES)
        categories |= {i.category for i in act.injects if isinstance(i, ReportInject)}
        for j, inject in enumerate(act.injects):
            yield from self.inject(
                f"{where}.injects[{j}] ({inject.id})", act, inject, length, places, resolved
            )
        for j, exp in enumerate(act.expect):
            yield from self.expectation(
                f"{where}.expect[{j}] ({exp.id})", act, exp, length, categories
            )

    def group(self, where: str, name: str, role: str, doing: str) -> Iterator[Problem]:
        group = self.groups.get(name)
        if group is None:
            known = ", ".join(self.groups) or "none"
            yield Problem(
                where, f"names group {name!r}, which the plan does not have (groups: {known})"
            )
        elif group.role != role:
            yield Problem(where, f"group {name!r} are {group.role}s; only {role} groups {doing}")

    def inject(
        self,
        where: str,
        act: Act,
        inject: Inject,
        length: float | None,
        places: dict[str, sc.Hotspot],
        resolved: sc.Resolved | None,
    ) -> Iterator[Problem]:
        end = inject.at_s + (inject.over_s if isinstance(inject, BurstInject) else 0.0)
        if inject.at_s < 0 or (length is not None and end > length):
            span = f"{duration(inject.at_s)}" + (
                f" to {duration(end)}" if isinstance(inject, BurstInject) else ""
            )
            lasts = f", which lasts {duration(length)}" if length is not None else ""
            yield Problem(
                f"{where}.at_s",
                f"falls outside act {act.id!r} ({span} after its start{lasts}); "
                "at_s counts seconds from the act's start",
            )
        if (
            isinstance(inject, ReportInject | BurstInject)
            and inject.place is not None
            and resolved is not None
            and inject.place not in places
        ):
            known = ", ".join(places) or "none"
            yield Problem(
                f"{where}.place",
                f"{inject.place!r} is not a place of scenario {resolved.spec.name!r} (places: {known})",
            )
        if isinstance(inject, ReportInject):
            has_pos = (inject.lat is not None, inject.lon is not None)
            if has_pos[0] != has_pos[1]:
                yield Problem(where, "give both lat and lon, or neither")
            elif has_pos[0] and inject.place is not None:
                yield Problem(where, "give a place or lat and lon, not both")
            elif (
                inject.lat is not None
                and inject.lon is not None
                and not self.inside(inject.lat, inject.lon)
            ):
                yield Problem(where, "its position lies outside the pilot area")
            elif inject.place is None and inject.lat is None:
                yield Problem(
                    where, "a scripted report needs a place (of the scenario) or lat and lon"
                )
            if inject.group is not None:
                yield from self.group(f"{where}.group", inject.group, "citizen", "send reports")
        if isinstance(inject, BurstInject):
            if inject.count < 1:
                yield Problem(
                    f"{where}.count", f"is {inject.count}; a burst sends 1 report or more"
                )
            if inject.over_s < 0:
                yield Problem(f"{where}.over_s", "cannot be negative")
            if (
                inject.category is not None
                and resolved is not None
                and inject.category not in resolved.categories
            ):
                yield Problem(
                    f"{where}.category",
                    f"scenario {resolved.spec.name!r} has no {inject.category} reports "
                    f"(it files {', '.join(sorted(resolved.categories))})",
                )
        if isinstance(inject, AlertInject):
            if inject.by not in self.stand_ins:
                known = ", ".join(sorted(self.stand_ins)) or "none"
                yield Problem(
                    f"{where}.by",
                    f"names stand-in {inject.by!r}, which the plan does not have (stand-ins: {known})",
                )
            yield from self.zone(f"{where}.alert.area", inject.alert.area)

    def trigger(self, where: str, text: str | None, what: str) -> Iterator[Problem | Trigger]:
        if text is None:
            yield Problem(
                where,
                f"{what} has no trigger: say what starts its clock "
                f"(trigger = {', '.join(TRIGGERS)})",
            )
            return
        trigger = Trigger.parse(text)
        if trigger is None:
            yield Problem(
                f"{where}.trigger", f"{text!r} is not a trigger (one of {', '.join(TRIGGERS)})"
            )
        elif trigger.kind == "inject" and trigger.inject not in self.inject_act:
            yield Problem(
                f"{where}.trigger",
                f"{what} has no trigger: inject {trigger.inject!r} is not in the plan",
            )
        else:
            yield trigger

    def expectation(
        self, where: str, act: Act, exp: Expectation, length: float | None, categories: set[str]
    ) -> Iterator[Problem]:
        trigger = None
        for item in self.trigger(where, exp.trigger, f"expected action {exp.id!r}"):
            if isinstance(item, Problem):
                yield item
            else:
                trigger = item
        if trigger is not None and trigger.kind == "inject":
            owner = self.inject_act[trigger.inject or ""]
            if owner.id != act.id:
                yield Problem(
                    f"{where}.trigger",
                    f"inject {trigger.inject!r} is in act {owner.id!r}, not in {act.id!r}; "
                    "an expected action waits on its own act's injects",
                )
        if exp.within_s is None or exp.within_s <= 0:
            yield Problem(
                f"{where}.within_s",
                "needs a deadline: within_s = seconds after the trigger, more than 0",
            )
        if (
            trigger is not None
            and trigger.kind in ("first_report", "each_report")
            and exp.category is not None
            and exp.category not in categories
        ):
            yield Problem(
                f"{where}.category",
                f"{exp.action} after a {exp.category} report can never be due: act {act.id!r} has no "
                f"{exp.category} reports (it has {', '.join(sorted(categories))})",
            )
        if exp.area is not None and exp.action != "alert":
            yield Problem(
                f"{where}.area", "only an expected alert has an area (the zone it must cover)"
            )
        yield from self.zone(f"{where}.area", exp.area)
        if self.sched is not None and length is not None and trigger is not None and exp.within_s:
            t, _ = deadline(exp, *self.sched.act_span(act), self.sched, self.injects)
            w = self.sched.windows[act.day - 1]
            if t is not None and t > w.t0 + w.length_s:
                due = self.sched.at(t, act.day)
                yield Problem(
                    f"{where}.within_s",
                    f"its {'last ' if trigger.kind in ('first_report', 'each_report') else ''}deadline "
                    f"({due:%H:%M}) falls after day {act.day} closes ({hm(self.plan.days[act.day - 1].end)}); "
                    "end the act earlier, shorten within_s or close the day later",
                )

    # -- stand-ins

    def stand_in(self, where: str, s: StandIn) -> Iterator[Problem]:
        yield from self.group(f"{where}.group", s.group, "officer", "have stand-ins")
        acts = {a.id for a in self.plan.acts}
        for j, do in enumerate(s.does):
            here = f"{where}.does[{j}] ({do.action})"
            trigger = None
            for item in self.trigger(here, do.trigger, f"stand-in {s.name!r}'s {do.action}"):
                if isinstance(item, Problem):
                    yield item
                else:
                    trigger = item
            if do.act is not None and do.act not in acts:
                yield Problem(f"{here}.act", f"names act {do.act!r}, which the plan does not have")
            elif trigger is not None and trigger.kind == "inject" and do.act is not None:
                owner = self.inject_act[trigger.inject or ""]
                if owner.id != do.act:
                    yield Problem(
                        f"{here}.trigger",
                        f"inject {trigger.inject!r} is in act {owner.id!r}, not {do.act!r}",
                    )
            if do.after_s < 0:
                yield Problem(f"{here}.after_s", "cannot be negative: seconds after the trigger")
            if do.action in ("chat", "first_response") and not do.text:
                yield Problem(f"{here}.text", f"a stand-in's {do.action} needs the text it sends")
            if do.action == "alert":
                if do.alert is None:
                    yield Problem(
                        f"{here}.alert",
                        "a stand-in's alert needs [alert] with headline and categories",
                    )
                else:
                    yield from self.zone(f"{here}.alert.area", do.alert.area)
            elif do.alert is not None:
                yield Problem(
                    f"{here}.alert", f"only an alert action sends an alert, not {do.action}"
                )
            if do.action == "link_incident" and not do.incident_ref:
                yield Problem(f"{here}.incident_ref", "linking to an incident needs incident_ref")


def _duplicates(where: str, what: str, names: list[str]) -> Iterator[Problem]:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            yield Problem(where, f"two {what}s are called {name!r}; give each its own")
        seen.add(name)
