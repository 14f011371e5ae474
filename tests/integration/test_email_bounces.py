"""A bounce that comes back after the SMTP server accepted the email: the real relay, a real
SMTP server (aiosmtpd), and the DSN piped to the real `lookout-relay mail bounce` in its
own process while the relay runs and writes (SQLite WAL: two writers, one busy timeout)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

from sqlalchemy import select

from backend_client import messages as m
from relay.db import models as db
from relay.mail import bounces
from tests.conftest import start_relay
from tests.integration.test_email_alerts import mail_config, subscribe_confirmed
from tests.support import dsn, flows
from tests.support.peer import next_id, wait_until
from tests.support.smtp import Inbox, start_smtp

GONE = "gone@example.org"
STAYS = "stays@example.org"
CLI = [sys.executable, "-m", "relay.cli", "mail", "bounce"]


async def pipe(data_dir: Path, message: bytes) -> tuple[int, str]:
    """What an MTA's pipe delivery does: the message on stdin, then the exit code."""
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "--data-dir",
        str(data_dir),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    out, err = await asyncio.wait_for(proc.communicate(message), 60)
    assert out == b""
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_a_late_bounce_stops_the_subscription_and_the_console_counts_it(
    tmp_path: Path,
) -> None:
    inbox = Inbox()
    smtp, ca = start_smtp(tmp_path / "smtp", inbox)
    data = tmp_path / "relay"
    r = await start_relay(data, **mail_config(smtp.port, ca, expiry_every_s=0.2))
    busy: asyncio.Task[None] | None = None
    try:
        await subscribe_confirmed(r, inbox, GONE)
        await subscribe_confirmed(r, inbox, STAYS)
        dana = await flows.officer(r)
        sent = await dana.request(
            m.AlertSend(id=next_id(), idem=next_id(), info=flows.alert_info())
        )
        assert isinstance(sent, m.AlertAccepted), sent
        alert_id = sent.alert.alert_id
        accepted = await dana.wait_for(
            lambda ev: (
                isinstance(ev, m.AlertChanged)
                and ev.alert.alert_id == alert_id
                and ev.alert.emails_sent == 2
            )
        )
        assert isinstance(accepted, m.AlertChanged) and accepted.alert.emails_failed == 0
        emailed = inbox.to(GONE)[-1]  # the alert, exactly as the server accepted it
        assert str(emailed["Message-ID"]).startswith(f"<{alert_id}.")

        # another officer keeps the relay's writer busy (each preview is audited) while
        # the mail system pipes the DSN in: the realistic case, not a stopped relay
        dev = await flows.officer(r, "dev", subscribe=None)

        async def previews() -> None:
            while True:
                count = await dev.request(
                    m.AlertPreview(id=next_id(), area=flows.square(), categories=["burglary"])
                )
                assert isinstance(count, m.AlertCount)

        busy = asyncio.create_task(previews())
        audits_before = r.relay.db.read_sync(  # type: ignore[attr-defined]
            lambda s: len(list(s.scalars(select(db.AuditLog.seq))))
        )
        code, err = await pipe(data, dsn.postfix(emailed.as_bytes(), recipient=GONE))
        assert code == bounces.EX_OK, err
        assert err.strip().endswith("stopped") and "counted a bounce (5.1.1)" in err, err
        assert GONE not in err and alert_id not in err  # no address, no Message-ID
        # the relay's writer went on meanwhile
        await wait_until(
            lambda: (
                r.relay.db.read_sync(  # type: ignore[attr-defined]
                    lambda s: len(list(s.scalars(select(db.AuditLog.seq))))
                )
                > audits_before + 3
            )
        )
        busy.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await busy

        # the console open now sees the bounce: one email moved from sent to failed
        moved = await dana.wait_for(
            lambda ev: (
                isinstance(ev, m.AlertChanged)
                and ev.alert.alert_id == alert_id
                and ev.alert.emails_failed == 1
            )
        )
        assert isinstance(moved, m.AlertChanged)
        assert (moved.alert.emails, moved.alert.emails_sent) == (2, 1)
        metrics = r.relay.metrics  # type: ignore[attr-defined]
        await wait_until(lambda: metrics.emails_failed.labels("bounced")._value.get() == 1)
        subs = r.relay.db.read_sync(  # type: ignore[attr-defined]
            lambda s: sorted(
                (x.state, x.address_sealed is None)
                for x in s.scalars(
                    select(db.EmailSubscription).where(
                        db.EmailSubscription.confirmed_at.is_not(None)
                    )
                )
            )
        )
        assert subs == [("bounced", True), ("confirmed", False)]

        # the same DSN again (an MTA may redeliver): counted once
        code, err = await pipe(data, dsn.postfix(emailed.as_bytes(), recipient=GONE))
        assert code == bounces.EX_OK and "ignored" in err, err
        # an oversized message through a real pipe: taken whole, ignored, exit 0
        code, err = await pipe(data, b"x" * (2 * bounces.MAX_BYTES))
        assert code == bounces.EX_OK and "larger than 1024 KiB" in err, err

        # the next alert is not emailed to the bounced address
        before = len(inbox.to(GONE))
        again = await dana.request(
            m.AlertSend(id=next_id(), idem=next_id(), info=flows.alert_info(headline="Again"))
        )
        assert isinstance(again, m.AlertAccepted) and again.alert.emails == 1
        await wait_until(lambda: len(inbox.to(STAYS)) == 3)  # confirmation and two alerts
        assert len(inbox.to(GONE)) == before
        assert metrics.emails_failed.labels("bounced")._value.get() == 1
    finally:
        if busy is not None:
            busy.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await busy
        await r.relay.stop()  # type: ignore[attr-defined]
        smtp.stop()
