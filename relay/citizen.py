"""The `/v1/citizen` endpoint: pseudonymous devices, locations, reports, media, chat, alerts."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session
from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from backend_client import codec, rules
from backend_client import messages as m
from backend_client.errors import ErrorCode, ProtocolError
from backend_client.limits import LOCATION_TTL_S, MAX_OWN_REPORTS, MAX_SHORT_CHARS
from relay import alerts, node_notes, pilots, privacy, reports, targeting, wire
from relay.context import RelayContext
from relay.db import models as db
from relay.db.uow import Tx
from relay.endpoint import Endpoint, RateLimited
from relay.ratelimit import Rate

log = logging.getLogger(__name__)

R = TypeVar("R")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _categories(mask: int) -> list[m.Category]:
    return [cast(m.Category, c) for i, c in enumerate(m.CATEGORIES) if mask >> i & 1]


class CitizenConnection(Endpoint):
    name = "citizen"
    decoder = codec.citizen_inbound

    def __init__(self, ctx: RelayContext, ws: ServerConnection) -> None:
        super().__init__(ctx, ws)
        self.device_key: int | None = None
        self.pseudonym = ""
        self.mask = 0
        self.declared: dict[tuple[str, str], reports.DeclaredMedia] = {}
        self._joins_refused = 0  # joins sent while over the allowance, in a row

    def _mail(self) -> Any:
        from relay.mail.service import email_off_error

        if self.ctx.mail is None:
            raise email_off_error()
        return self.ctx.mail

    async def email_subscribe(self, msg: m.EmailSubscribe) -> m.Msg:
        await self._mail().subscribe(
            msg.email, msg.lat, msg.lon, msg.radius_m, list(msg.categories)
        )
        return m.Ack(re=msg.id)

    async def email_confirm(self, msg: m.EmailConfirm) -> m.Msg:
        if not await self._mail().confirm(msg.token):
            raise ProtocolError(ErrorCode.NOT_FOUND, "this link is unknown or has expired")
        return m.Ack(re=msg.id)

    async def email_unsubscribe(self, msg: m.EmailUnsubscribe) -> m.Msg:
        if not await self._mail().unsubscribe(msg.token):
            raise ProtocolError(ErrorCode.NOT_FOUND, "this unsubscribe link is unknown")
        return m.Ack(re=msg.id)

    def answered(self, tag: str, seconds: float) -> None:
        if tag == "report.submit":
            self.ctx.metrics.report_ack.observe(seconds)

    def closed(self) -> None:
        if self.device_key is not None:
            self.ctx.hub.detach_citizen(self.device_key, self.ws)

    async def authorise(self, msg: m.Msg) -> None:
        if self.device_key is None and not isinstance(
            msg, m.DeviceRegister | m.DeviceAuth | m.Ping
        ):
            raise ProtocolError(
                ErrorCode.UNAUTHENTICATED, "register or authenticate the device first"
            )

    async def register(self, msg: m.DeviceRegister) -> m.Msg:
        self._check_registrations()
        secret = secrets.token_urlsafe(24)
        public_id = "D" + secrets.token_hex(8)
        pseudonym = rules.new_pseudonym(secrets.choice)

        def job(tx: Tx) -> int:
            d = db.Device(
                public_id=public_id,
                secret_hash=_digest(secret),
                pseudonym=pseudonym,
                platform=msg.platform,
                category_mask=0,
                created_at=tx.now,
            )
            tx.s.add(d)
            tx.s.flush()
            return d.id

        key = await self.ctx.db.write(job)
        self._attach(key, pseudonym, 0)
        return m.DeviceRegistered(
            re=msg.id, device_id=public_id, secret=secret, pseudonym=pseudonym
        )

    async def auth(self, msg: m.DeviceAuth) -> m.Msg | None:
        def q(s: Any) -> tuple[int, str, str, int] | None:
            d = s.scalar(select(db.Device).where(db.Device.public_id == msg.device_id))
            return None if d is None else (d.id, d.secret_hash, d.pseudonym, d.category_mask)

        found = await self.ctx.db.read(q)
        if found is None or not secrets.compare_digest(found[1], _digest(msg.secret)):
            raise ProtocolError(
                ErrorCode.BAD_CREDENTIALS, "unknown device or wrong secret: register again"
            )
        key, _, pseudonym, mask = found
        ws = self.ws
        generation = 0
        if self.ctx.db.shared_log:  # several relays: an older connection elsewhere closes

            def job(tx: Tx) -> int:
                if ws.state is not State.OPEN:  # given up while queued: close nothing
                    return 0
                return node_notes.tell_session(tx, key)

            generation = await self.ctx.db.write(job)
        if ws.state is not State.OPEN or self.deadline_passed:
            # The phone gave up on this connection while its reads and writes waited (a
            # busy database) and may be signed in on a newer one already: attaching this
            # one would close that one as "replaced".
            return None
        self._attach(key, pseudonym, mask, generation)
        await self.ws.send(
            codec.encode_text(
                m.DeviceAuthed(re=msg.id, pseudonym=pseudonym, categories=_categories(mask))
            )
        )
        await self._push_held()
        return None

    def _attach(self, key: int, pseudonym: str, mask: int, generation: int = 0) -> None:
        self.device_key, self.pseudonym, self.mask = key, pseudonym, mask
        # signed in from here: the auth deadline must not close a phone already told
        # `device.authed` while its held alerts and chat are still being read and sent
        self.signed_in = True
        stale = self.ctx.hub.attach_citizen(key, self.ws, generation)
        if stale is not None:
            self.ctx.spawn(stale.close(1000, "replaced by a newer connection"))

    async def _push_held(self) -> None:
        key = self.device_key
        assert key is not None
        now = time.time()
        held, chats = alerts.held_for(key, now), reports.undelivered_chat(key)
        marks = reports.chat_marks_for(key, now)

        def q(s: Any) -> tuple[list[m.Alert], list[m.ChatMessage], list[tuple[str, str]]]:
            # one read, not three: every phone a dead node had signs in here at once
            return held(s), chats(s), marks(s)

        held_alerts, held_chats, held_marks = await self.ctx.db.read(q)
        for alert in held_alerts:
            await self.ws.send(codec.encode_text(m.AlertDeliver(alert=wire.citizen_alert(alert))))
        for chat in held_chats:
            await self.ws.send(codec.encode_text(m.ChatDeliver(message=chat)))
        for message_id, status in held_marks:
            mark = m.ChatStatusUpdate(message_id=message_id, status=cast(m.ChatStatus, status))
            await self.ws.send(codec.encode_text(mark))

    async def set_categories(self, msg: m.SetCategories) -> m.Msg:
        key = self.device_key
        mask = targeting.category_mask(msg.categories)

        def job(tx: Tx) -> None:
            d = tx.s.get(db.Device, key)
            if d is not None:
                d.category_mask = mask
                node_notes.tell_mask(tx, int(d.id), mask)

        await self.ctx.db.write(job)
        self.mask = mask
        self.ctx.index.set_mask(int(key), mask)  # type: ignore[arg-type]
        return m.Ack(re=msg.id)

    async def location(self, msg: m.LocationUpdate) -> m.Msg:
        key = self.device_key
        assert key is not None
        expires = time.time() + LOCATION_TTL_S

        def job(tx: Tx) -> None:
            d = tx.s.get(db.Device, key)
            if d is not None:
                d.lat, d.lon, d.fix_expires_at = msg.lat, msg.lon, expires
                node_notes.tell_fix(tx, int(d.id), msg.lat, msg.lon, self.mask, expires)

        await self.ctx.db.write(job)
        self.ctx.index.upsert(key, msg.lat, msg.lon, self.mask, expires)
        return m.Ack(re=msg.id)

    async def submit(self, msg: m.ReportSubmit) -> m.Msg:
        key = self.device_key
        assert key is not None
        new_report = await self._check_reports(key, msg.client_ref)
        try:
            reply = await self.ctx.db.write(
                new_report.watch(reports.submit_report(key, self.pseudonym, msg))
            )
        finally:
            new_report.settle()
        metrics = self.ctx.metrics
        (metrics.exercise_reports if new_report.pilot else metrics.reports).inc()
        return reply

    async def mine(self, msg: m.ReportsMine) -> m.Msg:
        key = self.device_key
        assert key is not None
        return m.ReportsListed(re=msg.id, reports=await self.ctx.db.read(_own_reports(key)))

    # ------------------------------------------------------------ pilots (relay/pilots.py)

    async def pilot_join(self, msg: m.PilotJoin) -> m.Msg:
        """Every attempt is charged to the device's and the address's allowance before
        the code is looked at, and given back only when it joined (or was refused for
        already taking part, which says nothing about the code): guessing costs the
        allowance whatever the answer. A device that keeps trying while refused is
        closed and its address held off, as a login flood is."""
        key = self.device_key
        assert key is not None
        refund = self._take_join(key)
        try:
            reply = await self.ctx.db.write(
                pilots.join(key, rules.normalise_invite_code(msg.code), msg.id)
            )
        except ProtocolError as exc:
            if exc.code == ErrorCode.CONFLICT:
                refund()
            else:
                self.ctx.metrics.pilot_joins.labels("refused").inc()
            raise
        refund()
        self.ctx.metrics.pilot_joins.labels("joined").inc()
        return reply

    def _take_join(self, key: int) -> Callable[[], None]:
        per_device, per_address = _JOINS_PER_DEVICE, _JOINS_PER_ADDRESS
        limits = self.ctx.limits
        wait = limits.pilot_joins.take(key, per_device)
        if not wait and self.address is not None:
            wait = limits.pilot_joins_by_address.take(self.address, per_address)
            if wait:
                limits.pilot_joins.give(key, per_device)
        if wait:
            self.ctx.metrics.rate_limited.labels(self.name, "pilot_joins").inc()
            self._joins_refused += 1
            if self._joins_refused >= _JOIN_REFUSALS_BEFORE_CLOSE:
                self.close_for_flooding("too many invite codes tried while refused")
            raise RateLimited("too many invite codes tried: wait, then check the code", wait)
        self._joins_refused = 0
        address = self.address

        def refund() -> None:
            limits.pilot_joins.give(key, per_device)
            if address is not None:
                limits.pilot_joins_by_address.give(address, per_address)

        return refund

    async def pilot_leave(self, msg: m.PilotLeave) -> m.Msg:
        key = self.device_key
        assert key is not None
        await self.ctx.db.write(pilots.leave(key))
        return m.Ack(re=msg.id)

    # ------------------------------------------------------------ limits

    def _check_registrations(self) -> None:
        """Registrations per remote address (an allowlisted address is not counted)."""
        if self.address is None:
            return
        rate = Rate.per_hour(self.ctx.config.registrations_per_address_per_hour)
        wait = self.ctx.limits.registrations.take(self.address, rate)
        if wait:
            self.ctx.metrics.rate_limited.labels(self.name, "registrations").inc()
            raise RateLimited("too many devices registered from this address", wait)

    async def _check_reports(self, key: int, client_ref: str) -> _NewReport:
        """New reports per device per hour. A resubmission (same client_ref) must still get
        its original answer and must not count: a report past the limit is refused only if
        the relay has never seen its client_ref, and a counted one that turns out to be a
        resubmission gives its token back (`_NewReport.settle`)."""
        rate = Rate.per_hour(self.ctx.config.reports_per_device_per_hour)
        table = self.ctx.limits.reports
        wait = table.take(key, rate)
        if not wait:
            return _NewReport(lambda: table.give(key, rate))
        if await self.ctx.db.read(_submitted_before(key, client_ref)):
            return _NewReport(None)
        self.ctx.metrics.rate_limited.labels(self.name, "reports").inc()
        raise RateLimited("too many reports from this device: try again later", wait)

    async def chunk(self, msg: m.MediaChunk) -> m.Msg:
        """One chunk of this device's own upload for one of its reports (never a shortcut
        through bytes someone else sent: see relay/media.py)."""
        key = self.device_key
        assert key is not None
        cache_key = (msg.report_id, msg.sha256)
        decl = self.declared.get(cache_key)
        if decl is None:
            decl = await self.ctx.db.read(reports.media_declared(key, msg.report_id, msg.sha256))
            if decl is None:
                raise ProtocolError(
                    ErrorCode.NOT_FOUND, "that file was not announced with that report"
                )
            self.declared[cache_key] = decl
        size = decl.size
        if decl.stored:  # this report's upload is complete: a resend after a lost reply
            return m.MediaProgress(re=msg.id, sha256=msg.sha256, received=size, complete=True)
        store, owner = self.ctx.media, str(decl.report_key)
        received = await asyncio.to_thread(
            store.write_chunk, msg.sha256, size, msg.offset, msg.data, owner
        )
        if received < size:
            return m.MediaProgress(re=msg.id, sha256=msg.sha256, received=received, complete=False)
        await asyncio.to_thread(store.finalize, msg.sha256, decl.mime, size, owner)
        await self.ctx.db.write(reports.media_stored(decl.report_key, msg.sha256))
        await asyncio.to_thread(store.clear_receipt, msg.sha256, owner)
        self.declared[cache_key] = dataclasses.replace(decl, stored=True)
        return m.MediaProgress(re=msg.id, sha256=msg.sha256, received=size, complete=True)

    async def chat(self, msg: m.CitizenChatSend) -> m.Msg:
        key = self.device_key
        assert key is not None
        message = await self.ctx.db.write(reports.citizen_chat(key, self.pseudonym, msg))
        if self.ctx.hub.officers_live and message.status == "sent":
            self.ctx.spawn(self.ctx.delivery.mark_delivered_to_officers([message.message_id]))
        return m.ChatSent(re=msg.id, message=message)

    async def receipt(self, msg: m.ChatReceipt) -> m.Msg:
        await self.ctx.db.write(
            reports.chat_receipts(
                msg.message_ids, msg.status, by_device=self.device_key, actor=None
            )
        )
        return m.Ack(re=msg.id)

    async def alert_ack(self, msg: m.AlertAck) -> m.Msg:
        key = self.device_key
        assert key is not None
        moved = await self.ctx.db.write(alerts.acknowledge(key, msg.alert_id, msg.status))
        if moved is not None:
            self.ctx.delivery.counts_changed(moved)
        return m.Ack(re=msg.id)

    # ------------------------------------------------------------ privacy (docs/privacy.md)

    async def privacy_export(self, msg: m.PrivacyExport) -> m.Msg:
        """Subject access, a page at a time; starting an export counts against the device's
        hourly allowance (it reads everything the device ever sent)."""
        key = self.device_key
        assert key is not None
        privacy.parse_cursor(msg.cursor)  # a bad cursor costs no allowance
        if msg.cursor == "":
            rate = Rate.per_hour(PRIVACY_EXPORTS_PER_HOUR)
            wait = self.ctx.limits.privacy.take(key, rate)
            if wait:
                self.ctx.metrics.rate_limited.labels(self.name, "privacy").inc()
                raise RateLimited("too many data exports from this device: try again later", wait)
        page = await self.ctx.db.read(privacy.export_page(key, msg.cursor))
        return msgspec.structs.replace(page, re=msg.id)

    async def privacy_erase(self, msg: m.PrivacyErase) -> m.Msg | None:
        """Forget this device (relay/privacy.py), answer, then close: its credentials are gone."""
        key = self.device_key
        assert key is not None
        own = await self.ctx.db.read(_public_id(key))
        if own is None or not secrets.compare_digest(msg.device_id, own):
            raise ProtocolError(
                ErrorCode.FORBIDDEN,
                "device_id is not this device: a device can erase only itself",
            )
        if not msg.confirm:
            raise ProtocolError(
                ErrorCode.INVALID,
                "erasure not confirmed: send confirm true to erase this device's data "
                "(this cannot be undone)",
            )
        erase = privacy.erase(key)

        def job(tx: Tx) -> privacy.Erased:
            done = erase(tx)
            node_notes.tell_erased(tx, key)
            return done

        done = await self.ctx.db.write(job)
        self.ctx.index.remove(key)
        self.ctx.hub.detach_citizen(key, self.ws)
        self.device_key, self.declared = None, {}
        await self.ws.send(codec.encode_text(msgspec.structs.replace(done.reply, re=msg.id)))
        if done.media:
            await asyncio.to_thread(
                privacy.remove_unused_media, self.ctx.media, self.ctx.db.sessions, done.media
            )
        await self.ws.close(1000, "device erased")
        return None

    routes = Endpoint.routes | {
        m.DeviceRegister: register,
        m.DeviceAuth: auth,
        m.SetCategories: set_categories,
        m.LocationUpdate: location,
        m.ReportSubmit: submit,
        m.ReportsMine: mine,
        m.MediaChunk: chunk,
        m.CitizenChatSend: chat,
        m.ChatReceipt: receipt,
        m.AlertAck: alert_ack,
        m.PrivacyExport: privacy_export,
        m.PrivacyErase: privacy_erase,
        m.EmailSubscribe: email_subscribe,
        m.EmailConfirm: email_confirm,
        m.EmailUnsubscribe: email_unsubscribe,
        m.PilotJoin: pilot_join,
        m.PilotLeave: pilot_leave,
    }


#: exports a device may start per hour (each page after the first is a plain request)
PRIVACY_EXPORTS_PER_HOUR = 12.0
#: invite codes a device may try: 5 at once, then one a minute; an address (every device
#: behind it) 20 at once, then one every 15 s. A code has 58 bits: guessing one, at a
#: full address's pace for a year, has odds of about 1 in 10^11 per valid code.
_JOINS_PER_DEVICE = Rate(1 / 60.0, 5)
_JOINS_PER_ADDRESS = Rate(1 / 15.0, 20)
#: rate-limited joins in a row before the connection is closed for flooding
_JOIN_REFUSALS_BEFORE_CLOSE = 10


def _public_id(key: int) -> Callable[[Session], str | None]:
    def q(s: Session) -> str | None:
        return s.scalar(select(db.Device.public_id).where(db.Device.id == key))

    return q


class _NewReport:
    """Watches a submit job: did it store a new report, or answer a resubmission? Only a
    new one emits `report.created`, so the job's event count tells, in its transaction."""

    def __init__(self, refund: Callable[[], None] | None) -> None:
        self._refund = refund
        self._new = False
        #: the pilot of the new report (exercise traffic), if it is one
        self.pilot: str | None = None

    def watch(self, job: Callable[[Tx], R]) -> Callable[[Tx], R]:
        def watched(tx: Tx) -> R:
            before = len(tx.events)
            out = job(tx)
            self._new = len(tx.events) > before
            self.pilot = next(iter(tx.pilots.values()), None) if self._new else None
            return out

        return watched

    def settle(self) -> None:
        """Give the token back unless a new report was stored (resubmitted, or failed)."""
        if self._refund is not None and not self._new:
            self._refund()


def _submitted_before(key: int, client_ref: str) -> Callable[[Session], bool]:
    def q(s: Session) -> bool:
        found = s.scalar(
            select(db.Report.id).where(
                db.Report.device_id == key, db.Report.client_ref == client_ref
            )
        )
        return found is not None

    return q


def _own_reports(key: int) -> Callable[[Session], list[m.OwnReport]]:
    """The device's newest reports: never another device's, never who holds them."""

    def q(s: Session) -> list[m.OwnReport]:
        rows = s.scalars(
            select(db.Report)
            .where(db.Report.device_id == key)
            .order_by(db.Report.created_at.desc(), db.Report.id.desc())
            .limit(MAX_OWN_REPORTS)
        )
        return [
            m.OwnReport(
                report_id=r.public_id,
                category=cast(m.Category, r.category),
                summary=r.text[:MAX_SHORT_CHARS],
                created_at=r.created_at,
                status=cast(m.ReportStatus, r.status),
                incident_ref=r.incident_ref,
                pilot_id=r.pilot_id,
            )
            for r in rows
        ]

    return q
