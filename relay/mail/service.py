"""`Mail`: email alerts as the relay and the portal use them, and the sender task.

The portal's HTTP handler calls `subscribe`, `confirm(token)` and `unsubscribe(token)`
(the last also for RFC 8058 one-click POSTs); the citizen endpoint calls them for the
`email.*` messages; officers' previews call `count`. The queue itself is written by the
alert transactions (`store.enqueue_alert`), so this class only sends.

Delivery guarantee: a row is marked sent in the database after the SMTP server accepted
the message (its reply to DATA). A relay stopped or killed at any point before that sends
it after restart; one stopped in the instant between the server's acceptance and the
mark's commit (one write batch, milliseconds) sends that email again, with the same
Message-ID, so a mail system or reader can recognise the duplicate. That window is
inherent to SMTP (no two-phase commit with the server); everything else is exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from backend_client.errors import ErrorCode, ProtocolError
from relay import targeting
from relay.config import RelayConfig
from relay.db.uow import Database
from relay.mail import compose, store
from relay.mail.keys import MailKeys
from relay.mail.signup import check_signup
from relay.mail.smtp import SmtpSession, SmtpSettings, SmtpUrlError
from relay.metrics import Metrics
from relay.secret_box import SecretBox

log = logging.getLogger(__name__)
NODE_FILE = "mail-node"
#: emails claimed per round trip to the writer
CLAIM_BATCH = 200
#: how long a claimed email is this node's before another may take it (a cluster); the
#: sender renews it while the batch is being sent (docs/email.md, "Leases")
LEASE_S = 300.0
#: renewals per lease: a renewal may be late by two thirds of a lease and still be in time
RENEWALS_PER_LEASE = 3
#: a confirmation email per address at most this often (a sign-up flood is not a mailer)
RESEND_AFTER_S = 120.0


def node_id(data_dir: Path) -> str:
    """This relay's name in leases: kept in its data dir, so a restart reclaims its own."""
    path = data_dir / NODE_FILE
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        node = secrets.token_hex(8)
        path.write_text(node, encoding="ascii")
        return node


