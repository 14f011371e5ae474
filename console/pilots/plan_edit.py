"""The plan an inspector is editing, as plain data, re-checked after every edit. No Qt.

The workspace's widgets never build a `Plan` themselves: they ask this model to set a field,
add or remove a row, and read back the data and the problems. The plan is held as the
plain dicts and lists `msgspec.to_builtins` makes of it, so a half-finished plan (a name
that is not yet a valid name, a count below zero) can still be shown and fixed; after each
edit it is turned back into a `Plan` (the file's field rules, as `decode` applies them) and
cross-checked by `backend_client.pilots.check`, whose problems are the ones `lookout-pilot`
would report. Saving writes through `dumps`, so opening a plan and saving it unchanged
gives a file that loads to an equal plan. `dirty` compares the data with what was last
opened or saved: undoing an edit by hand makes the plan clean again.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from backend_client import scenarios as sc
from backend_client.geometry import polygon_fault
from backend_client.pilots import (
    Plan,
    PlanError,
    Problem,
    check,
    decode,
    dumps,
    field_problem,
    name_problem,
    scenario_of,
)

#: a field's place in the plan: keys and list indexes, e.g. ("acts", 1, "injects", 0, "at_s")
Path_ = tuple[str | int, ...]

TEMPLATE_SCENARIO = "burglary"
NAME_RULE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Locator:
    """Where a problem is: the rows it runs through and the field, for the editor to go to.

    `rows` is e.g. (("acts", 1), ("injects", 0)); `table` alone (no row) for a problem of a
    whole table ("two groups are called ..."); `field` the last key, when one is named.
    """

    table: str
    rows: tuple[tuple[str, int], ...] = ()
    field: str | None = None

    @staticmethod
    def of(where: str) -> Locator:
        rows: list[tuple[str, int]] = []
        keys: list[str] = []
        for part in _SPLIT.split(where.strip()):
            match = _ROW.fullmatch(part)
            if match:
                rows.append((match["key"], int(match["index"])))
            elif part:
                keys.append(part)
        table = rows[0][0] if rows else (keys[0] if keys else "")
        # without rows: a plan field ("timezone") or a whole table ("groups")
        plan_field = table if table in _PLAN_FIELDS else None
        field = (keys[-1] if keys else None) if rows else plan_field
        return Locator(table, tuple(rows), field)


_ROW = re.compile(r"(?P<key>[a-z_]+)\[(?P<index>\d+)\](?: \((?P<label>[^)]*)\))?")
#: dots between parts, but not inside "(day 1, 2017-11-21)"
_SPLIT = re.compile(r"\.(?![^(]*\))")
_PLAN_FIELDS = {"name", "title", "description", "timezone", "area_description", "area"}


#: no problem at all, said in the problems pane (and wherever else it is said)
READY = "No problems: the plan is ready to rehearse."

#: a column's header by the plan's keys: {table: {field: header}}, e.g.
#: {"injects": {"at_s": "Time"}}; "plan" holds the plan's own fields' labels
Headers = Mapping[str, Mapping[str, str]]

#: what the workspace calls one row of each table
ROW_WORDS = {
    "days": "Day",
    "groups": "Group",
    "acts": "Act",
    "injects": "Inject",
    "expect": "Expected action",
    "objectives": "Objective",
    "zones": "Zone",
    "stand_ins": "Stand-in",
    "does": "Action",
}
_TABLE_WORDS = {
    "days": "Days",
    "groups": "Groups",
    "acts": "Acts",
    "objectives": "Objectives",
    "zones": "Zones",
    "stand_ins": "Stand-ins",
}
_OUTSIDE_ACT = re.compile(
    r"falls outside act (?P<act>'[^']*') \([^)]*after its start[^)]*\); "
    r"at_s counts seconds from the act's start"
)


@dataclass(frozen=True)
class Issue:
    """A problem with where it is, ready for the problems list."""

    problem: Problem
    locator: Locator
    #: True when the plan's data did not even make a plan (it cannot be saved)
    blocking: bool = False

    def __str__(self) -> str:
        return str(self.problem)


def counted(n: int, word: str) -> str:
    """ "1 day", "3 days", "0 days": a plural unless there is exactly one."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _clock(seconds: float) -> str:
    total = max(0, min(int(round(seconds)), 86399))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}"


