"""Pilot plans: the Preston plan loads, every check says what is wrong where, plan time.

Each validation case plants one mistake in an otherwise clean small plan and asserts both
the field path and the inspector-facing words of the problem it causes (and that it causes
problems at that field only).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend_client import pilots
from backend_client import scenarios as scenario_files
from simulator import cli
from simulator import scenarios as sim_scenarios

ROOT = Path(__file__).resolve().parents[2]
PRESTON = ROOT / "resources" / "pilots" / "preston-2017.toml"
LONDON = ZoneInfo("Europe/London")


@pytest.fixture(scope="module")
def preston() -> pilots.Plan:
    return pilots.load(PRESTON)


# ---------------------------------------------------------------- the Preston plan


def test_preston_plan_reproduces_the_pilot(preston: pilots.Plan) -> None:
    assert preston.name == "preston-2017" and preston.timezone == "Europe/London"
    assert [d.date for d in preston.days] == [
        dt.date(2017, 11, 21),
        dt.date(2017, 11, 22),
        dt.date(2017, 11, 23),
    ]
    assert sum(g.count for g in preston.groups) > 60
    assert {
        "police",
        "city-council",
        "environmental-health",
        "university-security",
        "students",
    } <= {g.name for g in preston.groups}
    by_day: dict[int, list[str]] = {}
    for act in preston.acts:
        by_day.setdefault(act.day, []).append(
            act.scenario if isinstance(act.scenario, str) else "inline"
        )
    assert by_day == {
        1: ["inline", "burglary"],
        2: ["vehicle", "drugs", "missing_person"],
        3: ["drugs", "fly_tipping", "antisocial"],
    }
    # officers broadcast appeals for information, videos and images
    alerts = [i.alert for a in preston.acts for i in a.injects if isinstance(i, pilots.AlertInject)]
    alerts += [d.alert for s in preston.stand_ins for d in s.does if d.alert is not None]
    assert any("video" in (a.instruction + a.description) for a in alerts)
    assert pilots.expected_reports(preston) > 200


def test_the_campus_alert_expectation_is_modelled(preston: pilots.Plan) -> None:
    exp = next(e for e in preston.act("burglary").expect if e.action == "alert")
    assert (exp.trigger, exp.category, exp.area, exp.within_s) == (
        "first_report",
        "burglary",
        "campus",
        600,
    )
    missing = next(e for e in preston.act("missing-person").expect if e.action == "first_response")
    assert (missing.trigger, missing.category, missing.within_s) == (
        "each_report",
        "missing_person",
        300,
    )


def test_every_expected_action_has_a_stand_in_that_can_meet_it(preston: pilots.Plan) -> None:
    """So a headless rehearsal exercises every metric, not only the report count."""
    for act in preston.acts:
        for exp in act.expect:
            doers = [
                d
                for s in preston.stand_ins
                for d in s.does
                if d.action == exp.action
                and d.act in (None, act.id)
                and (d.category is None or d.category == exp.category)
                and (exp.within_s is not None and d.after_s <= exp.within_s)
            ]
            assert doers, f"nobody stands in for {act.id}/{exp.id}"


def test_alerts_leave_as_exercise_with_their_zone(preston: pilots.Plan) -> None:
    alert = next(d.alert for s in preston.stand_ins for d in s.does if d.alert is not None)
    info = pilots.to_info(preston, alert, sent_at=1000.0)
    assert info.status == "Exercise"
    assert info.area == preston.area_of("campus") and info.expires_at == 1000.0 + 3600.0


def test_every_scripted_report_is_inside_the_area(preston: pilots.Plan) -> None:
    places = {
        act.id: {h.name for h in pilots.scenario_of(preston, act).hotspots()}
        for act in preston.acts
    }
    for act in preston.acts:
        for inject in act.injects:
            if isinstance(inject, pilots.ReportInject):
                assert inject.place in places[act.id]


# ---------------------------------------------------------------- the shared scenario model


def test_every_scenario_file_loads_through_the_shared_model() -> None:
    names = scenario_files.available()
    assert {"burglary", "vehicle", "drugs", "missing_person", "fly_tipping", "antisocial"} <= set(
        names
    )
    for name in names:
        resolved = scenario_files.resolve(name)
        runtime = sim_scenarios.load(name)
        assert {k.category for k in runtime.kinds} == resolved.categories
        assert [h.name for h in runtime.hotspots] == [h.name for h in resolved.hotspots()]


def test_an_inline_scenario_builds_the_same_runtime(preston: pilots.Plan) -> None:
    training = preston.act("training")
    assert isinstance(training.scenario, scenario_files.ScenarioSpec)
    runtime = sim_scenarios.build(pilots.scenario_of(preston, training))
    assert runtime.name == "training" and runtime.kinds[0].category == "other"


# ---------------------------------------------------------------- checks, one mistake at a time


def _base() -> dict[str, Any]:
    """A small clean plan: one day, one act of the burglary scenario, one stand-in."""
    return {
        "name": "small",
        "title": "Small",
        "timezone": "Europe/London",
        "area": {
            "coordinates": [
                [-2.7200, 53.7580],
                [-2.7200, 53.7700],
                [-2.7000, 53.7700],
                [-2.7000, 53.7580],
            ]
        },
        "zones": [
            {
                "name": "campus",
                "coordinates": [
                    [-2.7150, 53.7620],
                    [-2.7150, 53.7670],
                    [-2.7050, 53.7670],
                    [-2.7050, 53.7620],
                ],
            }
        ],
        "days": [{"date": dt.date(2017, 11, 21), "start": dt.time(9), "end": dt.time(17)}],
        "groups": [
            {"name": "students", "role": "citizen", "count": 40},
            {"name": "police", "role": "officer", "count": 4},
        ],
        "objectives": [{"id": "volume", "text": "Reports", "target": "reports >= 20"}],
        "acts": [
            {
                "id": "burglary",
                "day": 1,
                "start": dt.time(10),
                "end": dt.time(11),
                "scenario": "burglary",
                "injects": [
                    {
                        "kind": "report",
                        "id": "first",
                        "at_s": 300,
                        "text": "Window smashed",
                        "category": "burglary",
                        "place": "Adelphi Street",
                    },
                    {"kind": "burst", "id": "more", "at_s": 600, "count": 5, "over_s": 300},
                    {"kind": "prompt", "id": "ask", "at_s": 900, "text": "Ask for photos"},
                    {
                        "kind": "alert",
                        "id": "appeal",
                        "at_s": 1200,
                        "by": "sergeant",
                        "alert": {
                            "headline": "Burglaries",
                            "categories": ["burglary"],
                            "area": "campus",
                        },
                    },
                ],
                "expect": [
                    {
                        "id": "campus-alert",
                        "action": "alert",
                        "trigger": "first_report",
                        "category": "burglary",
                        "area": "campus",
                        "within_s": 600,
                    },
                    {"id": "claims", "action": "claim", "trigger": "inject:first", "within_s": 900},
                ],
            }
        ],
        "stand_ins": [
            {
                "name": "sergeant",
                "group": "police",
                "does": [
                    {"action": "claim", "trigger": "each_report", "after_s": 60},
                    {
                        "action": "first_response",
                        "trigger": "each_report",
                        "after_s": 90,
                        "text": "Safe?",
                    },
                ],
            }
        ],
    }


def _problems(mutate: Callable[[dict[str, Any]], None]) -> list[pilots.Problem]:
    data = copy.deepcopy(_base())
    mutate(data)
    return pilots.check(msgspec.convert(data, pilots.Plan))


def test_the_base_plan_is_clean() -> None:
    assert _problems(lambda d: None) == []


def _act(d: dict[str, Any]) -> dict[str, Any]:
    act: dict[str, Any] = d["acts"][0]
    return act


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting `acts.0.injects.1.at_s`-style paths."""

    def mutate(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = d
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _append(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        node: Any = d
        for p in path.split("."):
            node = node[int(p)] if p.isdigit() else node[p]
        node.append(copy.deepcopy(value))

    return mutate


BOW_TIE = [[-2.72, 53.758], [-2.70, 53.770], [-2.72, 53.770], [-2.70, 53.758]]

CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("timezone", _set("timezone", "Europe/Londn"), "timezone", "not an IANA time zone name"),
    ("no days", _set("days", []), "days", "needs at least one day"),
    (
        "day backwards",
        _set("days.0.end", dt.time(8)),
        "days[0] (day 1, 2017-11-21)",
        "the day ends (08:00) before it starts (09:00)",
    ),
    (
        "days out of order",
        _append("days", {"date": dt.date(2017, 11, 20), "start": dt.time(9), "end": dt.time(17)}),
        "days[1] (day 2, 2017-11-20).date",
        "is not after day 1",
    ),
    (
        "time in the DST gap",
        lambda d: d["days"].__setitem__(
            0, {"date": dt.date(2018, 3, 25), "start": dt.time(1, 30), "end": dt.time(17)}
        ),
        "days[0] (day 1, 2018-03-25).start",
        "01:30 does not exist in Europe/London on 2018-03-25",
    ),
    ("polygon invalid", _set("area.coordinates", BOW_TIE), "area", "self-intersecting"),
    (
        "polygon on a line",
        _set("area.coordinates", [[-2.72, 53.76], [-2.71, 53.76], [-2.70, 53.76]]),
        "area",
        "zero area",
    ),
    (
        "zone outside",
        _set("zones.0.coordinates", [[-2.80, 53.76], [-2.80, 53.77], [-2.79, 53.77]]),
        "zones[0] (campus)",
        "reaches outside the pilot area",
    ),
    ("negative count", _set("groups.1.count", -3), "groups[1] (police).count", "is -3"),
    (
        "duplicate group",
        _append("groups", {"name": "students", "role": "citizen", "count": 2}),
        "groups",
        "two groups are called 'students'",
    ),
    (
        "duplicate inject",
        _append("acts.0.injects", {"kind": "prompt", "id": "ask", "at_s": 10, "text": "again"}),
        "injects",
        "two injects are called 'ask'",
    ),
    (
        "duplicate act",
        lambda d: d["acts"].append({**copy.deepcopy(_act(d)), "injects": [], "expect": []}),
        "acts",
        "two acts are called 'burglary'",
    ),
    (
        "target unparseable",
        _set("objectives.0.target", "lots of reports"),
        "objectives[0] (volume).target",
        "is not of the form 'metric >= number'",
    ),
    (
        "target unknown metric",
        _set("objectives.0.target", "tweets >= 3"),
        "objectives[0] (volume).target",
        "'tweets' is not a metric",
    ),
    ("act on a missing day", _set("acts.0.day", 4), "acts[0] (burglary).day", "the plan has 1 day"),
    (
        "act outside its day",
        _set("acts.0.end", dt.time(18)),
        "acts[0] (burglary)",
        "runs 10:00-18:00, outside day 1's window (09:00-17:00 on 2017-11-21)",
    ),
    (
        "act backwards",
        _set("acts.0.end", dt.time(9, 30)),
        "acts[0] (burglary)",
        "ends (09:30) before it starts (10:00)",
    ),
    (
        "unknown scenario",
        _set("acts.0.scenario", "arson"),
        "acts[0] (burglary).scenario",
        "No scenario called 'arson'",
    ),
    (
        "inline scenario broken",
        _set("acts.0.scenario", {"name": "inline", "title": "Inline", "templates": ["x"]}),
        "acts[0] (burglary).scenario",
        "`category` is required",
    ),
    (
        "scenario place outside the area",
        lambda d: _act(d).update(scenario="drugs", injects=[], expect=[]),
        "acts[0] (burglary).scenario",
        "scenario 'drugs' has place 'Avenham Park' outside the pilot area",
    ),
    (
        "unknown group",
        _set("acts.0.groups", ["lecturers"]),
        "acts[0] (burglary).groups",
        "names group 'lecturers', which the plan does not have (groups: students, police)",
    ),
    (
        "officers as reporters",
        _set("acts.0.groups", ["police"]),
        "acts[0] (burglary).groups",
        "group 'police' are officers; only citizen groups report in an act",
    ),
    (
        "inject after the act",
        _set("acts.0.injects.2.at_s", 4000),
        "acts[0] (burglary).injects[2] (ask).at_s",
        "falls outside act 'burglary' (1 h 6 min 40 s after its start, which lasts 1 h)",
    ),
    (
        "burst runs past the act",
        _set("acts.0.injects.1.over_s", 3500),
        "acts[0] (burglary).injects[1] (more).at_s",
        "falls outside act 'burglary'",
    ),
    (
        "inject before the act",
        _set("acts.0.injects.2.at_s", -5),
        "acts[0] (burglary).injects[2] (ask).at_s",
        "falls outside act 'burglary'",
    ),
    (
        "unknown place",
        _set("acts.0.injects.0.place", "the moon"),
        "acts[0] (burglary).injects[0] (first).place",
        "'the moon' is not a place of scenario 'burglary'",
    ),
    (
        "report with no place",
        _set("acts.0.injects.0.place", None),
        "acts[0] (burglary).injects[0] (first)",
        "needs a place (of the scenario) or lat and lon",
    ),
    (
        "report outside the area",
        lambda d: _act(d)["injects"][0].update(place=None, lat=53.80, lon=-2.71),
        "acts[0] (burglary).injects[0] (first)",
        "its position lies outside the pilot area",
    ),
    (
        "lat without lon",
        lambda d: _act(d)["injects"][0].update(place=None, lat=53.76),
        "acts[0] (burglary).injects[0] (first)",
        "give both lat and lon, or neither",
    ),
    (
        "empty burst",
        _set("acts.0.injects.1.count", 0),
        "acts[0] (burglary).injects[1] (more).count",
        "a burst sends 1 report or more",
    ),
    (
        "alert by a stranger",
        _set("acts.0.injects.3.by", "inspector-morse"),
        "acts[0] (burglary).injects[3] (appeal).by",
        "names stand-in 'inspector-morse', which the plan does not have (stand-ins: sergeant)",
    ),
    (
        "alert to an unknown zone",
        _set("acts.0.injects.3.alert.area", "docks"),
        "acts[0] (burglary).injects[3] (appeal).alert.area",
        "names zone 'docks', which the plan does not have (zones: campus)",
    ),
    (
        "expectation with no trigger",
        _set("acts.0.expect.0.trigger", None),
        "acts[0] (burglary).expect[0] (campus-alert)",
        "expected action 'campus-alert' has no trigger: say what starts its clock",
    ),
    (
        "expectation on an unknown inject",
        _set("acts.0.expect.1.trigger", "inject:second"),
        "acts[0] (burglary).expect[1] (claims).trigger",
        "expected action 'claims' has no trigger: inject 'second' is not in the plan",
    ),
    (
        "expectation trigger misspelt",
        _set("acts.0.expect.1.trigger", "first-report"),
        "acts[0] (burglary).expect[1] (claims).trigger",
        "'first-report' is not a trigger",
    ),
    (
        "expectation without a deadline",
        _set("acts.0.expect.1.within_s", None),
        "acts[0] (burglary).expect[1] (claims).within_s",
        "needs a deadline",
    ),
    (
        "expectation on a category the act never has",
        _set("acts.0.expect.0.category", "fly_tipping"),
        "acts[0] (burglary).expect[0] (campus-alert).category",
        "can never be due: act 'burglary' has no fly_tipping reports",
    ),
    (
        "area on a claim",
        _set("acts.0.expect.1.area", "campus"),
        "acts[0] (burglary).expect[1] (claims).area",
        "only an expected alert has an area",
    ),
    (
        "deadline after the day closes",
        lambda d: (
            _set("acts.0.end", dt.time(16, 50))(d),
            _set("acts.0.expect.0.within_s", 1200)(d),
        ),
        "acts[0] (burglary).expect[0] (campus-alert).within_s",
        "its last deadline (17:10) falls after day 1 closes (17:00)",
    ),
    (
        "duplicate expectation",
        _append(
            "acts.0.expect",
            {"id": "claims", "action": "claim", "trigger": "act_start", "within_s": 60},
        ),
        "expect",
        "two expected actions are called 'claims'",
    ),
    (
        "stand-in from a citizen group",
        _set("stand_ins.0.group", "students"),
        "stand_ins[0] (sergeant).group",
        "group 'students' are citizens; only officer groups have stand-ins",
    ),
    (
        "stand-in chat without text",
        _set("stand_ins.0.does.1.text", ""),
        "stand_ins[0] (sergeant).does[1] (first_response).text",
        "needs the text it sends",
    ),
    (
        "stand-in with no trigger",
        _set("stand_ins.0.does.0.trigger", None),
        "stand_ins[0] (sergeant).does[0] (claim)",
        "stand-in 'sergeant''s claim has no trigger",
    ),
    (
        "stand-in alert without an alert",
        _append("stand_ins.0.does", {"action": "alert", "trigger": "first_report"}),
        "stand_ins[0] (sergeant).does[2] (alert).alert",
        "needs [alert] with headline and categories",
    ),
    (
        "stand-in in an unknown act",
        _set("stand_ins.0.does.0.act", "arson"),
        "stand_ins[0] (sergeant).does[0] (claim).act",
        "names act 'arson'",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "where", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_mistake_gives_one_clear_problem(
    mutate: Callable[[dict[str, Any]], None], where: str, words: str
) -> None:
    problems = _problems(mutate)
    assert problems and {p.where for p in problems} == {where}, problems
    assert problems[0].where == where
    assert words in problems[0].message, problems[0].message


def _write(tmp_path: Path, text: str, name: str = "small") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_error_names_the_file_and_the_field(tmp_path: Path) -> None:
    text = pilots.dumps(msgspec.convert(_base(), pilots.Plan)).replace(
        "count = 40", 'count = "many"'
    )
    path = _write(tmp_path, text)
    with pytest.raises(pilots.PlanError) as err:
        pilots.load(path)
    assert err.value.problems[0].where == "groups[0].count"
    assert str(err.value).startswith(f"{path}: groups[0].count: Expected `int`, got `str`")


def test_a_misspelt_key_and_bad_toml_are_reported(tmp_path: Path) -> None:
    text = pilots.dumps(msgspec.convert(_base(), pilots.Plan))
    with pytest.raises(pilots.PlanError, match="Object contains unknown field `tiemzone`"):
        pilots.load(_write(tmp_path, text.replace("timezone =", "tiemzone =")))
    with pytest.raises(pilots.PlanError, match="not valid TOML"):
        pilots.load(_write(tmp_path, text.replace('title = "Small"', 'title = "Small')))


def test_the_name_must_match_the_file(tmp_path: Path) -> None:
    text = pilots.dumps(msgspec.convert(_base(), pilots.Plan))
    with pytest.raises(pilots.PlanError) as err:
        pilots.load(_write(tmp_path, text, name="other"))
    assert [str(p) for p in err.value.problems] == [
        "name: 'small' must match the file name 'other' (a plan is found by its name)"
    ]


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    data = _base()
    data["groups"][1]["count"] = -1
    data["acts"][0]["scenario"] = "arson"
    data["acts"][0]["expect"][0]["trigger"] = None
    text = pilots.dumps(msgspec.convert(data, pilots.Plan))
    with pytest.raises(pilots.PlanError) as err:
        pilots.load(_write(tmp_path, text))
    assert len(err.value.problems) == 3
    assert all(line.startswith(str(tmp_path)) for line in str(err.value).splitlines())


# ---------------------------------------------------------------- the timeline and plan time


def test_the_timeline_is_sorted_and_holds_every_inject_once(preston: pilots.Plan) -> None:
    entries = pilots.timeline(preston)
    assert [e.t for e in entries] == sorted(e.t for e in entries)
    injects = [e.ref for e in entries if e.kind == "inject"]
    assert sorted(injects) == sorted(i.id for a in preston.acts for i in a.injects)
    first = next(e for e in entries if e.ref == "first-burglary")
    assert first.at == dt.datetime(2017, 11, 21, 14, 5, tzinfo=LONDON)
    assert first.t == 5 * 3600 + 5 * 60  # day 1 opens at 09:00
    # day 2's first inject: nights are skipped, so day 2 opens at plan time 9 h
    car = next(e for e in entries if e.ref == "car-window")
    assert car.t == 9 * 3600 + 3600 + 240
    assert car.at == dt.datetime(2017, 11, 22, 10, 4, tzinfo=LONDON)


def test_deadlines_follow_their_trigger(preston: pilots.Plan) -> None:
    entries = {(e.kind, e.ref): e for e in pilots.timeline(preston)}
    prompt = entries[("inject", "asb-ask-for-video")]
    due = entries[("deadline", "asb-appeal")]
    assert due.t == prompt.t + 900 and not due.latest
    # a report-triggered deadline is known only as its latest: act end + within_s
    claims = entries[("deadline", "claim-burglaries")]
    assert claims.latest and claims.t == entries[("act_end", "burglary")].t + 900


def _dst_plan() -> pilots.Plan:
    data = _base()
    data["days"] = [
        {"date": dt.date(2017, 10, 28), "start": dt.time(10), "end": dt.time(12)},
        # the clocks go back at 02:00 BST: this window is 3.5 h long, not 2.5 h
        {"date": dt.date(2017, 10, 29), "start": dt.time(0, 30), "end": dt.time(3)},
        {"date": dt.date(2017, 10, 30), "start": dt.time(10), "end": dt.time(12)},
    ]
    data["acts"][0].update(day=2, start=dt.time(0, 30), end=dt.time(2, 50))
    data["acts"][0]["expect"] = data["acts"][0]["expect"][1:]
    return msgspec.convert(data, pilots.Plan)


def test_plan_time_crosses_a_dst_change_by_the_zone() -> None:
    plan = _dst_plan()
    assert pilots.check(plan) == []
    sched = pilots.Schedule.of(plan)
    assert [w.length_s for w in sched.windows] == [7200, 3.5 * 3600, 7200]
    day2 = sched.windows[1].t0
    assert day2 == 7200
    assert sched.at(day2).utcoffset() == dt.timedelta(hours=1)  # 00:30 BST
    after = sched.at(day2 + 3 * 3600)  # three real hours later
    assert (after.hour, after.minute, after.utcoffset()) == (2, 30, dt.timedelta(0))  # GMT
    day3 = sched.windows[2].t0
    assert sched.at(day3) == dt.datetime(2017, 10, 30, 10, tzinfo=LONDON)
    assert sched.at(day3).utcoffset() == dt.timedelta(0)
    assert sched.plan_time(dt.datetime(2017, 10, 30, 11, tzinfo=LONDON)) == day3 + 3600
    assert sched.plan_time(dt.datetime(2017, 10, 30, 13, tzinfo=LONDON)) is None
    # the act 00:30-02:50 (local) lasts 3 h 20 min; its inject at 5 min is at 00:35 BST
    first = next(e for e in pilots.timeline(plan) if e.ref == "first")
    assert first.at == dt.datetime(2017, 10, 29, 0, 35, tzinfo=LONDON)
    assert sched.act_span(plan.acts[0]) == (day2, day2 + 3 * 3600 + 20 * 60)


def test_a_day_close_and_the_next_opening_share_a_plan_time(preston: pilots.Plan) -> None:
    sched = pilots.Schedule.of(preston)
    t = sched.windows[1].t0
    assert sched.at(t, day=1) == dt.datetime(2017, 11, 21, 18, tzinfo=LONDON)
    assert sched.at(t) == sched.at(t, day=2) == dt.datetime(2017, 11, 22, 9, tzinfo=LONDON)


def test_compressing_the_plan(preston: pilots.Plan) -> None:
    start = dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)
    clock = pilots.PlanClock(start, speed=2000)
    length = pilots.Schedule.of(preston).length_s
    assert length == (9 + 9 + 8) * 3600
    assert clock.wall_s(length) == pytest.approx(46.8)
    assert clock.wall(length) == start + dt.timedelta(seconds=46.8)
    assert clock.plan_time(start + dt.timedelta(seconds=1)) == 2000
    assert clock.lateness(2000, start + dt.timedelta(seconds=1.5)) == pytest.approx(1000)
    with pytest.raises(ValueError, match="speed must be a positive number"):
        pilots.PlanClock(start, speed=0)


@settings(max_examples=200, deadline=None)
@given(
    t=st.floats(min_value=0, max_value=1e7, allow_nan=False),
    speed=st.floats(min_value=0.01, max_value=1e5, allow_nan=False),
)
def test_plan_clock_round_trips(t: float, speed: float) -> None:
    clock = pilots.PlanClock(dt.datetime(2025, 3, 30, 0, 30, tzinfo=LONDON), speed)
    assert clock.plan_time(clock.wall(t)) == pytest.approx(t, abs=1e-3 * speed)


@settings(max_examples=150, deadline=None)
@given(
    day=st.dates(min_value=dt.date(2015, 1, 1), max_value=dt.date(2030, 12, 31)),
    minutes=st.integers(min_value=0, max_value=24 * 60 - 1),
)
def test_plan_time_and_real_time_are_inverse_all_year(day: dt.date, minutes: int) -> None:
    data = _base()
    data["days"] = [{"date": day, "start": dt.time(0, 0), "end": dt.time(23, 59)}]
    data["acts"] = []
    data["stand_ins"][0]["does"] = []
    sched = pilots.Schedule.of(msgspec.convert(data, pilots.Plan))
    t = minutes * 60.0
    if t <= sched.windows[0].length_s:
        assert sched.plan_time(sched.at(t)) == t


# ---------------------------------------------------------------- saving


def test_saving_and_reading_back_gives_the_same_plan(preston: pilots.Plan) -> None:
    assert pilots.decode(pilots.dumps(preston)) == preston


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=80), key=st.text(min_size=1, max_size=12))
def test_any_text_survives_a_save(text: str, key: str) -> None:
    data = _base()
    data["description"] = text
    data["groups"][0]["title"] = text
    data["acts"][0]["scenario"] = {
        "name": "inline",
        "title": "Inline",
        "category": "other",
        "templates": ["{x}"],
        "placeholders": {"x": ["y"], key: [text or "z"]},
    }
    plan = msgspec.convert(data, pilots.Plan)
    assert pilots.decode(pilots.dumps(plan)) == plan


