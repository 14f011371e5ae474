"""Late bounces (relay/mail/bounces.py): DSNs as Postfix and Exim write them, and what is
not one (an auto-reply, a forged or hostile report, a malformed or oversized message).

Parsing is pure and tested on bytes; counting runs against a real SQLite database in
tmp_path with the relay's own writer open on it, as `lookout-relay mail bounce` does
beside a running relay.
"""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from relay import admin
from relay.db import models as db
from relay.db.uow import Database, Tx
from relay.mail import bounces, store
from relay.mail.keys import MailKeys
from relay.mail.signup import check_signup
from relay.secret_box import SecretBox, key_path
from tests.support import dsn

MID = "A-0F1E2D3C4B.1.8c1d2e3f4a5b6c7d"
HEADERS = (
    "From: alerts@lookout.test\n"
    "To: gone@example.org\n"
    "Subject: Burglary on Fishergate\n"
    "Date: Tue, 01 Dec 2026 18:19:20 +0000\n"
    f"Message-ID: <{MID}@lookout.test>\n"
    "Auto-Submitted: auto-generated\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\n"
).encode()
ORIGINAL = HEADERS + b"\nLock your doors.\n"


# ----------------------------------------------------------------------- parsing


def test_a_postfix_bounce_is_a_permanent_failure_of_the_email_it_returns() -> None:
    report = bounces.parse(dsn.postfix(HEADERS))
    assert report == bounces.Report(MID, "bounced", "5.1.1")


def test_an_exim_bounce_with_the_whole_message_back_is_one_too() -> None:
    report = bounces.parse(dsn.exim(ORIGINAL))
    assert report == bounces.Report(MID, "bounced", "5.0.0")


def test_crlf_line_endings_and_a_status_comment_are_read() -> None:
    raw = dsn.postfix(HEADERS, status="5.2.2 (mailbox full)").replace(b"\n", b"\r\n")
    assert bounces.parse(raw) == bounces.Report(MID, "bounced", "5.2.2")


def test_returned_headers_in_base64_are_read() -> None:
    import base64

    raw = dsn.postfix(HEADERS).replace(
        b"Content-Type: text/rfc822-headers\nContent-Transfer-Encoding: 8bit\n\n" + HEADERS,
        b"Content-Type: text/rfc822-headers\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(HEADERS),
    )
    assert b"base64" in raw
    assert bounces.parse(raw) == bounces.Report(MID, "bounced", "5.1.1")


@pytest.mark.parametrize(
    ("action", "status"), [("delayed", "4.4.7"), ("failed", "4.4.1"), ("Delayed", "4.2.0")]
)
def test_a_delay_or_a_give_up_on_a_temporary_fault_is_only_a_delay(
    action: str, status: str
) -> None:
    report = bounces.parse(dsn.postfix(HEADERS, action=action, status=status))
    assert report.verdict == "delayed" and report.status == status


def test_a_success_notice_is_not_a_failure() -> None:
    with pytest.raises(bounces.Ignored, match="reports delivery"):
        bounces.parse(dsn.postfix(HEADERS, action="delivered", status="2.0.0"))


def test_an_auto_reply_naming_our_message_id_is_not_a_bounce() -> None:
    with pytest.raises(bounces.Ignored, match="not a delivery status notification"):
        bounces.parse(dsn.auto_reply(f"<{MID}@lookout.test>"))


def test_a_multipart_report_of_another_type_is_not_a_bounce() -> None:
    raw = dsn.postfix(HEADERS).replace(
        b"report-type=delivery-status", b"report-type=disposition-notification"
    )
    with pytest.raises(bounces.Ignored, match="report-type"):
        bounces.parse(raw)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ((b"Status: 5.1.1\n", b""), "valid Action and Status"),
        ((b"Status: 5.1.1\n", b"Status: five\n"), "valid Action and Status"),
        ((b"Action: failed\n", b"Action: exploded\n"), "valid Action and Status"),
        ((b"Action: failed\n", b"Action: failed\nAction: delivered\n"), "repeats"),
        ((b"Content-Type: message/delivery-status\n", b"Content-Type: text/plain\n"), "exactly"),
        ((b"Message-ID: <", b"X-Message-ID: <"), "no original Message-ID"),
        ((b"Content-Type: text/rfc822-headers\n", b"Content-Type: text/plain\n"), "Message-ID"),
    ],
)
def test_malformed_reports_are_ignored_with_a_reason(change: tuple[bytes, bytes], why: str) -> None:
    raw = dsn.postfix(HEADERS).replace(*change)
    assert raw != dsn.postfix(HEADERS)
    with pytest.raises(bounces.Ignored, match=why):
        bounces.parse(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage \x00" * 100,
        b"Content-Type: multipart/report; report-type=delivery-status\n\nno boundary\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n"
        + b"--x\nContent-Type: multipart/mixed; boundary=x\n\n" * 5000,
    ],
    ids=["empty", "binary", "no-boundary", "deeply-nested"],
)
def test_garbage_and_nesting_bombs_are_ignored_not_crashed_on(raw: bytes) -> None:
    with pytest.raises(bounces.Ignored):
        bounces.parse(raw)


