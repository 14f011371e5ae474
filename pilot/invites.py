"""Invitations for a pilot's participants: a QR code per invite code, and a printable sheet.

`write(invites, title, portal_url, out)` takes the codes as `pilot.invites` returns them
(docs/protocol.md, section 5.9) and writes `out/<CODE>.png` for each code, a QR code of
`<portal-url>/?pilot=<CODE>` (the portal puts the code in its join form:
`portal/js/pilot.js`), and `out/invites.pdf`, an A4 sheet of 8 cards a page with cut
lines: the pilot's title, the group (its title in the plan when the plan is given, else
its short name), the QR code, the code printed `ABCD-EFGH-JKMN`, the
portal's address, the expiry date and one line on privacy.

The sheet is printed by Qt's PDF writer in `console/pilots/invites_sheet.py`, run as a
child process (only the console imports Qt): the QR codes as vector squares, so they
print sharp at any size, and the texts in DejaVu Sans, so Welsh and other scripts print.
Title and group are plan text, drawn as plain text, never interpreted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from backend_client import messages as m
from backend_client.client import RelayClient
from backend_client.limits import MAX_INVITES_PER_REQUEST
from backend_client.pilots import Plan
from backend_client.pilots.running import (  # shared with the console's Pilots pane
    PNG_SCALE,
    PRIVACY,
    card,
    expiry_text,
    join_url,
    printed_code,
    qr,
    save_png,
)
from pilot.printing import run_console_tool

#: the shared helpers stay reachable here, as before they moved
__all__ = ["PNG_SCALE", "PRIVACY", "expiry_text", "join_url", "printed_code", "qr"]

CARDS_PER_PAGE = 8


def to_reply(batch: Invites) -> dict[str, object]:
    """The reply's fields again, for `--codes`: the relay shows codes once only."""
    return {
        "pilot_id": batch.pilot_id,
        "group": batch.group,
        "codes": list(batch.codes),
        "expires_at": batch.expires_at,
    }


@dataclass(frozen=True)
class Invites:
    """What `pilot.invites` carries (the reply's `re` is not needed here)."""

    pilot_id: str
    group: str
    codes: tuple[str, ...]
    expires_at: float

    @classmethod
    def from_reply(cls, data: dict[str, object]) -> Invites:
        """From the reply's JSON object; a clear `ValueError` if it is not one."""
        try:
            codes = data["codes"]
            if not isinstance(codes, list) or not codes:
                raise ValueError("codes: a non-empty list of invite codes")
            expires = data["expires_at"]
            if not isinstance(expires, int | float) or isinstance(expires, bool):
                raise ValueError("expires_at: seconds since the epoch")
            return cls(
                pilot_id=str(data["pilot_id"]),
                group=str(data["group"]),
                codes=tuple(printed_code(str(c)) for c in codes),
                expires_at=float(expires),
            )
        except KeyError as exc:
            raise ValueError(f"missing field {exc.args[0]!r} (a pilot.invites reply)") from None


async def issue(
    officer: RelayClient, pilot_id: str, group: str, count: int, valid_s: float = 14 * 24 * 3600.0
) -> tuple[str, list[Invites]]:
    """`count` codes for `group` from a live officer client (an inspector, a supervisor or
    an admin), in as few `pilot.invite` requests as the limit allows, and the pilot's title.
    An error reply raises `ProtocolError` (`not_found`: no such pilot or group)."""
    listed = await officer.request(m.PilotList(id=""))
    assert isinstance(listed, m.PilotListed)
    title = next((p.title for p in listed.pilots if p.pilot_id == pilot_id), pilot_id)
    batches = []
    left = count
    while left > 0:
        n = min(left, MAX_INVITES_PER_REQUEST)
        got = await officer.request(
            m.PilotInvite(id="", pilot_id=pilot_id, group=group, count=n, valid_s=valid_s)
        )
        assert isinstance(got, m.PilotInvites)
        batches.append(
            Invites(
                pilot_id=got.pilot_id,
                group=got.group,
                codes=tuple(printed_code(c) for c in got.codes),
                expires_at=got.expires_at,
            )
        )
        left -= n
    return title, batches


def write(invites: Invites, title: str, portal_url: str, out: Path) -> int:
    """The PNGs and `invites.pdf` in `out` (created) for one reply; returns the cards."""
    return write_all([invites], title, portal_url, out)


def write_all(
    batches: Sequence[Invites],
    title: str,
    portal_url: str,
    out: Path,
    group_titles: Mapping[str, str] | None = None,
) -> int:
    """As `write`, for several replies (a group each, say) on one sheet, in their order;
    `group_titles` (the plan's, by group name) names each group on its cards."""
    out.mkdir(parents=True, exist_ok=True)
    for batch in batches:
        for code in batch.codes:
            save_png(portal_url, code, out)
    write_sheet(batches, title, portal_url, out, group_titles)
    return sum(len(b.codes) for b in batches)


def group_titles(plan: Plan) -> dict[str, str]:
    """Each group's title by its name, for the cards (a group without one keeps its name)."""
    return {g.name: g.title for g in plan.groups if g.title}


# --- the printable sheet ---------------------------------------------------------


def sheet_spec(
    batches: Sequence[Invites],
    title: str,
    portal_url: str,
    group_titles: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """What `console/pilots/invites_sheet.py` prints: one card per code, in order, with
    its texts and its QR code as rows of 0 and 1 (no quiet zone: the card has room)."""
    titles = group_titles or {}
    cards = [
        card(title, batch.group, code, portal_url, batch.expires_at, titles.get(batch.group, ""))
        for batch in batches
        for code in batch.codes
    ]
    return {"cards": cards}


def write_sheet(
    batches: Sequence[Invites],
    title: str,
    portal_url: str,
    out: Path,
    group_titles: Mapping[str, str] | None = None,
) -> Path:
    """`out/invites.pdf`, by Qt's PDF writer in a child process (Qt stays in the console)."""
    spec = out / "invites-sheet.json"
    spec.write_text(
        json.dumps(sheet_spec(batches, title, portal_url, group_titles)), encoding="utf-8"
    )
    pdf = out / "invites.pdf"
    try:
        run_console_tool("console.pilots.invites_sheet", [str(spec), str(pdf)], pdf, "the sheet")
    finally:
        spec.unlink(missing_ok=True)
    return pdf