def _seconds(clock: Any) -> float | None:
    if not isinstance(clock, dt.time):
        return None
    return float(clock.hour * 3600 + clock.minute * 60 + clock.second)


class PlanEdit:
    """One plan being edited: its data, its problems, its file, dirty or clean."""

    def __init__(self, plan: Plan, path: Path | None = None, *, saved: bool = True) -> None:
        self.data: dict[str, Any] = _builtins(plan)
        self.path = path
        self._saved: dict[str, Any] | None = copy.deepcopy(self.data) if saved else None
        self._listeners: list[Callable[[], None]] = []
        self.issues: list[Issue] = []
        self._plan: Plan | None = plan
        self._validate()

    # ------------------------------------------------------------ opening

    @staticmethod
    def open(path: Path) -> PlanEdit:
        """The plan in `path`, with its problems listed; PlanError if it is not a plan at
        all (not TOML, a field of the wrong type), which the editor cannot show."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PlanError(str(path), [Problem("", f"cannot be read ({exc.strerror})")]) from None
        return PlanEdit(decode(data, source=str(path)), path)

    @staticmethod
    def new(path: Path | None = None, today: dt.date | None = None) -> PlanEdit:
        """A new plan from the template (one day, one citizen group, one act), not saved."""
        return PlanEdit(template(path.stem if path else "new-pilot", today), path, saved=False)

    # ------------------------------------------------------------ reading

    @property
    def plan(self) -> Plan | None:
        """The plan the data makes now, None while a field breaks the file's rules."""
        return self._plan

    @property
    def dirty(self) -> bool:
        return self._saved is None or self.data != self._saved

    @property
    def problems(self) -> list[Problem]:
        return [i.problem for i in self.issues]

    @property
    def can_save(self) -> bool:
        return self._plan is not None

    def get(self, path: Path_, default: Any = None) -> Any:
        node: Any = self.data
        for key in path:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                return default
        return node

    def rows(self, path: Path_) -> list[dict[str, Any]]:
        value = self.get(path, [])
        return value if isinstance(value, list) else []

    def describe(self, issue: Issue, headers: Headers) -> str:
        """The problem in the tables' words: rows counted from 1 as the tables number
        them, the field by its column's header, an inject's time as the clock time the
        table shows (the file's own words stay in `issue.problem`, for lookout-pilot)."""
        where = issue.problem.where
        message = issue.problem.message
        place: list[str] = []
        node: Any = self.data
        row_key: str | None = None
        fields: list[str] = []
        for part in _SPLIT.split(where.strip()) if where.strip() else []:
            match = _ROW.fullmatch(part)
            if match:
                key, index = match["key"], int(match["index"])
                label = match["label"] or ""
                if key == "days":  # "(day 1, 2017-11-21)": the row number says "day 1"
                    label = re.sub(r"^day \d+,\s*", "", label)
                word = ROW_WORDS.get(key, key)
                place.append(f"{word} {index + 1}" + (f" ({label})" if label else ""))
                node = node.get(key, [])[index] if isinstance(node, dict) else {}
                node = node if isinstance(node, dict) else {}
                row_key = key
            elif part:
                fields.append(part)
        table = row_key or "plan"
        columns = headers.get(table, {})
        if fields:
            field = fields[-1]
            if row_key is None and field in _TABLE_WORDS and len(fields) == 1:
                place.append(_TABLE_WORDS[field])
            else:
                place.append(columns.get(field, headers.get("plan", {}).get(field, field)))
        if row_key == "injects" and fields == ["at_s"]:
            message = self._outside_act(message, node, issue)
        for key, header in columns.items():
            if "_" not in key:  # only the file's own names ("at_s"), not words ("day")
                continue
            message = re.sub(rf"\b{re.escape(key)}\b(?! =)", header, message)
        message = message.replace(
            "within_s = seconds after the trigger", "minutes after the trigger"
        )
        return f"{', '.join(place)}: {message}" if place else message

    def _outside_act(self, message: str, inject: dict[str, Any], issue: Issue) -> str:
        """ "falls outside act 'x' (5:00:00 after its start ...)" as the clock times the
        injects table shows: "16:30 falls outside act 'x' (10:00-12:00)"."""
        match = _OUTSIDE_ACT.fullmatch(message)
        acts = dict(issue.locator.rows)
        act = self.get(("acts", acts.get("acts", -1)), {}) if "acts" in acts else {}
        start = _seconds(act.get("start")) if isinstance(act, dict) else None
        at = inject.get("at_s")
        if match is None or start is None or not isinstance(at, int | float):
            return message
        when = _clock(start + at)
        over = inject.get("over_s")
        if inject.get("kind") == "burst" and isinstance(over, int | float):
            when += f" to {_clock(start + at + over)}"
        end = _seconds(act.get("end"))
        hours = f"{_clock(start)}-{_clock(end)}" if end is not None else f"from {_clock(start)}"
        return f"{when} falls outside act {match['act']} ({hours}); move it into the act's hours"

    def subscribe(self, listener: Callable[[], None]) -> None:
        """`listener()` runs after every edit, once the problems are up to date."""
        self._listeners.append(listener)

    # ------------------------------------------------------------ editing

    def set(self, path: Path_, value: Any) -> None:
        """Set one field; None or an empty optional string removes it (its default)."""
        parent, key = self._parent(path)
        old = parent.get(key) if isinstance(parent, dict) else parent[key]
        if value == old and (value is not None or key not in parent):
            return
        if isinstance(parent, dict) and value is None:
            parent.pop(key, None)
        else:
            parent[key] = value
        if isinstance(key, str) and isinstance(old, str) and isinstance(value, str):
            self._follow_rename(path, old, value)
        self._changed()

    def rename(self, name: str) -> None:
        self.set(("name",), name)

    def set_area(self, ring: Sequence[tuple[float, float]]) -> Problem | None:
        """Make `ring` ([lon, lat] corners) the pilot area; a ring the relay would refuse is
        not taken, and its problem (the relay's own words) is returned instead."""
        pts = [(float(lon), float(lat)) for lon, lat in ring]
        if len(pts) > 1 and pts[0] == pts[-1]:
            pts.pop()
        fault = polygon_fault(pts)
        if fault is not None:
            return Problem("area", fault.message)
        self.set(("area",), {"type": "polygon", "coordinates": [list(p) for p in pts]})
        return None

    def insert(self, table: Path_, item: dict[str, Any], index: int | None = None) -> int:
        """Add `item` to the list at `table` (at the end by default); returns its index."""
        rows = self.get(table)
        if not isinstance(rows, list):
            parent, key = self._parent(table)
            rows = parent[key] = []
        at = len(rows) if index is None else max(0, min(index, len(rows)))
        rows.insert(at, item)
        self._changed()
        return at

    def remove(self, row: Path_) -> None:
        parent, key = self._parent(row)
        if isinstance(parent, list) and isinstance(key, int) and 0 <= key < len(parent):
            del parent[key]
            self._changed()

    def add_day(self) -> int:
        days = self.rows(("days",))
        last = days[-1] if days else None
        date = last["date"] + dt.timedelta(days=1) if last else _soon()
        return self.insert(
            ("days",), {"date": date, "start": dt.time(9), "end": dt.time(17), "title": ""}
        )

    def add_group(self, role: str = "citizen") -> int:
        name = _unique("group", {g.get("name") for g in self.rows(("groups",))})
        return self.insert(("groups",), {"name": name, "title": "", "role": role, "count": 10})

    def add_act(self) -> int:
        days = self.rows(("days",))
        day = max(1, len(days))
        start, end = dt.time(10), dt.time(12)
        if days:
            d = days[-1]
            start = d["start"]
            end = min(_plus(d["start"], 7200), d["end"]) if d["end"] > d["start"] else d["end"]
        act = {
            "id": _unique("act", {a.get("id") for a in self.rows(("acts",))}),
            "title": "",
            "day": day,
            "start": start,
            "end": end,
            "scenario": _first_scenario(),
        }
        return self.insert(("acts",), act)

    def add_inject(self, act: int, kind: str) -> int:
        """A new inject of `kind` (report, burst, prompt, alert) at the act's start."""
        taken = {i.get("id") for a in self.rows(("acts",)) for i in a.get("injects", [])}
        item: dict[str, Any] = {"kind": kind, "id": _unique(kind, taken), "at_s": 0.0}
        place, category = self._scenario_place(act)
        if kind == "report":
            item |= {"text": "What the participant reports", "category": category}
            if place:
                item["place"] = place
        elif kind == "burst":
            item |= {"count": 10, "over_s": 600.0}
        elif kind == "prompt":
            item["text"] = "A prompt to the officers"
        elif kind == "alert":
            stand_ins = self.rows(("stand_ins",))
            item |= {
                "by": stand_ins[0].get("name", "") if stand_ins else "",
                "alert": {"headline": "Exercise alert", "categories": [category]},
            }
        else:
            raise ValueError(f"no inject kind {kind!r}")
        return self.insert(("acts", act, "injects"), item)

    def add_expectation(self, act: int) -> int:
        taken = {e.get("id") for a in self.rows(("acts",)) for e in a.get("expect", [])}
        item = {
            "id": _unique("expect", taken),
            "action": "first_response",
            "trigger": "first_report",
            "within_s": 600.0,
        }
        return self.insert(("acts", act, "expect"), item)

    # ------------------------------------------------------------ saving

    def save(self, path: Path | None = None) -> Path:
        """Write the plan (atomically) to `path` or its own file; PlanError if the data
        does not make a plan. A plan with cross-check problems is written (a draft): the
        caller decides whether to ask first."""
        target = path or self.path
        if target is None:
            raise ValueError("the plan has no file yet: give a path")
        plan = self._plan
        if plan is None:
            raise PlanError(str(target), self.problems)
        text = dumps(plan)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.path = target
        self._saved = copy.deepcopy(self.data)
        self._validate()  # the file name rule follows the new path
        self._notify()
        return target

    # ------------------------------------------------------------ inside

    def _parent(self, path: Path_) -> tuple[Any, Any]:
        if not path:
            raise ValueError("an empty path names no field")
        node: Any = self.data
        for key in path[:-1]:
            node = node[key]
        return node, path[-1]

    def _changed(self) -> None:
        self._validate()
        self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    def _validate(self) -> None:
        try:
            plan = msgspec.convert(self.data, Plan)
        except msgspec.ValidationError as exc:
            self._plan = None
            problem = field_problem(exc, "the plan cannot be saved until it is fixed")
            self.issues = [Issue(problem, Locator.of(problem.where), blocking=True)]
            return
        self._plan = plan
        problems = check(plan)
        if self.path is not None and (misnamed := name_problem(plan, self.path)) is not None:
            problems.insert(0, misnamed)
        self.issues = [Issue(p, Locator.of(p.where)) for p in problems]

    def _follow_rename(self, path: Path_, old: str, new: str) -> None:
        """Renaming an inject or a group renames what points at it, so nothing dangles."""
        if path[-1:] == ("id",) and len(path) == 5 and path[2] == "injects":
            for exp in _walk_triggers(self.data):
                if exp.get("trigger") == f"inject:{old}":
                    exp["trigger"] = f"inject:{new}"
        elif path[-1:] == ("name",) and len(path) == 3 and path[0] == "groups":
            for act in self.rows(("acts",)):
                act["groups"] = [new if g == old else g for g in act.get("groups", [])]
                for inject in act.get("injects", []):
                    if inject.get("group") == old:
                        inject["group"] = new
            for s in self.rows(("stand_ins",)):
                if s.get("group") == old:
                    s["group"] = new

    def _scenario_place(self, act: int) -> tuple[str | None, str]:
        """The first place and the category of the act's scenario, for a new inject."""
        try:
            resolved = self.scenario(act)
        except (sc.ScenarioError, IndexError):
            return None, "other"
        if resolved is None:
            return None, "other"
        places = resolved.hotspots()
        categories = sorted(str(c) for c in resolved.categories)
        category = resolved.spec.category or (categories[0] if categories else "other")
        return (places[0].name if places else None), str(category)

    def scenario(self, act: int) -> sc.Resolved | None:
        """The act's scenario, resolved (ScenarioError if it names none that exists)."""
        plan = self._plan
        if plan is not None and 0 <= act < len(plan.acts):
            return scenario_of(plan, plan.acts[act])
        name = self.get(("acts", act, "scenario"))
        return sc.resolve(name) if isinstance(name, str) else None