# ---------------------------------------------------------------- lookout-sim --check


def test_check_prints_what_a_good_plan_holds(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--check", str(PRESTON)]) == 0
    out = capsys.readouterr().out
    assert "plan preston-2017: 3 days, 8 acts, 77 participants" in out


def test_check_lists_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = PRESTON.read_text(encoding="utf-8").replace("count = 55", "count = -55")
    path = tmp_path / "preston-2017.toml"
    path.write_text(text, encoding="utf-8")
    assert cli.main(["--check", str(path)]) == 2
    assert capsys.readouterr().out.strip() == (
        f"{path}: groups[4] (students).count: is -55; give the number of participants "
        "in the group, 0 or more"
    )


def test_check_takes_scenario_files_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--check", str(ROOT / "resources" / "scenarios" / "burglary.toml")]) == 0
    assert "scenario burglary (burglary; 4 places)" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\ntitle = "Bad"\ntemplates = ["x"]\n', encoding="utf-8")
    assert cli.main(["--check", str(bad)]) == 2
    assert "`category` is required" in capsys.readouterr().out


def test_the_shipped_plans_are_found_where_the_default_directory_says() -> None:
    from backend_client import pilots

    assert pilots.DEFAULT_DIR.is_dir(), pilots.DEFAULT_DIR
    assert (pilots.DEFAULT_DIR / "preston-2017.toml").is_file()
