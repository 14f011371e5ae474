"""The public page of one alert, `/alerts/{alert id}`: where every CAP message's `<web>`
points (relay/cap.py `Issuer.web`, `{cap_web_url}/alerts/{alert id}`), so a person who
follows the link from an aggregator, a feed reader or Google's alert card reads the
alert in a browser.

Why it is rendered from the stored CAP XML of the alert's latest public message and not
from the alerts row: the page then says exactly what was sent, in every language it was
sent in (one `<info>` per language, each shown in an element with its `lang`), and an
Update or a Cancel shows as one. The page is a server-rendered document with no script;
every text in it comes from officers (and, through templates, from citizens' reports) and
is escaped once, here, in `_text`: it can only ever be text. It is served with the same
strict CSP as the portal (relay/portal.py `harden`) and styled by the portal's own
/app.css. What is public is decided by relay/cap_feed.py `_published`, the same rule as
the feed's: anything else (unknown, exercise unless configured, test, unpublished) is 404.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from lxml import etree

from relay import cap, portal

PREFIX = "/alerts/"
#: an alert id (relay/reports.py new_public_id: `A-` and hex); nothing else is looked up,
#: so `..`, `%2e`, slashes, dots (a message identifier) and NUL never reach the database
ALERT_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
#: an RFC 5646 tag, as far as a `lang` attribute needs: letters, digits and hyphens
_LANG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8}){0,6}")
_NS = {"cap": cap.CAP_NS}

#: the labels of a block, from the portal's own catalogues (portal/i18n/{lang}.json) in the
#: block's language where the portal has one (en, cy), else English; CAP's own terms
#: (event, severity, urgency, response) keep their English labels as their values do
_LABELS = {
    "area": ("live.area", "Area"),
    "incident": ("live.incident", "Incident number"),
    "contact": ("live.contact", "Contact"),
    "expires": ("live.expires", "Until"),
    "sent": ("live.sent", "Sent {time}"),
    "what_to_do": ("live.what_to_do", "What to do"),
}

#: the state a reader is told, with its words
STATES = {
    "current": "Current alert",
    "updated": "Updated alert",
    "cancelled": "Cancelled: this alert has been withdrawn",
    "expired": "Expired: this alert is no longer in force",
}


@dataclass(frozen=True)
class Block:
    """One `<info>`: the alert in one language."""

    language: str
    event: str
    headline: str
    description: str
    instruction: str
    area_desc: str
    expires: str
    contact: str
    severity: str
    urgency: str
    response_type: str
    incident: str


@dataclass(frozen=True)
class Page:
    identifier: str
    status: str  # CAP status: Actual, Exercise
    msg_type: str  # Alert, Update, Cancel
    sent: str
    blocks: tuple[Block, ...]


def parse(xml: str) -> Page:
    """The parts of a stored CAP message the page shows (no entity, DTD or network)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(xml.encode("utf-8"), parser)

    def text(el: etree._Element, path: str) -> str:
        found = el.find(path, _NS)
        return "" if found is None or found.text is None else str(found.text)

    blocks = []
    for info in root.findall("cap:info", _NS):
        incident = ""
        for p in info.findall("cap:parameter", _NS):
            if text(p, "cap:valueName") == cap.PARAM_INCIDENT:
                incident = text(p, "cap:value")
        blocks.append(
            Block(
                language=text(info, "cap:language") or "en-US",  # CAP 1.2's default
                event=text(info, "cap:event"),
                headline=text(info, "cap:headline"),
                description=text(info, "cap:description"),
                instruction=text(info, "cap:instruction"),
                area_desc="; ".join(
                    str(a.text or "") for a in info.findall("cap:area/cap:areaDesc", _NS)
                ),
                expires=text(info, "cap:expires"),
                contact=text(info, "cap:contact"),
                severity=text(info, "cap:severity"),
                urgency=text(info, "cap:urgency"),
                response_type=text(info, "cap:responseType"),
                incident=incident,
            )
        )
    return Page(
        identifier=text(root, "cap:identifier"),
        status=text(root, "cap:status"),
        msg_type=text(root, "cap:msgType"),
        sent=text(root, "cap:sent"),
        blocks=tuple(blocks),
    )