def _deep(levels: int) -> bytes:
    head = b"Content-Type: multipart/report; report-type=delivery-status; boundary=b0\n\n"
    body = b"".join(
        b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i, i + 1)
        for i in range(levels)
    )
    return head + body


def test_a_report_nested_as_deep_as_the_cap_lets_through_is_ignored() -> None:
    with pytest.raises(bounces.Ignored, match="delivery-status part"):
        bounces.parse(_deep(250))


def test_a_report_of_thousands_of_parts_is_refused_before_parsing() -> None:
    started = time.perf_counter()
    with pytest.raises(bounces.Ignored, match="too many MIME parts"):
        bounces.parse(_deep(20_000))
    assert time.perf_counter() - started < 0.5  # the parser would take seconds


@pytest.mark.parametrize(
    "message_id",
    [
        f"<{MID}@lookout.test> Bcc: victim@evil.test",  # a header smuggled into the value
        f"<{MID}@lookout.test> <other@lookout.test>",
        f"<{MID}'; DROP TABLE email_outbox;--@lookout.test>",
        f"<{MID}@lookout.test",  # unterminated
        "<" + "A" * 5000 + "@lookout.test>",
        "=?utf-8?b?PEEtMEYxRTJEM0M0Qi4xLjhjMWQyZTNmNGE1YjZjN2RAbG9va291dC50ZXN0Pg==?=",
        f"<{MID}\x00@lookout.test>",
        f"<{MID}@lookout.test>\n\tX-Injected: yes",  # a continuation line
    ],
    ids=["header-injection", "two-ids", "sql", "unterminated", "huge", "encoded", "nul", "fold"],
)
def test_hostile_original_message_ids_never_match(message_id: str) -> None:
    headers = HEADERS.replace(f"<{MID}@lookout.test>".encode(), message_id.encode())
    with pytest.raises(bounces.Ignored, match="Message-ID"):
        bounces.parse(dsn.postfix(headers))


def test_a_message_id_folded_into_another_header_is_not_one() -> None:
    headers = HEADERS.replace(
        f"Message-ID: <{MID}@lookout.test>\n".encode(),
        f"Subject: hi\n Message-ID: <{MID}@lookout.test>\nX-\x00Bad: \xff\n".encode(),
    )
    with pytest.raises(bounces.Ignored, match="no original Message-ID"):
        bounces.parse(dsn.postfix(headers))


def test_two_message_ids_in_the_returned_headers_are_refused() -> None:
    headers = HEADERS + b"Message-ID: <confirm.0123456789abcdef01234567@lookout.test>\n"
    with pytest.raises(bounces.Ignored, match="two Message-IDs"):
        bounces.parse(dsn.postfix(headers))


def test_input_is_capped_and_the_rest_is_drained() -> None:
    big = io.BytesIO(b"x" * (bounces.MAX_BYTES + 10))
    assert bounces.read_capped(big) is None
    assert big.read() == b""  # all of it was taken off the pipe
    exact = io.BytesIO(b"y" * bounces.MAX_BYTES)
    assert bounces.read_capped(exact) == b"y" * bounces.MAX_BYTES


# ----------------------------------------------------------------------- counting


@dataclass
class Relay:
    """The relay's side of the database: its writer open on tmp_path, a confirmation
    email queued for one pending sign-up."""

    data_dir: Path
    database: Database
    outbox_id: int
    message_id: str


@pytest.fixture
async def relay_db(tmp_path: Path) -> AsyncIterator[Relay]:
    engine = admin.open_engine(tmp_path)
    database = Database(engine)
    keys = MailKeys(SecretBox.load_or_create(key_path(tmp_path)))
    sign = check_signup("gone@example.org", 53.76, -2.70, 500.0, ["burglary"])
    assert await database.write(store.subscribe(keys, sign, 3600.0, 0.0))

    def sent(tx: Tx) -> tuple[int, str]:  # what `mark` leaves after the server's 250
        row = tx.s.scalar(select(db.EmailOutbox))
        assert row is not None
        row.state, row.attempts, row.secret_sealed = "sent", 1, None
        return row.id, row.message_id

    outbox_id, message_id = await database.write(sent)
    try:
        yield Relay(tmp_path, database, outbox_id, message_id)
    finally:
        database.close()


