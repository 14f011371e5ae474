"""Which triage actions the feed offers, from the shared rules, without Qt."""

from __future__ import annotations

import pytest

from backend_client import messages as m
from console.feed.triage import Offer, may_move_to, must_force, offer


def report(status: str = "new", claimed_by: str | None = None) -> m.Report:
    return m.Report(
        report_id="R-0001",
        reporter="citizen-1",
        category="burglary",
        text="text",
        lat=53.76,
        lon=-2.70,
        created_at=1_700_000_000.0,
        status=status,  # type: ignore[arg-type]
        priority="normal",
        claimed_by=claimed_by,
        incident_ref=None,
        media=[],
    )


def test_nothing_is_offered_without_a_report() -> None:
    assert offer(None, "dana", "dispatcher") == Offer()


# (status, holder, role) -> (claim, progress, close, assign, priority), for "dana"
CASES = [
    # a new report: claim it, and "C" then "P"/"X" work before the claim's event is back
    ("new", None, "dispatcher", (True, True, True, True, True)),
    ("claimed", "dana", "dispatcher", (False, True, True, True, True)),
    ("in_progress", "dana", "dispatcher", (False, False, True, True, True)),
    # someone else's report: only a supervisor takes it over or moves it
    ("claimed", "dev", "dispatcher", (False, False, False, True, True)),
    ("in_progress", "dev", "dispatcher", (False, False, False, True, True)),
    ("claimed", "dev", "supervisor", (True, True, True, True, True)),
    ("in_progress", "dev", "admin", (True, False, True, True, True)),
    # closed: a claim reopens it (the rules' closed -> claimed); nothing else is offered
    ("closed", "dev", "dispatcher", (True, False, False, False, False)),
    ("closed", "dana", "dispatcher", (True, False, False, False, False)),
    # an analyst reads and works nothing
    ("new", None, "analyst", (False, False, False, False, False)),
    ("claimed", "ann", "analyst", (False, False, False, False, False)),
]


@pytest.mark.parametrize(("status", "holder", "role", "expected"), CASES)
def test_offer_follows_the_rules(
    status: str, holder: str | None, role: str, expected: tuple[bool, ...]
) -> None:
    got = offer(report(status, holder), "ann" if role == "analyst" else "dana", role)
    assert (got.claim, got.progress, got.close, got.assign, got.priority) == expected


def test_moves_the_rules_never_allow_are_never_offered() -> None:
    assert not may_move_to(report("closed", "dev"), "in_progress", "dana", "dispatcher")
    assert not may_move_to(report("in_progress", "dana"), "in_progress", "dana", "dispatcher")
    assert not may_move_to(report("closed", "dana"), "closed", "dana", "dispatcher")


def test_force_only_for_a_claim_that_still_counts() -> None:
    assert must_force(report("claimed", "dev"), "sam")
    assert not must_force(report("claimed", "sam"), "sam")
    assert not must_force(report("closed", "dev"), "sam")  # a closed report's claim lapses
    assert not must_force(report("new"), "sam")


def test_a_role_not_known_yet_bars_nothing_but_never_forces() -> None:
    """Before the login's answer the session's role is "?": the relay judges on delivery."""
    assert offer(report(), "dana", "?") == Offer(True, True, True, True, True)
    held = offer(report("claimed", "dev"), "dana", "?")
    assert not held.claim and not held.progress and held.assign


def test_reopen_is_offered_for_a_closed_report_only() -> None:
    assert offer(report("closed", "dana"), "dana", "dispatcher").reopen
    assert offer(report("closed", "dev"), "dana", "dispatcher").reopen  # as a claim of hers
    assert not offer(report("closed", "dev"), "ann", "analyst").reopen
    assert not offer(report("in_progress", "dana"), "dana", "dispatcher").reopen
