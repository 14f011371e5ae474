"""Which act a report belongs to, from what the relay knows of it: its time and category.

Acts may overlap (Preston's day 2 runs vehicle crime, drug dealing and a missing person at
once), so a report goes to the act running at its plan time whose scenario has its
category; failing that, to any act running then. `GRACE_S` covers a report the relay
stamped a little after its act ended (a compressed run's lateness, in plan seconds).
The stand-ins, the live tracker and the metrics use this one rule, so all attribute a
report alike. Pure: an act's categories come from its scenario's file format
(`backend_client.scenarios`), so the relay can attribute without the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backend_client.pilots.model import Plan, scenario_of
from backend_client.pilots.schedule import Schedule

GRACE_S = 120.0


@dataclass(frozen=True)
class Span:
    act: str
    start: float
    end: float
    categories: frozenset[str]


@dataclass(frozen=True)
class Attribution:
    spans: tuple[Span, ...]

    @staticmethod
    def of(plan: Plan, scenario_dir: Path | None = None) -> Attribution:
        sched = Schedule.of(plan)
        spans = []
        for a in plan.acts:
            t0, t1 = sched.act_span(a)
            resolved = scenario_of(plan, a, scenario_dir)
            # the report kinds the act's scenario draws from (a mix's parts, else itself)
            cats: set[str] = {s.category or "" for s in (resolved.parts or (resolved.spec,))}
            cats.update(
                getattr(i, "category", None) or "" for i in a.injects if hasattr(i, "category")
            )
            spans.append(Span(a.id, t0, t1, frozenset(c for c in cats if c)))
        return Attribution(tuple(spans))

    def act_of(self, t: float, category: str) -> str | None:
        running = [s for s in self.spans if s.start - GRACE_S <= t <= s.end + GRACE_S]
        if not running:
            return None
        fits = [s for s in running if category in s.categories] or running
        return min(fits, key=lambda s: _distance(s, t)).act


def _distance(s: Span, t: float) -> float:
    return 0.0 if s.start <= t <= s.end else min(abs(t - s.start), abs(t - s.end))