def run(r: Relay, raw: bytes) -> tuple[int, str]:
    err = io.StringIO()
    code = bounces.main(r.data_dir, None, stdin=io.BytesIO(raw), stderr=err)
    return code, err.getvalue()


def headers_of(r: Relay) -> bytes:
    return HEADERS.replace(MID.encode(), r.message_id.encode())


def states(r: Relay) -> tuple[str, str, str | None, str | None]:
    def q(s: object) -> tuple[str, str, str | None, str | None]:
        from sqlalchemy.orm import Session

        assert isinstance(s, Session)
        row = s.get(db.EmailOutbox, r.outbox_id)
        assert row is not None
        sub = s.get(db.EmailSubscription, row.subscription_id)
        assert sub is not None
        return row.state, sub.state, sub.address_sealed, row.last_error

    return r.database.read_sync(q)


async def test_a_bounce_erases_the_subscription_once_and_says_so_without_the_address(
    relay_db: Relay,
) -> None:
    code, err = run(relay_db, dsn.postfix(headers_of(relay_db)))
    assert code == bounces.EX_OK
    assert err.count("\n") == 1 and "counted a bounce (5.1.1)" in err, err
    assert "example.org" not in err and relay_db.message_id not in err
    row_state, sub_state, sealed, why = states(relay_db)
    assert (row_state, sub_state, sealed) == ("failed", "bounced", None)
    assert why is not None and "5.1.1" in why and "@" not in why
    # the same DSN again (mail systems redeliver): counted once
    code, err = run(relay_db, dsn.postfix(headers_of(relay_db)))
    assert code == bounces.EX_OK and "ignored: email" in err and "is failed" in err
    # the relay's chore takes the marker once (a confirmation: no alert's counts moved)
    taken = await relay_db.database.write(bounces.take_reported())
    assert taken == bounces.Reported(bounced=1, delayed=0, alerts=())
    assert await relay_db.database.write(bounces.take_reported()) == bounces.Reported()


async def test_a_delay_notice_is_counted_and_changes_nothing(relay_db: Relay) -> None:
    before = states(relay_db)
    code, err = run(relay_db, dsn.postfix(headers_of(relay_db), action="delayed", status="4.4.7"))
    assert code == bounces.EX_OK and "counted a delay notice (4.4.7)" in err
    assert states(relay_db) == before
    taken = await relay_db.database.write(bounces.take_reported())
    assert taken == bounces.Reported(bounced=0, delayed=1)


async def test_a_forged_report_for_an_unknown_message_id_changes_nothing(
    relay_db: Relay,
) -> None:
    before = states(relay_db)
    forged = relay_db.message_id[:-4] + "0000"
    code, err = run(relay_db, dsn.postfix(HEADERS.replace(MID.encode(), forged.encode())))
    assert code == bounces.EX_OK and "ignored: not an email this relay sent" in err
    assert states(relay_db) == before
    assert await relay_db.database.write(bounces.take_reported()) == bounces.Reported()


@pytest.mark.parametrize(
    "raw",
    [
        dsn.auto_reply(f"<{MID}@lookout.test>"),
        b"\x00" * 64,
        b"x" * (bounces.MAX_BYTES + 1),
    ],
    ids=["auto-reply", "garbage", "oversized"],
)
async def test_what_is_not_a_dsn_of_ours_exits_zero_with_one_line(
    relay_db: Relay, raw: bytes
) -> None:
    before = states(relay_db)
    code, err = run(relay_db, raw)
    assert code == bounces.EX_OK and err.startswith("lookout-relay mail bounce: ignored: ")
    assert err.count("\n") == 1 and "example.org" not in err
    assert states(relay_db) == before


def test_no_relay_data_is_a_configuration_error_the_mail_system_reports(tmp_path: Path) -> None:
    err = io.StringIO()
    code = bounces.main(tmp_path / "nowhere", None, stdin=io.BytesIO(b""), stderr=err)
    assert code == bounces.EX_CONFIG and "no relay data" in err.getvalue()
    assert not (tmp_path / "nowhere").exists()
