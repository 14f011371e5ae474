"""The CAP feed on the relay's public (TLS) port, for systems that pull rather than listen:
`/cap/feed.atom` (Atom, RFC 4287: one entry per current public alert, linking its current
CAP message) and `/cap/alerts/{identifier}.xml` (any message a public alert went through,
exactly as it was sent: alert_versions.cap_xml).

What is public: a real message (CAP status Actual, no pilot: exercise alerts appear only on
a relay configured with `cap_feed_exercise`, and then say so; Test, Draft and System never)
that was published (approved or sent without approval; never a proposal or a rejected
one). Each message is judged by its own status: an Update may not change it (relay/alerts.py
refuses that), and a message stored before that rule keeps what it was. "Current": active and not yet expired, or cancelled before its expiry (the Cancel
stays in the feed until then, so a consumer that polls learns of it).

The feed is an ordinary GET answer with a strong ETag (the SHA-256 of its body) and
If-None-Match -> 304, so a consumer polling every minute costs one query and no body.
Every text in it is written with lxml's element API, so alert text can only be text.

`/alerts/{alert id}` (the `<web>` of every message) is the alert's page for people, from
the same stored messages and the same rule of what is public: relay/alert_page.py.
"""

from __future__ import annotations

import hashlib
import http
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session
from websockets.http11 import Request, Response

from relay import alert_page, cap, portal
from relay.db import models as db
from relay.db.uow import Database

FEED_PATH = "/cap/feed.atom"
MESSAGE_PREFIX = "/cap/alerts/"
ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
CAP_TYPE = "application/cap+xml; charset=utf-8"
_A = f"{{{ATOM_NS}}}"
_IDENT_RE = re.compile(r"[A-Za-z0-9._@-]{1,80}")


@dataclass(frozen=True)
class Entry:
    identifier: str
    msg_type: str
    headline: str
    area_desc: str
    sent_at: float
    status: str = "Actual"  # CAP status: Exercise only with cap_feed_exercise


def _public_status(a: db.Alert, v: db.AlertVersion, exercise: bool) -> bool:
    """Whether message `v` of `a` is of a kind that may be public, by its own status (an
    earlier message keeps what it was whatever a later one says): Actual (and no pilot);
    with `exercise` (config cap_feed_exercise) also Exercise, a pilot's included."""
    info = json.loads(v.info_json)
    status = info.get("status", "Actual")
    if status == "Actual" and a.pilot_id is None and info.get("pilot_id") is None:
        return True
    return exercise and status == "Exercise"


def _published(
    a: db.Alert, versions: list[db.AlertVersion], exercise: bool = False
) -> list[db.AlertVersion]:
    """The versions of `a` that went out as CAP messages to the public (none of a test
    message, an exercise one unless `exercise`, a proposal, a rejected or never-sent one;
    a Cancel only after a public message)."""
    out: list[db.AlertVersion] = []
    for v in versions:
        if v.cap_xml is None or not _public_status(a, v, exercise):
            continue
        if v.state == "active" or (v.msg_type == "Cancel" and out):
            out.append(v)
    return out


def current_entries(now: float, exercise: bool = False) -> Callable[[Session], list[Entry]]:
    def query(s: Session) -> list[Entry]:
        rows = s.scalars(
            select(db.Alert)
            .where(db.Alert.state.in_(("active", "cancelled")), db.Alert.expires_at > now)
            .order_by(db.Alert.id.desc())
        )
        out = []
        for a in rows:
            versions = list(
                s.scalars(
                    select(db.AlertVersion)
                    .where(db.AlertVersion.alert_id == a.id)
                    .order_by(db.AlertVersion.n)
                )
            )
            published = _published(a, versions, exercise)
            if not published or published[-1].n != versions[-1].n:
                continue  # nothing public, or its latest change is not (yet) a message
            last = published[-1]
            info = json.loads(last.info_json)
            out.append(
                Entry(
                    identifier=cap.message_identifier(last.cap_xml or "") or a.public_id,
                    msg_type=last.msg_type,
                    headline=str(info.get("headline", "")),
                    area_desc=str(info.get("area_desc", "")),
                    sent_at=last.sent_at,
                    status=str(info.get("status", "Actual")),
                )
            )
        return out

    return query


