"""A pilot plan as data: area, days, participants, objectives, acts, injects, expectations.

An inspector plans a community pilot like the Preston INSPEC2T one (three days, over 60
participants, six scenarios) in one TOML file in `resources/pilots/`. The plan follows
HSEEP's chain: each act runs a scenario (the same model as `lookout-sim`'s,
`backend_client.scenarios`, named or inline), injects happen at set times (simulated report
bursts, single scripted reports, prompts to officers, alerts a stand-in sends), and each
expected officer action has a deadline after its trigger, so an evaluation can say met or
missed from the event log alone. Scripted officer stand-ins let a headless rehearsal
exercise every metric. `docs/pilots.md` describes the format field by field.

Pure (msgspec, zoneinfo, the file system): the console's inspector workspace, the rehearsal
and live control all read plans through this module. Loading never trusts the file:
`decode` turns a TOML or field error into one `Problem`, `check` cross-checks the rest (an
inject outside its act, an act outside its day, an unknown scenario or group, an expected
action with no trigger, an invalid polygon, a negative count, a duplicate id...) and names
the file and the field in words an inspector understands.

Plan time is seconds of exercise: the days' windows laid end to end, nights skipped, so
plan time 0 is day 1's window opening and a rehearsal at speed N runs the plan in
(total window length) / N seconds. `Schedule` maps plan time to the real date and time in
the plan's time zone (daylight saving handled by the zone, not by adding hours to a wall
clock); `PlanClock` maps it to a run's wall clock. `Run` (`control`) is a live run's plan
time and injects (start, pause, skip or fire one), and `evaluate` (`evaluation`) the one
rule for met and missed, live (`Tracker`) and after the fact (`pilot.metrics`).
"""

from __future__ import annotations

from backend_client.pilots.checks import check
from backend_client.pilots.control import (
    Fired,
    Move,
    RefusedMove,
    Run,
    RunControl,
    RunState,
    RunView,
    Shown,
    Upcoming,
)
from backend_client.pilots.evaluation import (
    Outcome,
    SeenAlert,
    SeenReport,
    Tracker,
    evaluate,
)
from backend_client.pilots.files import (
    available,
    decode,
    dumps,
    field_problem,
    find,
    load,
    name_problem,
)
from backend_client.pilots.model import (
    ACTIONS,
    DEFAULT_DIR,
    METRICS,
    Act,
    AlertInject,
    AlertSpec,
    BurstInject,
    Day,
    Expectation,
    Group,
    Inject,
    Objective,
    Plan,
    PlanError,
    Problem,
    PromptInject,
    ReportInject,
    StandIn,
    StandInAction,
    Target,
    Trigger,
    Zone,
    participants,
    scenario_of,
    to_info,
)
from backend_client.pilots.running import create_request, pilot_id_of
from backend_client.pilots.schedule import (
    Entry,
    PlanClock,
    Schedule,
    Window,
    expected_reports,
    timeline,
)

__all__ = [
    "ACTIONS",
    "DEFAULT_DIR",
    "METRICS",
    "Act",
    "AlertInject",
    "AlertSpec",
    "BurstInject",
    "Day",
    "Entry",
    "Expectation",
    "Fired",
    "Group",
    "Inject",
    "Move",
    "Objective",
    "Outcome",
    "Plan",
    "PlanClock",
    "PlanError",
    "Problem",
    "PromptInject",
    "RefusedMove",
    "ReportInject",
    "Run",
    "RunControl",
    "RunState",
    "RunView",
    "Schedule",
    "SeenAlert",
    "SeenReport",
    "Shown",
    "StandIn",
    "StandInAction",
    "Target",
    "Tracker",
    "Trigger",
    "Upcoming",
    "Window",
    "Zone",
    "available",
    "check",
    "create_request",
    "decode",
    "dumps",
    "evaluate",
    "expected_reports",
    "field_problem",
    "find",
    "load",
    "name_problem",
    "participants",
    "pilot_id_of",
    "scenario_of",
    "timeline",
    "to_info",
]
