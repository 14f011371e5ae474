"""The Pilots pane's model without Qt (console/pilots/pilots_model.py) and the shared
helpers it and `lookout-pilot` stand on (backend_client/pilots/running.py): who sees the
pane, states and actions per state, counts per group, the words of End and Purge, and the
`pilot.create` a plan makes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest

from backend_client import messages as m
from backend_client import rules
from backend_client.pilots import load, running
from console.pilots import pilots_model as pm

NOW = 1_800_000_000.0
PRESTON = Path(__file__).resolve().parents[2] / "resources" / "pilots" / "preston-2017.toml"
AREA = m.Polygon(coordinates=[(-2.71, 53.75), (-2.69, 53.75), (-2.69, 53.77)])


def info(pilot_id: str = "p1", state: str = "active", **kw: object) -> m.PilotInfo:
    base: dict[str, object] = dict(
        pilot_id=pilot_id,
        title="Preston <b>pilot</b>",
        state=state,
        area=AREA,
        starts_at=NOW - 3600,
        ends_at=NOW + 86400,
        created_by="ivy",
        created_at=NOW - 7200,
        ended_at=None,
        groups=[m.PilotGroup("students", 30, 2, 1), m.PilotGroup("police", 5, 1, 1)],
    )
    base.update(kw)
    return m.PilotInfo(**base)  # type: ignore[arg-type]


def test_only_the_pilot_roles_see_the_pane() -> None:
    assert {r for r in rules.ROLES if pm.may_run_pilots(r)} == set(rules.PILOT_ROLES)
    assert not pm.may_run_pilots("dispatcher") and not pm.may_run_pilots("?")


def test_states_and_what_each_allows() -> None:
    assert pm.shown_state(info(starts_at=NOW + 60), NOW) == "planned"
    assert pm.shown_state(info(), NOW) == "running"
    running_, ended, purged = info(), info(state="ended"), info(state="purged")
    assert (pm.can_invite(running_), pm.can_end(running_), pm.can_purge(running_)) == (
        True,
        True,
        False,
    )
    assert (pm.can_invite(ended), pm.can_end(ended), pm.can_purge(ended)) == (False, False, True)
    assert not (pm.can_invite(purged) or pm.can_end(purged) or pm.can_purge(purged))


def test_rows_total_the_groups_and_events_replace_a_pilot() -> None:
    book = pm.PilotsBook()
    book.replace([info("old", created_at=NOW - 9000), info("new")])
    assert [r.pilot_id for r in book.rows(NOW)] == ["new", "old"]  # newest first
    row = book.rows(NOW)[0]
    assert (row.planned, row.joined, row.active) == (35, 3, 2)
    assert row.groups[0] == pm.GroupRow("students", 30, 2, 1)
    book.apply(info("new", groups=[m.PilotGroup("students", 30, 3, 2)]))
    assert book.rows(NOW)[0].groups == (pm.GroupRow("students", 30, 3, 2),)
    book.apply(info("third", created_at=NOW))
    assert len(book) == 3 and book.rows(NOW)[0].pilot_id == "third"


def test_dates_say_the_end_or_that_it_runs_until_ended() -> None:
    utc = dt.UTC
    assert pm.dates_text(info(), utc) == "15 Jan 2027 07:00 – 16 Jan 2027 08:00"
    assert pm.dates_text(info(ends_at=None), utc).endswith("until ended")
    assert "ended 15 Jan 2027 08:00" in pm.dates_text(info(state="ended", ended_at=NOW), utc)


def test_the_purge_question_names_every_count_from_the_dry_run() -> None:
    counted = m.PilotPurged(
        re="o1",
        pilot_id="p1",
        dry_run=True,
        reports=12,
        chat=1,
        media=3,
        alerts=2,
        receipts=40,
        participants=7,
        invites=10,
    )
    text = pm.purge_question(info(state="ended"), counted)
    for words in (
        "12 reports",
        "1 chat message",
        "3 photo and video files",
        "2 exercise alerts",
        "40 delivery receipts",
        "7 participant links",
        "10 invite codes",
        "cannot be undone",
        "audit log",
    ):
        assert words in text
    assert "Preston <b>pilot</b>" in text  # the title as typed (the box is plain text)
    assert "3 participants" in pm.end_question(info())


def test_invite_problems_in_the_inspector_s_words() -> None:
    assert pm.invite_problem(None, "students", 1) == "Choose a pilot first."
    assert "takes no new invite codes" in (
        pm.invite_problem(info(state="ended"), "students", 1) or ""
    )
    assert pm.invite_problem(info(), "nobody", 1) == "Choose one of the pilot's groups."
    assert "1 to 500" in (pm.invite_problem(info(), "students", 501) or "")
    assert pm.invite_problem(info(), "students", 2) is None
    name = pm.invites_folder_name("p1", "a/../b", NOW)
    assert "/" not in name and name.startswith("p1-a----b-")


def test_a_plan_makes_its_pilot_create_request() -> None:
    plan = load(PRESTON)
    assert running.pilot_id_of(plan) == "preston-2017"
    past = running.create_request(plan, "preston-2017", NOW, "k1")
    assert (past.starts_at, past.ends_at) == (None, None)  # 2017 is past: from now, until ended
    assert past.title == plan.title and past.area == plan.area
    assert [(g.name, g.count) for g in past.groups] == [(g.name, g.count) for g in plan.groups]
    # the same plan moved into the future keeps its days as the pilot's start and end
    day = dt.date.fromtimestamp(NOW) + dt.timedelta(days=30)
    days = [
        msgspec.structs.replace(d, date=day + dt.timedelta(days=i)) for i, d in enumerate(plan.days)
    ]
    ahead = running.create_request(msgspec.structs.replace(plan, days=days), "p2", NOW, "k2")
    assert ahead.starts_at is not None and ahead.ends_at is not None
    assert NOW < ahead.starts_at < ahead.ends_at
    sent = msgspec.structs.replace(ahead, id="o1")  # the client numbers each request
    assert msgspec.json.decode(msgspec.json.encode(sent), type=m.PilotCreate) == sent


@pytest.mark.parametrize(
    ("name", "slug"), [("preston_2017", "preston-2017"), ("x", "pilot-x"), ("ab-", "ab")]
)
def test_pilot_ids_from_plan_names_are_valid_on_the_wire(name: str, slug: str) -> None:
    plan = msgspec.structs.replace(load(PRESTON), name=name)
    assert running.pilot_id_of(plan) == slug and running.is_pilot_id(slug)


def test_invitation_cards_and_the_portal_of_a_relay() -> None:
    assert running.portal_of("wss://relay.example.org:8443/") == "https://relay.example.org:8443"
    c = running.card("T", "students", "7kqm xw3a 9tbd", "https://p.example/", NOW)
    assert c["code"] == "7KQM-XW3A-9TBD" and c["portal"] == "https://p.example"
    assert c["privacy"] == running.PRIVACY and str(c["expiry"]).startswith("Valid until")
    assert running.join_url("https://p.example/", "7KQM-XW3A-9TBD") == (
        "https://p.example/?pilot=7KQM-XW3A-9TBD"
    )
