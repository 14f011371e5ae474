"""The plan file's tables as msgspec structs, and the small types around them.

See `backend_client.pilots` for the whole picture and `docs/pilots.md` for the format.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from backend_client import limits
from backend_client import messages as m
from backend_client import scenarios as sc

#: Where the shipped plans live (next to the package in a source checkout).
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "resources" / "pilots"

Name = Annotated[str, Meta(pattern="^[a-z0-9][a-z0-9_-]{0,63}$")]
Line = Annotated[str, Meta(min_length=1, max_length=limits.MAX_SHORT_CHARS)]
Short = Annotated[str, Meta(max_length=limits.MAX_SHORT_CHARS)]
Text = Annotated[str, Meta(max_length=limits.MAX_TEXT_CHARS)]
Ring = Annotated[
    list[tuple[m.Lon, m.Lat]], Meta(min_length=3, max_length=limits.MAX_POLYGON_POINTS)
]

#: Who a participant group is: citizens report from phones, officers work the console,
#: observers watch and take notes.
Role = Literal["citizen", "officer", "observer"]
#: What an officer is expected to do (and what a stand-in can do).
Action = Literal["alert", "first_response", "claim", "chat", "link_incident", "close"]
ACTIONS: tuple[str, ...] = (
    "alert",
    "first_response",
    "claim",
    "chat",
    "link_incident",
    "close",
)
#: The metric names an objective's target may use; the rehearsal's metrics.json carries
#: them under the same names.
METRICS: tuple[str, ...] = (
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
    "median_time_to_acknowledge_s",
    "alert_delivered_rate",
    "median_time_to_read_s",
    "retention_day_over_day",
)
TRIGGERS = ("act_start", "first_report", "each_report", "inject:<id>")


# ---------------------------------------------------------------- the file format


class _Spec(
    msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True, omit_defaults=True
):
    """Every table of a plan: a misspelt key is an error; saving leaves defaults out."""


class Zone(_Spec, frozen=True, kw_only=True):
    """A named part of the pilot area (e.g. the campus) that alerts and expectations name."""

    name: Name
    description: Short = ""
    coordinates: Ring

    @property
    def polygon(self) -> m.Polygon:
        return m.Polygon(coordinates=list(self.coordinates))


class Day(_Spec, frozen=True, kw_only=True):
    """One pilot day: its date and its daily window, local times in the plan's zone."""

    date: dt.date
    start: dt.time
    end: dt.time
    title: Short = ""


class Group(_Spec, frozen=True, kw_only=True):
    name: Name
    title: Short = ""
    role: Role
    count: int


class Objective(_Spec, frozen=True, kw_only=True):
    id: Name
    text: Line
    target: Short = ""  # "reports >= 200"; empty: judged by people, not computed


class AlertSpec(_Spec, frozen=True, kw_only=True):
    """An alert a stand-in sends; always CAP status Exercise (see `to_info`)."""

    headline: Line
    description: Text = ""
    instruction: Text = ""
    categories: Annotated[list[m.Category], Meta(min_length=1)]
    area: str | None = None  # a zone's name; None: the whole pilot area
    expires_after_s: Annotated[float, Meta(gt=0)] = 3600.0
    contact: Short = ""
    incident_ref: Short | None = None


class ReportInject(_Spec, tag="report", tag_field="kind", frozen=True, kw_only=True):
    """One scripted report, sent by a simulated participant as if a citizen saw it."""

    id: Name
    at_s: float  # seconds after the act starts
    text: Annotated[str, Meta(min_length=1, max_length=limits.MAX_TEXT_CHARS)]
    category: m.Category
    place: Short | None = None  # one of the act's scenario places
    lat: m.Lat | None = None  # or an exact position (both lat and lon)
    lon: m.Lon | None = None
    group: str | None = None  # the citizen group that sends it; None: any
    media: Literal["none", "photo", "video"] = "none"


class BurstInject(_Spec, tag="burst", tag_field="kind", frozen=True, kw_only=True):
    """`count` simulated reports drawn from the act's scenario, spread over `over_s`."""

    id: Name
    at_s: float
    count: int
    over_s: float = 60.0
    place: Short | None = None  # all of them around this place of the scenario
    category: m.Category | None = None  # in a mixed scenario: only this kind


class PromptInject(_Spec, tag="prompt", tag_field="kind", frozen=True, kw_only=True):
    """A message shown to the officers in the console (an exercise controller's prompt)."""

    id: Name
    at_s: float
    text: Annotated[str, Meta(min_length=1, max_length=limits.MAX_TEXT_CHARS)]


class AlertInject(_Spec, tag="alert", tag_field="kind", frozen=True, kw_only=True):
    """An alert a stand-in broadcasts at a set time."""

    id: Name
    at_s: float
    by: str  # a stand-in's name
    alert: AlertSpec


Inject = ReportInject | BurstInject | PromptInject | AlertInject


class Expectation(_Spec, frozen=True, kw_only=True):
    """An officer action the evaluation expects: `action` within `within_s` of `trigger`.

    `trigger` is `act_start`, `first_report` (the act's first report, of `category` if
    given), `each_report` (every such report starts its own clock) or `inject:<id>`.
    `area` (a zone's name) is what an expected alert must cover; `category` also limits
    which alerts count.
    """

    id: Name
    action: Action
    trigger: str | None = None
    within_s: float | None = None
    category: m.Category | None = None
    area: str | None = None
    text: Short = ""  # the evaluator's words: "an alert covering the campus"