def public_message(identifier: str, exercise: bool = False) -> Callable[[Session], str | None]:
    """The stored CAP text of public message `identifier`, or None (unknown, or not public)."""

    def query(s: Session) -> str | None:
        a = s.scalar(select(db.Alert).where(db.Alert.public_id == identifier.partition(".")[0]))
        if a is None:
            return None
        versions = list(
            s.scalars(
                select(db.AlertVersion)
                .where(db.AlertVersion.alert_id == a.id)
                .order_by(db.AlertVersion.n.desc())
            )
        )
        for v in reversed(_published(a, list(reversed(versions)), exercise)):
            if cap.message_identifier(v.cap_xml or "") == identifier:
                return v.cap_xml
        return None

    return query


def latest_public(alert_id: str, exercise: bool = False) -> Callable[[Session], str | None]:
    """The stored CAP text of alert `alert_id`'s latest public message (its page shows it),
    or None: unknown, or nothing of it public. A pending update's proposal is an alert row
    of its own whose versions are never public, so its id has no page either."""

    def query(s: Session) -> str | None:
        a = s.scalar(select(db.Alert).where(db.Alert.public_id == alert_id))
        if a is None:
            return None
        versions = s.scalars(
            select(db.AlertVersion)
            .where(db.AlertVersion.alert_id == a.id)
            .order_by(db.AlertVersion.n)
        )
        published = _published(a, list(versions), exercise)
        return published[-1].cap_xml if published else None

    return query


def _atom_time(unix: float) -> str:
    return datetime.fromtimestamp(int(unix), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_feed(entries: list[Entry], sender: str, base: str, now: float) -> bytes:
    """The Atom document: `base` is the absolute https:// origin the links start with."""
    root = etree.Element(_A + "feed", nsmap={None: ATOM_NS})

    def sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> None:
        el = etree.SubElement(parent, _A + tag, attrs)
        if text is not None:
            el.text = cap.clean_text(text)

    sub(root, "id", f"urn:lookout:cap-feed:{sender}")
    sub(root, "title", f"CAP alerts from {sender}")
    sub(root, "updated", _atom_time(max((e.sent_at for e in entries), default=now)))
    author = etree.SubElement(root, _A + "author")
    sub(author, "name", sender)
    sub(root, "link", rel="self", href=f"{base}{FEED_PATH}", type="application/atom+xml")
    for e in entries:
        entry = etree.SubElement(root, _A + "entry")
        sub(entry, "id", f"urn:lookout:cap:{sender}:{e.identifier}")
        title = e.headline if e.msg_type != "Cancel" else f"Cancelled: {e.headline}"
        drill = e.status == "Exercise"  # only with cap_feed_exercise; said in every field
        sub(entry, "title", f"Exercise: {title}" if drill else title)
        sub(entry, "updated", _atom_time(e.sent_at))
        summary = f"{e.msg_type}: {e.area_desc}"
        sub(entry, "summary", f"Exercise, not a real alert. {summary}" if drill else summary)
        sub(
            entry,
            "link",
            rel="alternate",
            type="application/cap+xml",
            href=f"{base}{MESSAGE_PREFIX}{e.identifier}.xml",
        )
    body: bytes = etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)
    return body


