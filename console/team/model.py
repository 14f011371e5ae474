"""The team on shift, from `team.listed` and `team.changed`, with no Qt.

The relay sends the whole team each time (it is tens of officers, not thousands), so the
model replaces its list and says whether anything a person would see changed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from backend_client import messages as m


class TeamModel:
    def __init__(self) -> None:
        self.officers: list[m.OnlineOfficer] = []
        #: False until the relay has answered once (an empty list then means "nobody")
        self.known = False

    def replace(self, officers: Iterable[m.OnlineOfficer]) -> bool:
        """Take the relay's list; True if it differs from the one held."""
        new = sorted(officers, key=lambda o: o.username.casefold())
        changed = new != self.officers or not self.known
        self.officers, self.known = new, True
        return changed

    def forget(self) -> None:
        """The link dropped: who is online is unknown until the relay answers again."""
        self.officers, self.known = [], False

    def names(self) -> list[str]:
        return [o.username for o in self.officers]

    def get(self, username: str) -> m.OnlineOfficer | None:
        return next((o for o in self.officers if o.username == username), None)


def holding_words(o: m.OnlineOfficer) -> str:
    """What an officer holds, in a cell's words."""
    if o.holding == 0:
        return "nothing"
    shown = ", ".join(o.holds[:3])
    more = o.holding - min(3, len(o.holds))
    return f"{o.holding}: {shown}" + (f" and {more} more" if more > 0 else "")


def since_words(since: float, now: float | None = None) -> str:
    """How long someone has been signed in: `12 min`, `3 h 05 min`."""
    minutes = max(0, int(((now if now is not None else time.time()) - since) // 60))
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def picker_line(o: m.OnlineOfficer) -> str:
    """One officer in the Assign picker: name, role, load."""
    return f"{o.username} — {o.role}, holds {o.holding}"
