"""The inspector's editing model without Qt: edits, problems with their rows, save."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from backend_client.pilots import DEFAULT_DIR, PlanError, decode, load
from console.pilots.plan_edit import Issue, Locator, PlanEdit, counted, template
from console.pilots.timeline_model import layout

PRESTON = DEFAULT_DIR / "preston-2017.toml"


@pytest.fixture
def edit() -> PlanEdit:
    return PlanEdit.open(PRESTON)


def test_open_then_save_unchanged_loads_to_an_equal_plan(edit: PlanEdit, tmp_path: Path) -> None:
    assert not edit.dirty and edit.problems == []
    out = edit.save(tmp_path / "preston-2017.toml")
    assert load(out) == load(PRESTON)
    assert not edit.dirty


def test_an_edit_is_checked_at_once_and_undoing_it_makes_the_plan_clean(edit: PlanEdit) -> None:
    students = next(i for i, g in enumerate(edit.rows(("groups",))) if g["name"] == "students")
    edit.set(("groups", students, "count"), -3)
    assert edit.dirty
    [issue] = edit.issues
    assert "0 or more" in issue.problem.message
    assert issue.locator == Locator("groups", (("groups", students),), "count")
    edit.set(("groups", students, "count"), 55)
    assert edit.issues == [] and not edit.dirty


def test_a_field_against_the_file_rules_blocks_saving(edit: PlanEdit, tmp_path: Path) -> None:
    edit.rename("Not A Name")
    assert not edit.can_save and edit.issues[0].blocking
    assert edit.issues[0].locator.table == "name"
    assert "lower-case" in edit.issues[0].problem.message
    with pytest.raises(PlanError):
        edit.save(tmp_path / "x.toml")
    assert not (tmp_path / "x.toml").exists()


def test_an_inject_outside_its_act_names_its_row(edit: PlanEdit) -> None:
    edit.set(("acts", 1, "injects", 0, "at_s"), 99_999.0)
    [issue] = edit.issues
    assert issue.locator.rows == (("acts", 1), ("injects", 0))
    assert issue.locator.field == "at_s"


def test_renaming_an_inject_renames_the_triggers_that_wait_on_it(edit: PlanEdit) -> None:
    act = next(i for i, a in enumerate(edit.rows(("acts",))) if a["id"] == "missing-person")
    edit.set(("acts", act, "injects", 0, "id"), "missing-called-in")
    assert edit.problems == []
    triggers = [e.get("trigger") for e in edit.rows(("acts", act, "expect"))]
    assert "inject:missing-called-in" in triggers


def test_adding_and_removing_rows(edit: PlanEdit) -> None:
    day = edit.add_day()
    assert edit.rows(("days",))[day]["date"] == dt.date(2017, 11, 24)
    group = edit.add_group()
    assert edit.rows(("groups",))[group]["name"] == "group-1"
    act = edit.add_act()
    for kind in ("report", "burst", "prompt", "alert"):
        edit.add_inject(act, kind)
    edit.add_expectation(act)
    assert edit.plan is not None and len(edit.plan.acts[act].injects) == 4
    edit.remove(("acts", act))
    edit.remove(("groups", group))
    edit.remove(("days", day))
    assert not edit.dirty and edit.problems == []


def test_the_area_takes_a_ring_the_relay_accepts_and_refuses_a_crossed_one(edit: PlanEdit) -> None:
    ring = [(-2.72, 53.745), (-2.69, 53.745), (-2.69, 53.775), (-2.72, 53.775)]
    assert edit.set_area([*ring, ring[0]]) is None
    assert edit.get(("area", "coordinates")) == [list(p) for p in ring]
    assert edit.problems == []
    bowtie = [(-2.70, 53.75), (-2.69, 53.76), (-2.69, 53.75), (-2.70, 53.76)]
    problem = edit.set_area(bowtie)
    assert problem is not None and "self-intersecting" in problem.message
    assert edit.get(("area", "coordinates")) == [list(p) for p in ring]
    # an area too small for the campus zone: the zones' problems follow
    edit.set_area([(-2.700, 53.755), (-2.699, 53.755), (-2.699, 53.756)])
    assert any(i.locator.table == "zones" for i in edit.issues)


def test_a_new_plan_from_the_template_checks_clean_and_saves(tmp_path: Path) -> None:
    path = tmp_path / "my-pilot.toml"
    edit = PlanEdit.new(path, today=dt.date(2030, 1, 1))
    assert edit.dirty and edit.problems == []
    plan = edit.plan
    assert plan is not None and plan.name == "my-pilot"
    assert len(plan.days) == 1 and len(plan.acts) == 1
    assert [g.role for g in plan.groups] == ["citizen"]
    edit.save()
    assert load(path) == plan and not edit.dirty


def test_the_name_must_match_the_file(tmp_path: Path) -> None:
    edit = PlanEdit(template("one"), tmp_path / "other.toml")
    assert edit.issues[0].locator.table == "name"


def test_hostile_text_round_trips_as_typed(edit: PlanEdit, tmp_path: Path) -> None:
    edit.set(("title",), "<b>x</b>")
    out = edit.save(tmp_path / "preston-2017.toml")
    assert decode(out.read_bytes()).title == "<b>x</b>"


def test_the_timeline_puts_an_inject_at_its_plan_time(edit: PlanEdit) -> None:
    before = layout(edit.plan).marker("inject", 1, 0)
    assert before is not None and before.x == pytest.approx(14 + 5 / 60)  # 14:00 + 300 s
    edit.set(("acts", 1, "injects", 0, "at_s"), 1800.0)
    after = layout(edit.plan).marker("inject", 1, 0)
    assert after is not None and after.x == pytest.approx(14.5)
    assert after.t - before.t == 1500.0
    edit.set(("timezone",), "Mars/Olympus")
    assert layout(edit.plan).markers == [] and "time zone" in layout(edit.plan).note


HEADERS = {
    "plan": {"timezone": "Time zone"},
    "groups": {"count": "Count"},
    "injects": {"at_s": "Time", "over_s": "Over (min)"},
    "expect": {"within_s": "Within (min)"},
}


def _issue(edit: PlanEdit, where: str) -> Issue:
    (issue,) = [i for i in edit.issues if i.problem.where.startswith(where)]
    return issue


def test_a_problem_is_said_in_the_tables_words_rows_from_1_headers_and_clock_times(
    edit: PlanEdit,
) -> None:
    """The check names `acts[1] (burglary).injects[2] (burglary-suspects).at_s` in seconds
    from the act's start; the table shows row 3 and a Time column of 16:30."""
    burglary = next(i for i, a in enumerate(edit.rows(("acts",))) if a["id"] == "burglary")
    assert edit.rows(("acts",))[burglary]["start"] == dt.time(14)
    edit.set(("acts", burglary, "injects", 2, "at_s"), 9000.0)
    edit.set(("acts", burglary, "injects", 1, "at_s"), -60.0)  # a burst of 10 min
    issue = _issue(edit, f"acts[{burglary}] (burglary).injects[2]")
    assert str(issue).endswith("at_s counts seconds from the act's start")  # the file's words
    assert edit.describe(issue, HEADERS) == (
        f"Act {burglary + 1} (burglary), Inject 3 (burglary-suspects), Time: 16:30 falls "
        "outside act 'burglary' (14:00-16:00); move it into the act's hours"
    )
    assert issue.locator.rows == (("acts", burglary), ("injects", 2))  # navigation unchanged
    burst = _issue(edit, f"acts[{burglary}] (burglary).injects[1]")
    assert "Inject 2 (burglary-sightings), Time: 13:59 to 14:09 falls outside" in (
        edit.describe(burst, HEADERS)
    )


