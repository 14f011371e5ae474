"""A plan's pilot on the relay, and its invitations on paper: the parts that both the
console's Pilots pane and `lookout-pilot` (rehearse, invites) need, written once.

`create_request` is the `pilot.create` a plan makes (its id, title, area and groups; its
days' opening and close when they are still ahead). `join_url`, `qr` and `card` are what a
printed invitation carries: the portal's address with the code, as a QR code, and the
texts of one card of the sheet `console/pilots/invites_sheet.py` prints.

Pure apart from `save_png` (the file system), so the console and the headless tools agree
on every card without one importing the other.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args
from urllib.parse import quote, urlsplit

import segno

from backend_client import messages as m
from backend_client import rules
from backend_client.pilots.model import Plan
from backend_client.pilots.schedule import Schedule

#: the line on privacy every invitation card carries
PRIVACY = "You stay anonymous; everything you send is marked as exercise."
#: pixels per QR module in the PNGs: a 4-module quiet zone, about 300 px for a short URL
PNG_SCALE = 8

#: the wire's own pattern for a pilot id (`messages.PilotId`), not a copy of it
_SLUG = re.compile(get_args(m.PilotId)[1].pattern)


def is_pilot_id(text: str) -> bool:
    """Is this a pilot id the relay takes (`messages.PilotId`)?"""
    return bool(_SLUG.match(text))


def pilot_id_of(plan: Plan) -> str:
    """The plan's name as a relay pilot id (no `_`; a letter or digit at both ends)."""
    slug = plan.name.replace("_", "-").strip("-")
    if not _SLUG.match(slug):
        slug = f"pilot-{slug}".strip("-") if slug else "pilot"
    return slug


def create_request(
    plan: Plan, pilot_id: str, now: float, idem: str, *, ends_at: float | None = None
) -> m.PilotCreate:
    """`pilot.create` for the plan: everyone who creates a pilot from a plan (the Pilots
    pane, `lookout --run-pilot`, a rehearsal's embedded relay) sends this one. The first
    day's opening and last day's close are the pilot's start and planned end while they
    are ahead; a plan whose days have passed (a past pilot run again) starts now, and runs
    until `pilot.end`. `ends_at` instead: starts now, ends then (a rehearsal's own clock)."""
    starts_at: float | None = None
    if ends_at is None and plan.days:
        sched = Schedule.of(plan)
        opens = sched.windows[0].opens.timestamp()
        closes = sched.windows[-1].closes.timestamp()
        if closes > now:
            ends_at = closes
            starts_at = opens if opens > now else None
    return m.PilotCreate(
        id="",
        idem=idem,
        pilot_id=pilot_id,
        title=plan.title,
        area=plan.area,
        groups=[m.PilotGroupSpec(g.name, max(g.count, 0)) for g in plan.groups],
        starts_at=starts_at,
        ends_at=ends_at,
    )


# ---------------------------------------------------------------- invitations


def printed_code(code: str) -> str:
    """`ABCD-EFGH-JKMN` from a code in any form; `ValueError` if it is not an invite code."""
    plain = rules.normalise_invite_code(code)
    if len(plain) != rules.INVITE_CODE_LENGTH or any(
        ch not in rules.INVITE_ALPHABET for ch in plain
    ):
        raise ValueError(f"not an invite code: {code!r}")
    return rules.format_invite_code(plain)


def portal_of(relay_url: str) -> str:
    """The citizens' portal of a relay (served on its TLS port): `wss://h:p/...` ->
    `https://h:p`."""
    parts = urlsplit(relay_url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


def join_url(portal_url: str, code: str) -> str:
    """The address a participant's phone opens: the portal with the code to join with."""
    return f"{portal_url.rstrip('/')}/?pilot={quote(printed_code(code), safe='-')}"


def qr(portal_url: str, code: str) -> segno.QRCode:
    # level M: survives a crease or a smudge on a printed card and stays a small symbol
    return segno.make_qr(join_url(portal_url, code), error="m", boost_error=False)


def save_png(portal_url: str, code: str, out: Path) -> Path:
    """`out/<CODE>.png`, the code's QR code; the file's path."""
    path = out / f"{printed_code(code)}.png"
    qr(portal_url, code).save(str(path), kind="png", scale=PNG_SCALE)
    return path


def expiry_text(expires_at: float) -> str:
    return datetime.fromtimestamp(expires_at, UTC).strftime("Valid until %d %b %Y, %H:%M UTC")


def card(
    title: str,
    group: str,
    code: str,
    portal_url: str,
    expires_at: float,
    group_title: str = "",
) -> dict[str, object]:
    """One card of the printable sheet: its texts and its QR code as rows of 0 and 1 (no
    quiet zone: the card has room). The group is named by its title in the plan ("UCLan
    security") when the caller has the plan, else by its short name (all the wire has)."""
    rows = [
        "".join("1" if v else "0" for v in r) for r in qr(portal_url, code).matrix_iter(border=0)
    ]
    return {
        "title": title,
        "group": group_title or group,
        "code": printed_code(code),
        "portal": portal_url.rstrip("/"),
        "expiry": expiry_text(expires_at),
        "privacy": PRIVACY,
        "matrix": rows,
    }
