"""Bounces that come back later: delivery status notifications (DSN, RFC 3464).

A mail server often accepts an email (so the sender marked it sent) and only later finds
it cannot deliver it; it then mails a DSN to the envelope sender (`mail_from`). The mail
system pipes each message for that mailbox to `lookout-relay mail bounce` (docs/email.md),
which reads it here, matches it to the email it reports on and counts it:

- a permanent failure (a recipient's `Action: failed` with `Status: 5.x.x`) is a bounce,
  recorded by `store.undelivered`, the same code as a refusal in the SMTP dialogue: the
  email moves from sent to failed in its alert's counts and the subscription is erased
  (state `bounced`; the email's row keeps the status code as its reason);
- a delay notice (`Action: delayed`, or `failed` with a 4.x.x status: the remote server
  gave up on a temporary problem, the address may be fine) is counted and changes nothing;
- anything else (not a DSN, a success notice, not for an email of ours, malformed, over
  `MAX_BYTES`) is ignored.

The match is the original Message-ID in the headers the DSN returns (every common MTA
returns them: `text/rfc822-headers` or `message/rfc822`): fixed when the email was queued
and unique per email, with 64 random bits or more in it, so nobody who did not receive
the email can forge a DSN that stops someone's alerts. No VERP envelope sender: it would
need the sender (relay/mail/service.py) to change and the mail system to route
`bounces+*` addresses, and it only helps with reports that return no headers; see
docs/email.md.

This runs in its own process beside a running relay: it writes the database directly,
taking the write lock with its first statement (so SQLite's busy timeout applies and a
read snapshot is never upgraded), and leaves `counters` rows named `bounce:<alert>` and
`dsn-delayed`. The relay's chores take them (`take_reported`), push the alerts' new counts
to officers and count them in its metrics. The relay's event log and metrics are its own;
this process never writes an event.

Hostile input: the message is at most `MAX_BYTES` with at most `_MAX_DELIMITERS` lines
that could open a MIME part (the parser is slow on thousands of empty parts), parsed once
with the standard library's parser (`policy.default`; email has no compression, so
nothing decodes to much more than it was); only the report's own parts are looked at (no walk into nesting), and
of the returned headers only the Message-ID, matched by a strict pattern and looked up as
a bound parameter. Nothing from the message is printed or logged: the one line on stderr
is built from fixed words, an email's row number and a status code.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import BinaryIO, Literal, TextIO

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from relay.db import models as db
from relay.db.engine import make_engine, sqlite_url
from relay.db.uow import AUDIT_LOCK, Tx
from relay.mail.store import undelivered

#: the most of a DSN read; a larger message is ignored (real DSNs are a few KiB, or the
#: size of the returned message: ours are far below this)
MAX_BYTES = 1 << 20
#: the most read and thrown away after that, so the mail system's write does not fail
_DRAIN_BYTES = 64 << 20
#: parts of the report, and recipient blocks in its status part, looked at
_MAX_PARTS = 16
_MAX_BLOCKS = 64
#: lines that could open a MIME part, counted before parsing: the parser spends about
#: 6 s on a MiB of empty parts; a DSN has a handful (ours, returned whole, a few more)
_MAX_DELIMITERS = 256

#: exit codes (sysexits.h), as a mail system reads them: 0 delivered (counted or ignored:
#: retrying would change nothing), 75 try again later (the database was unavailable), 78
#: the command is misconfigured (no relay data there): the mail system reports that to
#: its postmaster
EX_OK, EX_TEMPFAIL, EX_CONFIG = 0, 75, 78

BOUNCE_PREFIX = "bounce:"
DELAYED = "dsn-delayed"

_STATUS = re.compile(r"\s*([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
#: the Message-IDs compose.py makes: <outbox message_id@domain of mail_from>
_MESSAGE_ID = re.compile(r"\s*<([A-Za-z0-9][A-Za-z0-9.-]{0,119})@[A-Za-z0-9.-]{1,253}>\s*")
_ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")


class Ignored(Exception):
    """The message is not counted; `str()` is the reason, in fixed words."""


@dataclass(frozen=True, slots=True)
class Report:
    """All that is kept of a DSN."""

    #: the outbox row's `message_id` (the Message-ID's left part)
    message_id: str
    verdict: Literal["bounced", "delayed"]
    #: the recipient's status code, e.g. "5.1.1"
    status: str


# ----------------------------------------------------------------------- reading a DSN


def read_capped(stream: BinaryIO, limit: int = MAX_BYTES) -> bytes | None:
    """At most `limit` bytes of `stream`, or None if there was more (the rest is read and
    dropped, so the writer at the other end of the pipe sees its message taken)."""
    data = stream.read(limit + 1)
    if len(data) <= limit:
        return data
    drained = len(data)
    while drained < _DRAIN_BYTES and (chunk := stream.read(1 << 16)):
        drained += len(chunk)
    return None


def parse(data: bytes) -> Report:
    """What the DSN in `data` reports, or Ignored(why)."""
    if data.count(b"\n--") > _MAX_DELIMITERS:
        raise Ignored("malformed: too many MIME parts")
    try:
        msg = BytesParser(policy=policy.default).parsebytes(data)
        return _report(msg)
    except Ignored:
        raise
    except (RecursionError, MemoryError):
        raise Ignored("malformed: nested too deeply") from None
    except Exception:  # the parser's or a header class's error on hostile input
        raise Ignored("malformed: the message could not be parsed") from None


def _report(msg: Message) -> Report:
    if msg.get_content_type() != "multipart/report" or not msg.is_multipart():
        raise Ignored("not a delivery status notification (no multipart/report)")
    report_type = msg.get_param("report-type")
    if not isinstance(report_type, str) or report_type.strip().lower() != "delivery-status":
        raise Ignored("not a delivery status notification (report-type is not delivery-status)")
    payload = msg.get_payload()
    if not isinstance(payload, list) or len(payload) > _MAX_PARTS:
        raise Ignored("malformed: not the parts of a report")
    parts = [p for p in payload if isinstance(p, Message)]
    status = [p for p in parts if p.get_content_type() == "message/delivery-status"]
    if len(status) != 1:
        raise Ignored("malformed: not exactly one message/delivery-status part")
    verdict, code = _verdict(status[0])
    return Report(_original_message_id(parts), verdict, code)


def _fields(block: Message) -> dict[str, str]:
    """A block's fields, names lower-cased, values unfolded; a repeated field is
    malformed (which of two Actions would be meant?)."""
    out: dict[str, str] = {}
    for name, value in block.raw_items():
        key = name.strip().lower()
        if key in out:
            raise Ignored("malformed: a status block repeats a field")
        out[key] = " ".join(str(value).split())
    return out


def _verdict(part: Message) -> tuple[Literal["bounced", "delayed"], str]:
    blocks = part.get_payload()
    if not isinstance(blocks, list) or len(blocks) > _MAX_BLOCKS + 1:
        raise Ignored("malformed: the delivery-status part has no status blocks")
    recipients = [f for f in map(_fields, blocks) if "action" in f or "final-recipient" in f]
    if not recipients:
        raise Ignored("malformed: no recipient in the delivery-status part")
    delayed: str | None = None
    for f in recipients:
        action = f.get("action", "").split(" ", 1)[0].lower()
        found = _STATUS.match(f.get("status", ""))
        if action not in _ACTIONS or found is None:
            raise Ignored("malformed: a recipient without a valid Action and Status")
        code = ".".join(found.groups())
        if action == "failed" and code[0] == "5":
            return "bounced", code  # one recipient per email: that recipient
        if action == "delayed" or action == "failed":
            delayed = delayed or code
    if delayed is None:
        raise Ignored("not a failure: the notice reports delivery")
    return "delayed", delayed


def _original_message_id(parts: Iterable[Message]) -> str:
    headers: list[tuple[str, str]] = []
    for p in parts:
        kind = p.get_content_type()
        if kind == "message/rfc822" or kind == "message/global":
            inner = p.get_payload()
            if isinstance(inner, list) and len(inner) == 1 and isinstance(inner[0], Message):
                headers = list(inner[0].raw_items())
            break
        if kind == "text/rfc822-headers" or kind == "text/global-headers":
            raw = p.get_payload(decode=True)
            if isinstance(raw, bytes):
                headers = list(BytesHeaderParser(policy=policy.default).parsebytes(raw).raw_items())
            break
    ids = {str(v) for n, v in headers if n.strip().lower() == "message-id"}
    if not ids:
        raise Ignored("no original Message-ID in the returned headers")
    if len(ids) > 1:
        raise Ignored("malformed: the returned headers have two Message-IDs")
    found = _MESSAGE_ID.fullmatch(" ".join(ids.pop().split()))
    if found is None:
        raise Ignored("not an email this relay sent (a Message-ID it does not make)")
    return found.group(1)


# ----------------------------------------------------------------------- counting it


def _bump(s: Session, name: str) -> None:
    row = s.get(db.Counter, name, with_for_update=True)
    if row is None:
        s.add(db.Counter(name=name, value=1))
    else:
        row.value += 1


def count(report: Report) -> Callable[[Session], str]:
    """The database side, in the caller's transaction: what was done, in one line."""

    def job(s: Session) -> str:
        # the write lock first: SQLite then waits its busy timeout for the relay's writer,
        # and never has to upgrade a read snapshot the relay's commit made stale
        s.execute(
            update(db.Counter).where(db.Counter.name == AUDIT_LOCK).values(value=db.Counter.value)
        )
        row = s.scalar(select(db.EmailOutbox).where(db.EmailOutbox.message_id == report.message_id))
        if row is None:
            raise Ignored("not an email this relay sent (no queued email has that Message-ID)")
        if report.verdict == "delayed":
            _bump(s, DELAYED)
            return (
                f"counted a delay notice ({report.status}) for email {row.id}; nothing "
                "changes (the remote server is still trying, or gave up on a temporary fault)"
            )
        if row.state != "sent":
            raise Ignored(f"email {row.id} is {row.state}, not sent: nothing to count")
        undelivered(s, row, bounced=True)
        row.last_error = f"bounced after acceptance: DSN status {report.status}"
        _bump(s, f"{BOUNCE_PREFIX}{row.alert_id or 0}")
        return (
            f"counted a bounce ({report.status}) of email {row.id}; subscription "
            f"S{row.subscription_id} stopped"
        )

    return job


