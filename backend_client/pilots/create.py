"""A plan as the relay's pilot: its id and the `pilot.create` that makes it.

Written once for everyone who creates a pilot from a plan (a rehearsal's embedded relay,
`lookout --run-pilot` on the force's relay, the Pilots panel's "Create from plan"), so
the pilot's id, title, area and groups are always the plan's.
"""

from __future__ import annotations

from backend_client import messages as m
from backend_client.pilots.model import Plan


def pilot_id_of(plan: Plan) -> str:
    """The plan's name as a relay pilot id (no `_`; letters or digits at both ends)."""
    return plan.name.replace("_", "-").strip("-") or "pilot"


def to_create(
    plan: Plan, idem: str, *, starts_at: float | None = None, ends_at: float | None = None
) -> m.PilotCreate:
    """The `pilot.create` for `plan` (every group, citizen or officer, with its count)."""
    return m.PilotCreate(
        id="",
        idem=idem,
        pilot_id=pilot_id_of(plan),
        title=plan.title,
        area=plan.area,
        groups=[m.PilotGroupSpec(g.name, max(g.count, 0)) for g in plan.groups],
        starts_at=starts_at,
        ends_at=ends_at,
    )
