"""Who is on shift: the officers signed in now, and the reports each holds.

Presence is not history: it lives in the hub's open connections, not in the event log,
and `team.changed` is an ephemeral push (no `seq`, never replayed). A console asks
`team.list` when it goes live and follows the pushes after that. Names go to officers
only: nothing here is reachable from the citizen endpoint.

Pushes are coalesced: a burst of sign-ins or claims within `PUSH_DELAY_S` costs one read
of the holdings and one broadcast.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import websockets
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend_client import codec
from backend_client import messages as m
from relay.context import RelayContext
from relay.db import models as db
from relay.hub import Hub

#: a burst of changes closer than this goes out as one `team.changed`
PUSH_DELAY_S = 0.25
#: requests after which the team's holdings may have moved (claims, closes, merges)
CLAIM_MOVES: tuple[type[m.Msg], ...] = (
    m.ReportClaim,
    m.ReportSetStatus,
    m.ReportAssign,
    m.ReportMerge,
    m.ReportUnlink,
)


def holdings(names: list[str]) -> Callable[[Session], dict[str, list[str]]]:
    """username -> ids of the open reports they hold, oldest first."""

    def query(s: Session) -> dict[str, list[str]]:
        held: dict[str, list[str]] = {n: [] for n in names}
        if not names:
            return held
        rows = s.execute(
            select(db.Report.claimed_by, db.Report.public_id)
            .where(db.Report.claimed_by.in_(names), db.Report.status != "closed")
            .order_by(db.Report.created_at, db.Report.id)
        ).all()
        for who, rid in rows:
            held[str(who)].append(str(rid))
        return held

    return query


class Team:
    """One per relay (`team_of`): lists the team and pushes its changes."""

    def __init__(self, ctx: RelayContext) -> None:
        self._ctx = ctx
        self._due = False

    def present(self) -> dict[str, tuple[str, float]]:
        """username -> (role, since) over every signed-in officer connection."""
        out: dict[str, tuple[str, float]] = {}
        for session in self._ctx.hub.sessions():
            actor = getattr(session, "actor", None)
            since = getattr(session, "signed_in_at", None)
            if actor is None or since is None:
                continue
            known = out.get(actor.username)
            if known is None or since < known[1]:
                out[actor.username] = (actor.role, float(since))
        return out

    async def listing(self) -> list[m.OnlineOfficer]:
        here = self.present()
        held = await self._ctx.db.read(holdings(sorted(here)))
        return [
            m.OnlineOfficer(
                username=name,
                role=role,  # type: ignore[arg-type]
                since=since,
                holds=held.get(name, [])[: m.TEAM_HOLDS_LISTED],
                holding=len(held.get(name, [])),
            )
            for name, (role, since) in sorted(here.items())
        ]

    def changed(self) -> None:
        """Someone signed in or out, or a claim may have moved: push soon, once."""
        if self._due:
            return
        self._due = True
        self._ctx.spawn(self._push())

    async def _push(self) -> None:
        await asyncio.sleep(PUSH_DELAY_S)
        self._due = False
        officers = await self.listing()
        to = self._ctx.hub.officers_live
        if to:
            websockets.broadcast(to, codec.encode_text(m.TeamChanged(officers=officers)))


_teams: weakref.WeakKeyDictionary[Hub, Team] = weakref.WeakKeyDictionary()


def team_of(ctx: RelayContext) -> Team:
    team = _teams.get(ctx.hub)
    if team is None:
        team = _teams[ctx.hub] = Team(ctx)
    return team


Handler = Callable[[Any], Awaitable[m.Msg | None]]


def follow_claims(handlers: dict[type[m.Msg], Handler], changed: Callable[[], None]) -> None:
    """Wrap the handlers of `CLAIM_MOVES` so a success tells the team (`changed`)."""
    for kind in CLAIM_MOVES:
        inner = handlers.get(kind)
        if inner is None:
            continue

        async def handler(msg: Any, inner: Handler = inner) -> m.Msg | None:
            reply = await inner(msg)
            if not isinstance(reply, m.Error):
                changed()
            return reply

        handlers[kind] = handler
