"""The emails: a confirmation, and an alert (or its update or cancel) as plain text with an
HTML alternative.

Officer-written text is text: the HTML part escapes every field (`html.escape`), and the
Subject has control characters (CR/LF) replaced, so no headline can add a header or
markup. Each alert email carries RFC 8058 one-click unsubscribe (`List-Unsubscribe` with
an https URL and `List-Unsubscribe-Post`) and the same link in its body.
"""

from __future__ import annotations

import html
import re
import time
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import quote

from backend_client import messages as m
from backend_client import rules
from relay.mail.store import Outgoing

#: the portal's pages for the links (relay/portal.py serves them; see docs/email.md)
CONFIRM_PATH = "/email/confirm"
UNSUBSCRIBE_PATH = "/email/unsubscribe"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def link(public_url: str, path: str, token: str) -> str:
    return f"{public_url.rstrip('/')}{path}?token={quote(token, safe='')}"


def _one_line(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()


def _when(t: float) -> str:
    return time.strftime("%d %b %Y %H:%M UTC", time.gmtime(t))


def _distance(metres: float) -> str:
    return f"{metres:.0f} m" if metres < 1000 else f"{metres / 1000:.1f} km"


def describe_area(info: m.AlertInfo, distance_m: float) -> str:
    """The area in words: the officer's description, its shape and size, and where it
    lies from the subscriber's own place (no coordinates)."""
    a = info.area
    if isinstance(a, m.Circle):
        shape = f"a circle of {_distance(a.radius_m)} radius"
    else:
        shape = "an area drawn on the map"
    where = (
        "your place is inside it"
        if distance_m <= 0
        else f"its edge is {_distance(distance_m)} from your place"
    )
    desc = _one_line(info.area_desc)
    return f"{desc}: {shape}; {where}" if desc else f"{shape[0].upper()}{shape[1:]}; {where}"


def _categories(names: tuple[str, ...]) -> str:
    return ", ".join(rules.CATEGORY_LABELS.get(c, c) for c in names)


def _base(out: Outgoing, mail_from: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = out.to
    msg["Subject"] = _one_line(subject)[:250]
    msg["Date"] = formatdate(usegmt=True)
    domain = mail_from.rsplit("@", 1)[-1].strip("> ") or "localhost"
    msg["Message-ID"] = f"<{out.message_id}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    return msg


def confirmation(out: Outgoing, mail_from: str, public_url: str) -> EmailMessage:
    assert out.confirm_token is not None
    url = link(public_url, CONFIRM_PATH, out.confirm_token)
    msg = _base(out, mail_from, "Confirm your Lookout email alerts")
    what = (
        f"alerts about {_categories(out.categories)} within {_distance(out.radius_m)} "
        "of the place you chose"
    )
    text = (
        f"Someone (we hope you) asked for Lookout email {what}.\n\n"
        f"To start them, open this link:\n{url}\n\n"
        "If you did not ask, ignore this email: nothing more will be sent, and the request "
        "is forgotten when the link expires.\n"
    )
    msg.set_content(text)
    msg.add_alternative(
        _html(
            "Confirm your Lookout email alerts",
            [
                f"<p>Someone (we hope you) asked for Lookout email {html.escape(what)}.</p>",
                f'<p><a href="{html.escape(url)}">Start my email alerts</a></p>',
                "<p>If you did not ask, ignore this email: nothing more will be sent.</p>",
            ],
        ),
        subtype="html",
    )
    return msg


def alert(out: Outgoing, mail_from: str, public_url: str) -> EmailMessage:
    info = out.info
    assert info is not None
    unsubscribe = link(public_url, UNSUBSCRIBE_PATH, out.unsubscribe_token)
    exercise = info.status != "Actual"
    headline = _one_line(info.headline)
    prefix = {"Update": "Update: ", "Cancel": "Cancelled: "}.get(out.msg_type, "")
    mark = f"{info.status.upper()} - " if exercise else ""
    msg = _base(out, mail_from, f"{mark}{prefix}{headline}")
    msg["List-Unsubscribe"] = f"<{unsubscribe}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    rows: list[tuple[str, str]] = []
    if out.msg_type == "Cancel":
        lead = "This alert has been cancelled: it no longer applies."
    elif out.msg_type == "Update":
        lead = "This alert has been updated. It replaces the earlier email."
    else:
        lead = ""
    if info.description:
        rows.append(("What happened", info.description))
    if info.instruction and out.msg_type != "Cancel":
        rows.append(("What to do", info.instruction))
    rows.append(("Where", describe_area(info, out.distance_m)))
    if info.incident_ref:
        rows.append(("Incident number", info.incident_ref))
    if info.contact:
        rows.append(("Contact", info.contact))
    rows.append(("Sent", _when(out.sent_at)))
    if out.msg_type != "Cancel":
        rows.append(("Expires", _when(info.expires_at)))
    banner = (
        f"{info.status.upper()}: this is a {info.status.lower()} alert, not a real incident."
        if exercise
        else ""
    )
    footer = (
        f"You get this because you asked for Lookout email alerts about "
        f"{_categories(out.categories)} within {_distance(out.radius_m)} of your place."
    )
    text_lines = [x for x in (banner, headline, lead) if x]
    text = "\n\n".join(text_lines) + "\n\n"
    text += "".join(f"{label}:\n{value}\n\n" for label, value in rows)
    text += f"{footer}\nStop these emails: {unsubscribe}\n"
    msg.set_content(text)
    parts = []
    if banner:
        parts.append(
            f'<p style="background:#fde68a;padding:8px;font-weight:bold">{html.escape(banner)}</p>'
        )
    parts.append(f"<h1>{html.escape(headline)}</h1>")
    if lead:
        parts.append(f"<p><strong>{html.escape(lead)}</strong></p>")
    for label, value in rows:
        body = html.escape(value).replace("\n", "<br>")
        parts.append(f"<h2>{html.escape(label)}</h2><p>{body}</p>")
    parts.append(
        f'<p style="color:#555">{html.escape(footer)} '
        f'<a href="{html.escape(unsubscribe)}">Stop these emails</a></p>'
    )
    msg.add_alternative(_html(headline, parts), subtype="html")
    return msg


def _html(title: str, parts: list[str]) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body>" + "".join(parts) + "</body></html>\n"
    )


def build(out: Outgoing, mail_from: str, public_url: str) -> EmailMessage:
    return (
        confirmation(out, mail_from, public_url)
        if out.kind == "confirm"
        else alert(out, mail_from, public_url)
    )