@dataclass(frozen=True, slots=True)
class Reported:
    bounced: int = 0
    delayed: int = 0
    #: the alerts whose email counts a bounce moved
    alerts: tuple[int, ...] = ()


def take_reported() -> Callable[[Tx], Reported]:
    """The relay's side (a chore): the DSNs counted since last time, for its metrics, and
    the alerts whose counts moved, to push to officers (so a console open now shows the
    bounce). Several relays may run this: each marker is taken once."""

    def job(tx: Tx) -> Reported:
        s = tx.s
        rows = list(
            s.scalars(
                select(db.Counter)
                .where(
                    db.Counter.name.startswith(BOUNCE_PREFIX, autoescape=True)
                    | (db.Counter.name == DELAYED)
                )
                .with_for_update()
            )
        )
        if not rows:
            return Reported()
        pks, bounced, delayed = [], 0, 0
        for r in rows:
            if r.name == DELAYED:
                delayed += r.value
            else:
                bounced += r.value
                pk = int(r.name.removeprefix(BOUNCE_PREFIX))
                if pk:
                    pks.append(pk)
            s.delete(r)
        return Reported(bounced, delayed, tuple(sorted(pks)))

    return job


# ----------------------------------------------------------------------- the command


def main(
    data_dir: Path,
    database_url: str | None,
    stdin: BinaryIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """`lookout-relay mail bounce`: one message on standard input, one line on stderr."""
    err = stderr or sys.stderr

    def say(text: str) -> None:
        print(f"lookout-relay mail bounce: {text}", file=err)

    if database_url is None and not (data_dir / "relay.sqlite").exists():
        say("no relay data in the --data-dir given: check the mail system's command line")
        return EX_CONFIG
    data = read_capped(stdin or sys.stdin.buffer)
    if data is None:
        say(f"ignored: larger than {MAX_BYTES // 1024} KiB")
        return EX_OK
    try:
        report = parse(data)
    except Ignored as why:
        say(f"ignored: {why}")
        return EX_OK
    try:
        # no migration and no secrets key: the relay (running, or at its next start) owns
        # the schema, and counting needs no address opened
        engine = make_engine(database_url or sqlite_url(data_dir))
    except (OSError, SQLAlchemyError) as exc:
        cause = getattr(exc, "strerror", None) or type(exc).__name__
        say(f"cannot open the relay's data ({cause}); the mail system retries")
        return EX_TEMPFAIL
    try:
        say(_count_in(engine, report))
    except Ignored as why:
        say(f"ignored: {why}")
    except SQLAlchemyError as exc:  # locked past the busy timeout, disk full, server down
        say(f"the database is unavailable ({type(exc).__name__}); the mail system retries")
        return EX_TEMPFAIL
    finally:
        engine.dispose()
    return EX_OK


def _count_in(engine: Engine, report: Report) -> str:
    with Session(engine) as s, s.begin():
        return count(report)(s)
