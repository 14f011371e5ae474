"""Reports reaching a feed widget as the relay's events would, for the feed's widget tests:
dispatched through the session, then flushed (the feed batches on a timer)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from backend_client import messages as m

if TYPE_CHECKING:
    from console.feed.widget import FeedWidget
    from console.session import ConsoleSession

_seq = itertools.count(1)


def next_seq() -> int:
    """The next event sequence number (one counter for every test that uses these)."""
    return next(_seq)


def arrive(session: ConsoleSession, feed: FeedWidget, *reports: m.Report) -> None:
    for r in reports:
        session.dispatch(m.ReportCreated(seq=next_seq(), at=r.created_at, report=r))
    feed.flush_pending()


def change(session: ConsoleSession, feed: FeedWidget, r: m.Report) -> None:
    session.dispatch(m.ReportUpdated(seq=next_seq(), at=r.created_at, report=r, by="dev"))
    feed.flush_pending()


def queued(session: ConsoleSession) -> list[m.Msg]:
    """What the officer's actions put in the outbox, oldest first."""
    return [e.message for e in session.client.outbox.pending()]