def template(name: str, today: dt.date | None = None) -> Plan:
    """A new plan that checks clean: one day, one citizen group, one act (the burglary
    scenario, with one scripted report and one expected alert), its area round the
    scenario's places. The inspector redraws the area and fills in the rest."""
    safe = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")[:64] or "new-pilot"
    if not NAME_RULE.fullmatch(safe):
        safe = "pilot-" + safe
    resolved = sc.resolve(_first_scenario())
    places = resolved.hotspots()
    lats = [h.lat for h in places] or [53.759]
    lons = [h.lon for h in places] or [-2.699]
    pad = 0.006
    west, east = min(lons) - pad, max(lons) + pad
    south, north = min(lats) - pad, max(lats) + pad
    date = _soon(today)
    data: dict[str, Any] = {
        "name": safe,
        "title": "New pilot",
        "description": "",
        "timezone": "Europe/London",
        "area_description": "The pilot area",
        "area": {
            "type": "polygon",
            "coordinates": [[west, south], [east, south], [east, north], [west, north]],
        },
        "days": [{"date": date, "start": dt.time(9), "end": dt.time(17), "title": "Day 1"}],
        "groups": [
            {"name": "citizens", "title": "Citizen participants", "role": "citizen", "count": 20}
        ],
        "acts": [
            {
                "id": "act-1",
                "title": resolved.spec.title or resolved.spec.name,
                "day": 1,
                "start": dt.time(10),
                "end": dt.time(12),
                "scenario": resolved.spec.name,
                "injects": [
                    {
                        "kind": "report",
                        "id": "first-report",
                        "at_s": 300.0,
                        "text": "A scripted report: say what the participant saw",
                        "category": resolved.spec.category,
                        **({"place": places[0].name} if places else {}),
                    }
                ],
                "expect": [
                    {
                        "id": "first-response",
                        "action": "first_response",
                        "trigger": "first_report",
                        "within_s": 600.0,
                        "text": "A first response within 10 min of the first report",
                    }
                ],
            }
        ],
    }
    return msgspec.convert(data, Plan)


def _builtins(plan: Plan) -> dict[str, Any]:
    data = msgspec.to_builtins(plan, builtin_types=(dt.date, dt.time))
    assert isinstance(data, dict)
    return data


def _walk_triggers(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for act in data.get("acts", []):
        yield from act.get("expect", [])
    for s in data.get("stand_ins", []):
        yield from s.get("does", [])


def _unique(stem: str, taken: set[Any]) -> str:
    n = 1
    while f"{stem}-{n}" in taken:
        n += 1
    return f"{stem}-{n}"


def _first_scenario() -> str:
    names = sc.available()
    return TEMPLATE_SCENARIO if TEMPLATE_SCENARIO in names else (names[0] if names else "mixed")


def _soon(today: dt.date | None = None) -> dt.date:
    return (today or dt.date.today()) + dt.timedelta(days=14)


def _plus(clock: dt.time, seconds: int) -> dt.time:
    total = min(clock.hour * 3600 + clock.minute * 60 + clock.second + seconds, 86399)
    return dt.time(total // 3600, total % 3600 // 60, total % 60)