class Mail:
    def __init__(
        self,
        config: RelayConfig,
        db: Database,
        box: SecretBox,
        metrics: Metrics,
        counts_changed: Callable[[int], None],
    ) -> None:
        if not config.mail_from or not config.public_url.startswith("https://"):
            raise SmtpUrlError(
                "email alerts need mail_from (the From address) and public_url (the "
                "portal's https:// address, for the confirmation and unsubscribe links)"
            )
        self.config = config
        self.settings = SmtpSettings.parse(config.smtp_url, config.smtp_timeout_s, config.smtp_ca)
        self.db = db
        self.keys = MailKeys(box)
        self.metrics = metrics
        #: an alert's email counts moved: officers see them at the next counts push
        self.counts_changed = counts_changed
        self.node = node_id(config.data_dir)
        #: this sender's lease (a test shortens it to prove the renewal)
        self.lease_s = LEASE_S
        self._wake = asyncio.Event()
        self._logged = ("", 0.0)  # the last failure logged, and when: one line, not 10,000
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, config.smtp_connections), thread_name_prefix="relay-smtp"
        )

    # ------------------------------------------------------------- what the portal calls

    async def subscribe(
        self, address: str, lat: float, lon: float, radius_m: float, categories: list[str]
    ) -> None:
        """Check the sign-up and queue its confirmation email. The same answer whether or
        not the address is already subscribed (nobody learns who is). Raises
        ProtocolError(INVALID) with what to fix."""
        sign = check_signup(address, lat, lon, radius_m, categories)
        queued = await self.db.write(
            store.subscribe(self.keys, sign, self.config.email_confirm_ttl_s, RESEND_AFTER_S)
        )
        if queued:
            self.wake()

    async def confirm(self, token: str) -> bool:
        """The confirmation link: True if it started a subscription."""
        if not _plausible(token):
            return False
        return await self.db.write(store.confirm(token))

    async def unsubscribe(self, token: str) -> bool:
        """The unsubscribe link or one-click POST: True if the token names a subscription
        (now erased, or erased before)."""
        if not _plausible(token):
            return False
        return await self.db.write(store.unsubscribe(token))

    def confirm_url(self, token: str) -> str:
        return compose.link(self.config.public_url, compose.CONFIRM_PATH, token)

    def unsubscribe_url(self, token: str) -> str:
        return compose.link(self.config.public_url, compose.UNSUBSCRIBE_PATH, token)

    # ------------------------------------------------------------- what officers see

    async def count(self, area: targeting.AnyArea, categories: list[str]) -> int:
        mask = targeting.category_mask(categories)
        return await self.db.read(store.count_matching(area, mask))

    # ------------------------------------------------------------- the sender

    def wake(self) -> None:
        """Something was queued: send now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Send due emails until cancelled: claim a batch under a lease, send with at most
        `smtp_connections` connections, mark each outcome; sleep until woken or due."""
        log.info("email alerts on, through %s", self.settings.describe())
        await self.db.write(store.release_leases(self.node))
        sessions = [SmtpSession(self.settings) for _ in range(max(1, self.config.smtp_connections))]
        last_lapse = 0.0
        try:
            while True:
                self._wake.clear()
                now = time.time()
                if now - last_lapse >= 60.0:
                    last_lapse = now
                    await self.db.write(store.lapse_unconfirmed())
                batch = await self.db.write(
                    store.claim(self.keys, self.node, CLAIM_BATCH, self.lease_s)
                )
                self.metrics.emails_queued.set(await self.db.read(store.queued_count))
                if batch:
                    await self._send_all(batch, sessions)
                    continue
                due = await self.db.read(lambda s: store.next_due(s, time.time()))
                wait = self.config.email_poll_s if due is None else max(0.0, due - time.time())
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel
                # that lands as the wake-up completes, and the relay's stop then waits for
                # this task forever (seen: a test hung until its 300 s timeout)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(wait, self.config.email_poll_s)):
                        await self._wake.wait()
        finally:
            for s in sessions:
                self._pool.submit(s.close)

    async def _send_all(self, batch: list[store.Outgoing], sessions: list[SmtpSession]) -> None:
        """Send a claimed batch, renewing its lease until the last email is marked: a slow
        server (up to `smtp_timeout_s` per SMTP step, per email) can take longer than a
        lease, and a lapsed lease lets another node send the same email. An email whose
        lease was lost anyway (renewal found it taken) is left to its new holder."""
        work: asyncio.Queue[store.Outgoing] = asyncio.Queue()
        for item in batch:
            work.put_nowait(item)
        held = {item.id for item in batch}

        async def worker(session: SmtpSession) -> None:
            while not work.empty():
                item = work.get_nowait()
                if item.id in held:
                    await self._send_one(item, session)
                    held.discard(item.id)

        async def renew() -> None:
            while held:
                await asyncio.sleep(self.lease_s / RENEWALS_PER_LEASE)
                kept = await self.db.write(store.renew(self.node, sorted(held), self.lease_s))
                held.intersection_update(kept)  # one marked meanwhile is dropped: harmless

        renewer = asyncio.create_task(renew(), name="mail-lease")
        try:
            await asyncio.gather(*(worker(s) for s in sessions[: len(batch)]))
        finally:
            renewer.cancel()
            # not suppress(CancelledError) around `await renewer`: that also swallowed a
            # cancel of this task itself (the relay stopping), which then ran on forever
            await asyncio.gather(renewer, return_exceptions=True)

    async def _send_one(self, out: store.Outgoing, session: SmtpSession) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        msg = compose.build(out, cfg.mail_from, cfg.public_url)
        outcome, why = await loop.run_in_executor(
            self._pool, session.send, msg, cfg.mail_from, out.to
        )
        moved, gave_up = await self.db.write(
            store.mark(
                [store.Result(out.id, outcome, why)],
                cfg.email_retry_s,
                cfg.email_retry_max_s,
                cfg.email_max_attempts,
            )
        )
        if outcome == "sent":
            self.metrics.emails_sent.labels(out.kind).inc()
        elif outcome == "retry" and not gave_up:
            self.metrics.emails_retried.inc()
            self._log("emails could not be sent yet (%s); retrying with backoff", why)
        else:
            reason = "gave_up" if gave_up else outcome
            self.metrics.emails_failed.labels(reason).inc()
            self._log("an email was not delivered (%s)", f"{reason}: {why}")
        for pk in moved:
            self.counts_changed(pk)

    def _log(self, text: str, why: str) -> None:
        """One line per distinct reason a minute (no address, token or place: `why` is a
        classified reason, see smtp.classify)."""
        now = time.monotonic()
        if why != self._logged[0] or now - self._logged[1] >= 60.0:
            self._logged = (why, now)
            log.warning(text, why)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _plausible(token: object) -> bool:
    return isinstance(token, str) and 16 <= len(token) <= 128 and token.isascii()


def email_off_error() -> ProtocolError:
    return ProtocolError(
        ErrorCode.FORBIDDEN, "email alerts are not available on this relay (no SMTP server set)"
    )