class StandInAction(_Spec, frozen=True, kw_only=True):
    """What a scripted officer does, `after_s` after `trigger` (same triggers as above)."""

    action: Action
    trigger: str | None = None
    after_s: float = 0.0
    act: str | None = None  # only in this act; None: in every act
    category: m.Category | None = None  # only reports of this category
    text: Text = ""  # for chat and first_response
    alert: AlertSpec | None = None  # for alert
    incident_ref: Short = ""  # for link_incident


class StandIn(_Spec, frozen=True, kw_only=True):
    """A scripted officer, so a rehearsal without people still claims, answers, alerts."""

    name: Name
    group: str  # an officer group
    does: list[StandInAction] = []


class Act(_Spec, frozen=True, kw_only=True):
    """A scenario run on one day between two local times, with its injects and expectations."""

    id: Name
    title: Short = ""
    day: int  # 1 is the first day
    start: dt.time
    end: dt.time
    scenario: Name | sc.ScenarioSpec  # a file in resources/scenarios by name, or inline
    groups: list[str] = []  # the citizen groups taking part; empty: every citizen group
    report_rate_per_min: Annotated[float, Meta(ge=0.0, le=600.0)] | None = None
    injects: list[Inject] = []
    expect: list[Expectation] = []


class Plan(_Spec, frozen=True, kw_only=True):
    name: Name
    title: Line
    description: Text = ""
    timezone: str
    area_description: Short = ""
    area: m.Polygon
    zones: list[Zone] = []
    days: list[Day] = []
    groups: list[Group] = []
    objectives: list[Objective] = []
    acts: list[Act] = []
    stand_ins: list[StandIn] = []

    def act(self, act_id: str) -> Act:
        return next(a for a in self.acts if a.id == act_id)

    def area_of(self, zone: str | None) -> m.Polygon:
        """A zone's polygon, or the pilot area for None."""
        return self.area if zone is None else next(z.polygon for z in self.zones if z.name == zone)


# ---------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a plan: where (a field path) and what, in the inspector's words."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class PlanError(Exception):
    """A plan cannot be used; `problems` lists every one found, `source` names the file."""

    def __init__(self, source: str, problems: Iterable[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = [f"{source}: {p}" for p in self.problems]
        super().__init__("\n".join(lines) if lines else f"{source}: invalid plan")


@dataclass(frozen=True)
class Trigger:
    kind: Literal["act_start", "first_report", "each_report", "inject"]
    inject: str | None = None

    @staticmethod
    def parse(text: str) -> Trigger | None:
        if text in ("act_start", "first_report", "each_report"):
            return Trigger(text)  # type: ignore[arg-type]
        if text.startswith("inject:") and len(text) > len("inject:"):
            return Trigger("inject", text.removeprefix("inject:"))
        return None


@dataclass(frozen=True)
class Target:
    """An objective's computable target: `metric op value`, e.g. reports >= 200."""

    metric: str
    op: str
    value: float

    @staticmethod
    def parse(text: str) -> Target | None:
        match = _TARGET.fullmatch(text.strip())
        if not match:
            return None
        return Target(match["metric"], match["op"], float(match["value"]))

    def met_by(self, value: float) -> bool:
        return {
            ">=": value >= self.value,
            "<=": value <= self.value,
            "==": value == self.value,
            ">": value > self.value,
            "<": value < self.value,
        }[self.op]


_TARGET = re.compile(r"(?P<metric>[a-z_]+)\s*(?P<op>>=|<=|==|>|<)\s*(?P<value>-?\d+(\.\d+)?)")


# ---------------------------------------------------------------- small helpers on a plan


def scenario_of(plan: Plan, act: Act, scenario_dir: Path | None = None) -> sc.Resolved:
    """The act's checked scenario (its file, or its inline fields with what they mix)."""
    if isinstance(act.scenario, str):
        return sc.resolve(act.scenario, scenario_dir)
    return sc.resolve_spec(
        act.scenario, scenario_dir, where=f"{plan.name}: act {act.id!r}: scenario"
    )


def participants(plan: Plan, act: Act) -> int:
    """How many citizen participants take part in the act (its groups, or all citizens)."""
    names = set(act.groups)
    return sum(
        max(g.count, 0)
        for g in plan.groups
        if g.role == "citizen" and (not names or g.name in names)
    )


def to_info(plan: Plan, alert: AlertSpec, sent_at: float) -> m.AlertInfo:
    """The wire form of a plan's alert: CAP status Exercise, never Actual."""
    zone = next((z for z in plan.zones if z.name == alert.area), None)
    return m.AlertInfo(
        categories=list(alert.categories),
        area=plan.area_of(alert.area),
        area_desc=(zone.description or zone.name)
        if zone
        else (plan.area_description or plan.title),
        headline=alert.headline,
        description=alert.description,
        instruction=alert.instruction,
        contact=alert.contact,
        incident_ref=alert.incident_ref,
        expires_at=sent_at + alert.expires_after_s,
        status="Exercise",
    )