def test_other_problems_name_the_row_and_the_column_header(edit: PlanEdit) -> None:
    edit.set(("groups", 1, "count"), -1)
    edit.set(("acts", 1, "expect", 0, "within_s"), 0.0)
    group = edit.describe(_issue(edit, "groups[1]"), HEADERS)
    assert group.startswith("Group 2 (city-council), Count: is -1")
    deadline = edit.describe(_issue(edit, "acts[1] (burglary).expect[0]"), HEADERS)
    assert deadline == (
        "Act 2 (burglary), Expected action 1 (campus-alert), Within (min): needs a deadline: "
        "minutes after the trigger, more than 0"
    )
    edit.set(("groups", 1, "count"), 12)
    edit.set(("groups", 1, "name"), "students")  # two groups now share a name
    assert edit.describe(_issue(edit, "groups"), HEADERS).startswith("Groups: two groups")
    # no header known: the file's name stays, still counted from 1
    assert edit.describe(_issue(edit, "acts[1] (burglary).expect[0]"), {}).startswith(
        "Act 2 (burglary), Expected action 1 (campus-alert), within_s: "
    )


def test_counted_is_plural_unless_one() -> None:
    assert [counted(n, "day") for n in (0, 1, 2)] == ["0 days", "1 day", "2 days"]


def test_an_inject_dropped_on_the_timeline_lands_on_the_minute_in_its_act() -> None:
    from console.pilots.timeline_model import inject_at_s

    plan = load(PRESTON)
    act = next(i for i, a in enumerate(plan.acts) if a.id == "burglary")  # opens 14:00
    assert inject_at_s(plan, act, 14.5) == 1800.0
    assert inject_at_s(plan, act, 14 + 7.4 / 60) == 420.0  # 14:07:24 -> 14:07
    assert inject_at_s(plan, act, 13.0) == 0.0  # never before its act starts
