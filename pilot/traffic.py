"""What a rehearsal's simulated participants will send, worked out before it starts.

Every report of a rehearsal (each act's scenario traffic at its rate, every burst and every
scripted report) is drawn here from the plan and one seed, in plan time, so two runs with
the same seed send the same reports from the same participants at the same plan times;
only the wall clock's jitter differs. The runner just replays this list.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from backend_client import messages as m
from backend_client.pilots import (
    Act,
    BurstInject,
    Plan,
    ReportInject,
    Schedule,
    scenario_of,
)
from simulator import scenarios


@dataclass(frozen=True)
class Participant:
    """One simulated phone: its group and its home (where it stands for alerts)."""

    index: int
    group: str
    lat: float
    lon: float
    categories: tuple[m.Category, ...]


@dataclass(frozen=True)
class Planned:
    """One report to send at plan time `t` from participant `device`."""

    t: float
    act: str
    device: int
    category: m.Category
    text: str
    lat: float
    lon: float
    media: str = "none"  # none | photo | video
    inject: str | None = None  # the inject it belongs to (a burst's or a scripted report)


@dataclass(frozen=True)
class Traffic:
    participants: tuple[Participant, ...]
    reports: tuple[Planned, ...]  # in plan time order


def act_scenarios(plan: Plan, scenario_dir: Path | None = None) -> dict[str, scenarios.Scenario]:
    return {a.id: scenarios.build(scenario_of(plan, a, scenario_dir)) for a in plan.acts}


def draw(plan: Plan, seed: int, scenario_dir: Path | None = None) -> Traffic:
    """The participants and every report of a checked plan, from `seed`."""
    rng = random.Random(seed)
    sched = Schedule.of(plan)
    scens = act_scenarios(plan, scenario_dir)
    citizens = [g for g in plan.groups if g.role == "citizen"]
    every: set[m.Category] = set()
    for s in scens.values():
        every.update(s.subscribe)
        every.update(k.category for k in s.kinds)
    people: list[Participant] = []
    for g in citizens:
        acts = [a for a in plan.acts if _takes_part(a, g.name)]
        for _ in range(max(g.count, 0)):
            # a home round one of the participant's acts, so zones' alerts reach some
            home_act = rng.choice(acts) if acts else None
            if home_act is not None:
                lat, lon, _place = scens[home_act.id].place_device(rng)
            else:
                lat, lon = _centre(plan)
            people.append(Participant(len(people), g.name, lat, lon, tuple(sorted(every))))
    reports: list[Planned] = []
    for act in plan.acts:
        scen = scens[act.id]
        members = [p.index for p in people if _takes_part(act, p.group)]
        if not members:
            continue
        t0, t1 = sched.act_span(act)
        rate = act.report_rate_per_min
        if rate is None:
            rate = scen.report_rate_per_min
        if rate > 0:
            for who in members:
                t = t0 + rng.expovariate(rate / 60.0)
                while t < t1:
                    reports.append(_generated(rng, scen, act, who, t))
                    t += rng.expovariate(rate / 60.0)
        for inject in act.injects:
            if isinstance(inject, BurstInject):
                for i in range(inject.count):
                    t = t0 + inject.at_s + inject.over_s * i / inject.count
                    who = rng.choice(members)
                    reports.append(
                        _generated(rng, scen, act, who, t, inject.id, inject.place, inject.category)
                    )
            elif isinstance(inject, ReportInject):
                pool = [p.index for p in people if p.group == inject.group] or members
                lat, lon = _where(rng, scen, inject)
                reports.append(
                    Planned(
                        t0 + inject.at_s,
                        act.id,
                        rng.choice(pool),
                        inject.category,
                        inject.text,
                        lat,
                        lon,
                        inject.media,
                        inject.id,
                    )
                )
    reports.sort(key=lambda r: (r.t, r.device))
    return Traffic(tuple(people), tuple(reports))


def _takes_part(act: Act, group: str) -> bool:
    return not act.groups or group in act.groups


def _centre(plan: Plan) -> tuple[float, float]:
    pts = plan.area.coordinates
    return sum(p[1] for p in pts) / len(pts), sum(p[0] for p in pts) / len(pts)


def _generated(
    rng: random.Random,
    scen: scenarios.Scenario,
    act: Act,
    who: int,
    t: float,
    inject: str | None = None,
    place: str | None = None,
    category: m.Category | None = None,
) -> Planned:
    spot = next((h for h in scen.hotspots if h.name == place), None)
    if spot is not None:
        lat, lon = scen.near(rng, spot.lat, spot.lon, spot.spread_m)
        where = spot.name
    else:
        lat, lon, where = scen.place_device(rng)
    kinds = [k for k in scen.kinds if category is None or k.category == category]
    kind = (
        scen.draw_kind(rng, where)
        if len(kinds) == len(scen.kinds)
        else rng.choices(kinds, [k.weight for k in kinds])[0]
    )
    return Planned(t, act.id, who, kind.category, kind.text(rng, where), lat, lon, "none", inject)


def _where(
    rng: random.Random, scen: scenarios.Scenario, inject: ReportInject
) -> tuple[float, float]:
    if inject.lat is not None and inject.lon is not None:
        return inject.lat, inject.lon
    spot = next((h for h in scen.hotspots if h.name == inject.place), None)
    if spot is not None:
        return spot.lat, spot.lon
    lat, lon, _ = scen.place_device(rng)
    return lat, lon