class CapFeed:
    """Answers `/cap/...` GETs from the database, on a reader thread."""

    def __init__(
        self,
        database: Database,
        sender: str,
        web_base: str,
        hostnames: tuple[str, ...],
        exercise: bool = False,
    ) -> None:
        """`exercise`: config cap_feed_exercise (exercise alerts in the feed and pages)."""
        self._db = database
        self._hostnames = hostnames
        self.exercise = exercise
        self.sender = sender
        self.web_base = web_base.rstrip("/")

    async def respond(self, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        page = path.startswith(alert_page.PREFIX)
        if path != FEED_PATH and not path.startswith(MESSAGE_PREFIX) and not page:
            return None
        if request.method not in portal.METHODS:
            response = portal._response(http.HTTPStatus.METHOD_NOT_ALLOWED, b"use GET or HEAD\n")
            response.headers["Allow"] = ", ".join(portal.METHODS)
            return response
        if page:  # served without a sender too: earlier messages keep their <web>
            return await self._page(request, path[len(alert_page.PREFIX) :])
        if not self.sender:
            return portal._response(http.HTTPStatus.NOT_FOUND, b"this relay has no CAP sender\n")
        if path == FEED_PATH:
            now = time.time()
            entries = await self._db.read(current_entries(now, self.exercise))
            base = self.web_base or f"https://{self._host(request)}"
            return _cached(request, render_feed(entries, self.sender, base, now), ATOM_TYPE)
        name = path[len(MESSAGE_PREFIX) :]
        identifier = name.removesuffix(".xml")
        if not name.endswith(".xml") or not _IDENT_RE.fullmatch(identifier):
            return portal._response(http.HTTPStatus.NOT_FOUND, b"no such CAP message\n")
        xml = await self._db.read(public_message(identifier, self.exercise))
        if xml is None:
            return portal._response(http.HTTPStatus.NOT_FOUND, b"no such CAP message\n")
        return _cached(request, xml.encode("utf-8"), CAP_TYPE)

    async def _page(self, request: Request, alert_id: str) -> Response:
        xml = None
        if alert_page.ALERT_ID.fullmatch(alert_id):
            xml = await self._db.read(latest_public(alert_id, self.exercise))
        if xml is None:
            return portal._response(http.HTTPStatus.NOT_FOUND, b"no such alert\n")
        body = alert_page.render(xml, time.time())
        return _cached(request, body, portal.CONTENT_TYPES[".html"])

    def _host(self, request: Request) -> str:
        """The authority the feed's links start with: the configured name the request's
        Host matches (in the configuration's spelling), with the Host's port only when it
        is one; else the first configured name. The header itself is never echoed, so a
        forged Host (`relay.example:@evil.example`) never ends up in links a cache keeps."""
        name, port = _split_host(request.headers.get("Host", ""))
        for own in self._hostnames:
            if name is not None and own.lower() == name:
                return _authority(own, port)
        return _authority(self._hostnames[0], None) if self._hostnames else "localhost"


#: a Host port: 1 to 5 ASCII digits (str.isdigit would let other scripts' digits through)
_PORT_RE = re.compile(r"[0-9]{1,5}")


def _split_host(host: str) -> tuple[str | None, str | None]:
    """`Host` as (lower-cased name, port or None); (None, None) when it is not a plain
    `name`, `name:port`, `[v6]` or `[v6]:port`."""
    if host.startswith("["):
        name, close, rest = host[1:].partition("]")
    else:
        name, close, rest = host.partition(":")
        rest = close + rest
        close = "]"
    if not close or not name or not name.isascii():  # "\u212a".lower() is "k"
        return None, None
    if rest and not (rest.startswith(":") and _PORT_RE.fullmatch(rest[1:])):
        return None, None
    port = rest[1:] or None
    if port is not None and not 0 < int(port) <= 65535:
        return None, None
    return name.lower(), port


def _authority(name: str, port: str | None) -> str:
    host = f"[{name}]" if ":" in name else name
    return host if port is None else f"{host}:{port}"


def _cached(request: Request, body: bytes, content_type: str) -> Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    if portal._etag_matches(request.headers.get("If-None-Match", ""), etag):
        response = portal._response(http.HTTPStatus.NOT_MODIFIED, b"", length=False)
    else:
        response = portal._response(http.HTTPStatus.OK, body, content_type)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"
    if request.method == "HEAD":
        response.body = b""
    return response