def state_of(page: Page, now: float) -> str:
    """cancelled, expired, updated or current: what a reader must know first."""
    if page.msg_type == "Cancel":
        return "cancelled"
    expiries = [_moment(b.expires) for b in page.blocks]
    if any(e is not None and e.timestamp() <= now for e in expiries):
        return "expired"
    return "updated" if page.msg_type == "Update" else "current"


def render(xml: str, now: float) -> bytes:
    """The HTML document for the stored CAP message `xml` (the alert's latest public one)."""
    page = parse(xml)
    state = state_of(page, now)
    kind = "exercise" if page.status == "Exercise" else "actual"
    first = page.blocks[0] if page.blocks else None
    title = first.headline if first is not None else page.identifier
    out = [
        "<!doctype html>",
        f'<html lang="{_lang(first.language if first else "en")}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_text(title)} - Lookout</title>",
        '<link rel="icon" href="/icon.svg" type="image/svg+xml">',
        '<link rel="stylesheet" href="/app.css">',
        "</head>",
        "<body>",
        '<header class="bar"><p class="brand">Lookout</p></header>',
        '<main id="main">',
        f'<section class="alert-item alert-page kind-{kind}" data-state="{state}">',
    ]
    if kind == "exercise":
        out.append(
            '<p class="alert-kind kind-exercise">Exercise</p>'
            '<p class="alert-rehearsal">This is an exercise, not a real alert.</p>'
        )
    out.append(f'<p class="alert-kind alert-state" id="alert-state">{_text(STATES[state])}</p>')
    for b in page.blocks:
        words = _words(b.language)
        out.append(f'<article class="alert-info" lang="{_lang(b.language)}">')
        out.append(f'<h1 class="alert-headline">{_text(b.headline)}</h1>')
        before, _, after = words["sent"].partition("{time}")
        out.append(f'<p class="alert-when">{_text(before)}{_time(page.sent)}{_text(after)}</p>')
        out.append('<dl class="alert-facts">')
        for label, value in (
            ("Event", b.event),
            (words["area"], b.area_desc),
            ("Severity", b.severity),
            ("Urgency", b.urgency),
            ("Response", b.response_type),
            (words["incident"], b.incident),
            (words["contact"], b.contact),
        ):
            if value:
                out.append(f"<dt>{_text(label)}</dt><dd><span>{_text(value)}</span></dd>")
        if b.expires:
            out.append(f"<dt>{_text(words['expires'])}</dt><dd>{_time(b.expires)}</dd>")
        out.append("</dl>")
        if b.description:
            out.append(f'<p class="alert-description">{_text(b.description)}</p>')
        if b.instruction:
            out.append(
                f"<h2>{_text(words['what_to_do'])}</h2>"
                f'<p class="alert-instruction">{_text(b.instruction)}</p>'
            )
        out.append("</article>")
    # relative: the link never carries the Host header a request came with
    href = f"/cap/alerts/{_text(page.identifier)}.xml"
    out.append(
        f'<p><a class="cap-link" href="{href}" type="application/cap+xml">'
        "This alert as a CAP message (XML)</a></p>"
    )
    out += ["</section>", "</main>", "</body>", "</html>", ""]
    return "\n".join(out).encode("utf-8")


@cache
def _catalogue(primary: str) -> dict[str, str]:
    """The portal's strings in language `primary` ({} when it has none)."""
    if not re.fullmatch(r"[a-z]{2,3}", primary):
        return {}
    path = portal.PORTAL_ROOT / "i18n" / f"{primary}.json"
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in found.items() if isinstance(v, str)}


def _words(language: str) -> dict[str, str]:
    strings = _catalogue(language.split("-", 1)[0].lower())
    out = {}
    for name, (key, english) in _LABELS.items():
        word = strings.get(key, english)
        out[name] = word if name != "sent" or "{time}" in word else english
    return out


def _text(value: str) -> str:
    """Text for HTML: escaped (quotes too, so it is safe in an attribute as well)."""
    return html.escape(value, quote=True)


def _lang(tag: str) -> str:
    return tag if _LANG.fullmatch(tag) else ""


def _moment(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None


def _time(value: str) -> str:
    moment = _moment(value)
    if moment is None:
        return _text(value)
    iso = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = moment.strftime("%d %b %Y, %H:%M UTC").lstrip("0")
    return f'<time datetime="{iso}">{shown}</time>'
