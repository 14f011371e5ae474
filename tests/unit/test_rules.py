"""The shared rules: the relay enforces these and the console reads them, so test them alone."""

from __future__ import annotations

import pytest

from backend_client import messages as m
from backend_client import rules


def test_every_officer_request_has_a_permission_row() -> None:
    officer_requests = set(m.OfficerInbound.__args__) - {m.Login, m.Resume}  # type: ignore[attr-defined]
    assert officer_requests == set(rules.PERMISSIONS)


def test_analyst_reads_but_does_not_work_reports() -> None:
    assert rules.may_send("analyst", m.MediaGet)
    assert not rules.may_send("analyst", m.ReportClaim)
    assert not rules.may_send("analyst", m.AlertSend)


def test_only_supervising_roles_approve_and_never_their_own_alert() -> None:
    assert not rules.may_send("dispatcher", m.AlertApprove)
    assert rules.may_send("supervisor", m.AlertApprove)
    assert rules.may_approve("supervisor", "sam", sender="dana")
    assert not rules.may_approve("supervisor", "sam", sender="sam")
    assert not rules.may_approve("dispatcher", "dev", sender="dana")
    assert not rules.may_send("nobody", m.Ping)


@pytest.mark.parametrize(
    ("current", "target", "ok"),
    [
        ("new", "claimed", True),
        ("new", "closed", False),
        ("new", "in_progress", False),
        ("claimed", "in_progress", True),
        ("claimed", "closed", True),
        ("claimed", "new", True),
        ("in_progress", "closed", True),
        ("in_progress", "new", False),
        ("closed", "claimed", True),
        ("closed", "in_progress", True),
        ("closed", "new", False),
    ],
)
def test_status_moves(current: str, target: str, ok: bool) -> None:
    assert rules.can_move(current, target) is ok


def test_holder_moves_need_the_claim_or_a_supervisor() -> None:
    kw = {"claimed_by": "dana", "username": "dev", "role": "dispatcher"}
    assert not rules.may_move("claimed", "closed", **kw)  # type: ignore[arg-type]
    assert rules.may_move(
        "claimed", "closed", claimed_by="dana", username="dana", role="dispatcher"
    )
    assert rules.may_move("claimed", "closed", claimed_by="dana", username="sam", role="supervisor")
    assert rules.may_move("closed", "claimed", **kw)  # type: ignore[arg-type]
    assert rules.may_move("new", "new", **kw)  # type: ignore[arg-type]


def test_claims() -> None:
    assert rules.may_claim("new", None, "dev", "dispatcher", force=False)
    assert not rules.may_claim("claimed", "dana", "dev", "dispatcher", force=False)
    assert not rules.may_claim("claimed", "dana", "dev", "dispatcher", force=True)
    assert rules.may_claim("claimed", "dana", "sam", "supervisor", force=True)
    assert rules.may_claim("closed", "dana", "dev", "dispatcher", force=False)  # claim lapsed
    assert rules.status_after_claim("new") == "claimed"
    assert rules.status_after_claim("closed") == "claimed"
    assert rules.status_after_claim("in_progress") == "in_progress"


def test_one_label_per_category_and_the_bit_order_is_the_contracts() -> None:
    assert rules.CATEGORIES == m.CATEGORIES
    assert set(rules.CATEGORY_LABELS) == set(m.CATEGORIES)
    labels = list(rules.CATEGORY_LABELS.values())
    assert len(set(labels)) == len(labels)
    assert rules.category_label("antisocial") == "Anti-social"
    assert rules.category_label("unknown_thing") == "unknown_thing"
    assert rules.initial_priority("missing_person") == "high"
    assert rules.initial_priority("burglary") == "normal"


def test_the_two_person_rule_has_no_exceptions() -> None:
    assert rules.needs_approval(501, 500) and not rules.needs_approval(500, 500)
    assert rules.update_needs_approval(True, 501, 500)
    assert not rules.update_needs_approval(False, 501, 500), "an expiry-only update"
    assert not rules.update_needs_approval(True, 3, 500)


def test_a_held_report_is_changed_by_its_holder_or_a_supervisor_only() -> None:
    dev = {"claimed_by": "dana", "username": "dev", "role": "dispatcher"}
    assert not rules.may_move("in_progress", "claimed", **dev)  # type: ignore[arg-type]
    assert not rules.may_move("claimed", "new", **dev)  # type: ignore[arg-type]
    assert rules.may_move(
        "in_progress", "claimed", claimed_by="dana", username="sam", role="supervisor"
    )
    assert rules.may_move(
        "in_progress", "claimed", claimed_by="dana", username="dana", role="dispatcher"
    )
    assert rules.may_move("new", "claimed", claimed_by=None, username="dev", role="dispatcher")
    assert not rules.may_assign("in_progress", "dana", "dev", "dispatcher")
    assert rules.may_assign("in_progress", "dana", "sam", "supervisor")
    assert rules.may_assign("closed", "dana", "dev", "dispatcher")  # reopens it
    assert set(rules.MOVES["closed"]) == {"claimed", "in_progress"}
    assert all(who in ("anyone", "holder") for who in rules.MOVE_TABLE.values())


def test_pseudonyms_spell_no_word() -> None:
    """No vowel can be drawn, so no word can be spelt (a demo once dealt out "FUCKN"),
    and every pseudonym has the prefix and length the console shortens it by."""
    import random

    assert not set("AEIOUY") & set(rules.PSEUDONYM_ALPHABET)
    rng = random.Random(0)
    for _ in range(2000):
        p = rules.new_pseudonym(rng.choice)
        assert p.startswith(rules.PSEUDONYM_PREFIX)
        assert len(p) == len(rules.PSEUDONYM_PREFIX) + rules.PSEUDONYM_LENGTH
        assert set(p[len(rules.PSEUDONYM_PREFIX) :]) <= set(rules.PSEUDONYM_ALPHABET)


def test_reopen_puts_a_report_back_for_its_holder_and_claims_it_for_anyone_else() -> None:
    # the officer who held it (an undone close) or a supervisor: straight back into progress
    assert rules.reopen_target("dana", "dana", "dispatcher") == "in_progress"
    assert rules.reopen_target("dana", "sam", "supervisor") == "in_progress"
    # anyone else reopens it as theirs
    assert rules.reopen_target("dana", "dev", "dispatcher") == "claimed"
    assert not rules.may_move(
        "closed", "in_progress", claimed_by="dana", username="dev", role="dispatcher"
    )
    assert rules.may_move("closed", "claimed", claimed_by="dana", username="dev", role="dispatcher")
    assert "Passed to 999/101" in rules.CLOSE_REASONS and len(set(rules.CLOSE_REASONS)) == 5
