"""The `/v1/officer` endpoint: login, resume, the event stream and every officer request.

Roles are checked here, per message, by the relay; the console's buttons are a courtesy.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

import msgspec
from sqlalchemy import delete, func, select
from websockets.asyncio.server import ServerConnection

from backend_client import codec, rules
from backend_client import messages as m
from backend_client.errors import ErrorCode, ProtocolError
from backend_client.limits import REPLAY_BATCH
from relay import (
    accounts,
    alerts,
    cap,
    evidence_api,
    exports,
    history,
    incidents,
    log_epoch,
    node_notes,
    passwords,
    pilot_review,
    pilots,
    privacy,
    ratelimit,
    reports,
    signin,
    targeting,
    team,
)
from relay.config import RelayConfig
from relay.context import RelayContext
from relay.db import models as db
from relay.db.uow import Tx
from relay.endpoint import Endpoint
from relay.reports import Actor

log = logging.getLogger(__name__)
T = TypeVar("T")
#: how long a connection holding a token has to answer a ping before a resume takes over
_PROBE_S = 2.0


class OfficerConnection(Endpoint):
    name = "officer"
    decoder = codec.officer_inbound

    def __init__(self, ctx: RelayContext, ws: ServerConnection) -> None:
        super().__init__(ctx, ws)
        self.actor: Actor | None = None
        self.token_digest: str | None = None
        self.expires_at = 0.0
        self.checked_at = 0.0
        self._refused_logins = 0  # logins sent while locked out (login_refusals_before_close)
        self.handlers |= {
            m.Login: self.login,
            m.Resume: self.resume,
            m.Refresh: self.refresh,
            m.Logout: self.logout,
            m.PasswordChange: self.change_password,
            m.Subscribe: self.subscribe,
            m.ReportClaim: self.idempotent(reports.claim),
            m.ReportSetStatus: self.idempotent(reports.set_status),
            m.ReportAssign: self.idempotent(reports.assign),
            m.ReportSetPriority: self.idempotent(reports.set_priority),
            m.OfficerChatSend: self.chat_reply,
            m.OfficerChatRead: self.chat_read,
            m.MediaGet: self.media_get,
            m.AlertPreview: self.alert_preview,
            m.AlertSend: self.alert_send,
            m.AlertApprove: self.alert_approve,
            m.AlertUpdate: self.alert_update,
            m.AlertCancel: self.alert_cancel,
            m.AlertExport: self.alert_export,
            m.AlertHistory: self.alert_history,  # issue 13: an alert's history
            m.EvidenceExport: self.evidence_export,
            m.EvidenceGet: self.evidence_get,
            m.PilotCreate: self.pilot_create,
            m.PilotList: self.pilot_list,
            m.PilotInvite: self.pilot_invite,
            m.PilotEnd: self.idempotent(pilots.end),
            m.PilotPurge: self.pilot_purge,
            m.PilotReview: self.pilot_review,
            # a report's history and internal notes (relay/history.py)
            m.ReportHistoryGet: self.report_history,
            m.ReportNoteAdd: self.idempotent(history.add_note),
            m.ExportAudit: self.export_audit,  # console File -> Export
        }
        # incidents and the team (issue 13): relay/incidents.py, relay/team.py
        self.signed_in_at: float | None = None
        self.handlers |= {
            m.IncidentCreate: self.idempotent(incidents.create),
            m.ReportLink: self.idempotent(incidents.link),
            m.ReportUnlink: self.idempotent(incidents.unlink),
            m.ReportMerge: self.idempotent(incidents.merge),
            m.TeamList: self.team_list,
        }
        team.follow_claims(self.handlers, team.team_of(ctx).changed)

    def answered(self, tag: str, seconds: float) -> None:
        self.ctx.metrics.officer_request.labels(tag).observe(seconds)

    def closed(self) -> None:
        self._release()
        self.ctx.hub.drop_officer(self.ws)
        self.ctx.hub.discard_session(self)
        if self.signed_in_at is not None:
            team.team_of(self.ctx).changed()

    async def team_list(self, msg: m.TeamList) -> m.Msg:
        return m.TeamListed(re=msg.id, officers=await team.team_of(self.ctx).listing())

    async def still_valid(self) -> bool:
        """Checked by the server's chores every few seconds for every authenticated connection, so a
        disabled account or a lapsed token stops receiving events even if it sends nothing."""
        if self.actor is None:
            return True
        if time.time() >= self.expires_at:
            return False
        try:
            await self.recheck()
        except ProtocolError:
            return False
        return True

    async def authorise(self, msg: m.Msg) -> None:
        if isinstance(msg, m.Login | m.Resume):
            return
        if self.actor is None:
            raise ProtocolError(
                ErrorCode.UNAUTHENTICATED, "log in first (auth.login or auth.resume)"
            )
        now = time.time()
        if now >= self.expires_at:
            raise ProtocolError(ErrorCode.TOKEN_EXPIRED, "your session has expired: log in again")
        if now - self.checked_at > self.ctx.config.recheck_s:
            await self.recheck()
        if not rules.may_send(self.actor.role, type(msg)):
            raise ProtocolError(
                ErrorCode.FORBIDDEN, f"role {self.actor.role} may not send {type(msg).__name__}"
            )

    async def recheck(self) -> None:
        digest = self.token_digest

        def q(s: Any) -> bool:
            row = s.execute(
                select(db.OfficerSession.expires_at, db.Officer.disabled)
                .join(db.Officer, db.Officer.id == db.OfficerSession.officer_id)
                .where(db.OfficerSession.token_hash == digest)
            ).first()
            return row is not None and not row[1] and row[0] > time.time()

        if not await self.ctx.db.read(q):
            self.actor = None
            raise ProtocolError(
                ErrorCode.TOKEN_EXPIRED, "your session is no longer valid: log in again"
            )
        self.checked_at = time.time()

    # ------------------------------------------------------------ session

    async def login(self, msg: m.Login) -> m.Msg:
        """Password + TOTP. Limits first (a refused attempt costs no hash; the claim decides
        for every relay on the database and counts this attempt: relay/signin.py), then
        the officer read, then scrypt on a worker thread (never the writer), then one write
        job that takes the TOTP step atomically and settles the claim. Unknown users take every step too, against a dummy
        hash and secret, and every failure is the same `bad_credentials`."""
        si, metrics, name = self.ctx.signin, self.ctx.metrics, msg.username
        addr = self._address()
        wait = si.limiter.retry_after(name, addr)
        claim = None
        if wait <= 0:  # not known to be locked here: the database decides, for every node
            claim = await si.limiter.claim(self.ctx.db, name, addr)
            wait = claim.wait
        if wait > 0 or claim is None:
            self._refused_logins += 1
            most = self.ctx.config.login_refusals_before_close
            if most > 0 and self._refused_logins >= most:  # it ignores retry_after_s
                self.close_for_flooding("too many login attempts while locked out")
            return self._rate_limited(msg.id, wait, "too many failed logins")
        row = await self.ctx.db.read(_officer_row(name))
        try:
            pw_ok = await si.passwords.check(msg.password, row.password_hash if row else None)
        except signin.Busy:
            await si.limiter.release(self.ctx.db, claim)
            return self._rate_limited(msg.id, 1.0, "the relay is busy checking other logins")
        secret = si.box.open(row.totp_secret, row.username) if row else accounts.DUMMY_TOTP_SECRET
        step = accounts.match_totp(secret, msg.totp)
        (outcome, granted), locks = await self.ctx.db.write(
            si.limiter.settled(
                claim,
                _login_job(name, row.id if row else None, pw_ok, step, self.ctx.config),
                _login_settles,
            )
        )
        metrics.logins.labels(outcome).inc()
        for lock in locks:
            metrics.login_lockouts.labels(lock.scope).inc()
        if granted is not None:
            actor, token, expires = granted
            return self._authed(msg.id, actor, token, expires)
        if outcome == "disabled":
            raise ProtocolError(
                ErrorCode.ACCOUNT_DISABLED, "this account is disabled: ask an administrator"
            )
        raise ProtocolError(ErrorCode.BAD_CREDENTIALS, "wrong user name, password or code")

    def _rate_limited(self, rid: str, wait: float, why: str) -> m.Error:
        self.ctx.metrics.logins.labels("rate_limited").inc()
        self.ctx.metrics.errors.labels(self.name, ErrorCode.RATE_LIMITED.value).inc()
        secs = max(0.1, round(wait, 1))
        return m.Error(
            code=ErrorCode.RATE_LIMITED.value,
            message=f"{why}: try again in {secs:g} s",
            re=rid,
            retry_after_s=secs,
        )

    def _address(self) -> str:
        remote = getattr(self.ws, "remote_address", None)
        return str(remote[0]) if remote else "?"

    async def resume(self, msg: m.Resume) -> m.Msg:
        digest = accounts.token_digest(msg.token)
        found = await self.ctx.db.read(_session_of(digest))
        if found is None:
            raise ProtocolError(ErrorCode.BAD_CREDENTIALS, "unknown session token: log in again")
        actor, expires = found
        if expires <= time.time():
            raise ProtocolError(ErrorCode.TOKEN_EXPIRED, "your session has expired: log in again")
        await self._claim_token(digest, actor)
        return self._authed(msg.id, actor, msg.token, expires)

    async def _claim_token(self, digest: str, actor: Actor) -> None:
        """A token works on one open connection at a time. If another connection holds it
        and still answers a ping, this use is refused (and audited); if it does not
        answer (the owner's old link died and the relay has not noticed yet), it is
        closed and this connection takes over, so an honest reconnect is never stuck."""
        holder = self.ctx.signin.bound.get(digest)
        if holder is None or holder is self or not isinstance(holder, OfficerConnection):
            return
        if await _answers_ping(holder.ws, _PROBE_S):
            await self.ctx.db.write(
                _audit_only(
                    actor.username, "session.second_use", actor.username, at=self._address()
                )
            )
            raise ProtocolError(
                ErrorCode.CONFLICT,
                "this session is already in use on another open connection: close that one "
                "(or log in with password and code on this one)",
            )
        holder._release()
        self.ctx.spawn(holder.ws.close(1008, "session taken over by a new connection"))

    async def refresh(self, msg: m.Refresh) -> m.Msg:
        assert self.actor is not None
        actor, old = self.actor, self.token_digest
        cfg = self.ctx.config

        def job(tx: Tx) -> tuple[str, float]:
            row = tx.s.get(db.OfficerSession, old)
            if row is None:
                raise ProtocolError(
                    ErrorCode.TOKEN_EXPIRED, "your session is no longer valid: log in again"
                )
            end = row.started_at + cfg.session_lifetime_s
            if end <= tx.now:
                raise ProtocolError(
                    ErrorCode.TOKEN_EXPIRED,
                    "your shift's session has ended: log in again with password and code",
                )
            tx.s.delete(row)
            token = accounts.new_token()
            expires = min(tx.now + cfg.token_ttl_s, end)
            tx.s.add(
                db.OfficerSession(
                    token_hash=accounts.token_digest(token),
                    officer_id=actor.officer_id,
                    expires_at=expires,
                    started_at=row.started_at,
                )
            )
            return token, expires

        token, expires = await self.ctx.db.write(job)
        return self._authed(msg.id, actor, token, expires)

    async def logout(self, msg: m.Logout) -> m.Msg:
        """Revoke this connection's token: it resumes nowhere from now on."""
        assert self.actor is not None
        actor, digest = self.actor, self.token_digest

        def job(tx: Tx) -> None:
            tx.s.execute(delete(db.OfficerSession).where(db.OfficerSession.token_hash == digest))
            tx.audit(actor.username, "logout", actor.username)

        await self.ctx.db.write(job)
        self._release()
        self.actor = None
        self.ctx.hub.drop_officer(self.ws)
        self.ctx.hub.discard_session(self)
        self.signed_in_at = None
        team.team_of(self.ctx).changed()
        return m.Ack(re=msg.id)

    async def change_password(self, msg: m.PasswordChange) -> m.Msg:
        """The current password and a fresh code prove it is the officer (under the login
        limits, hashing off the writer); the new one must pass `passwords.problem`. The
        officer's other sessions end; this one stays."""
        assert self.actor is not None
        si, name, addr = self.ctx.signin, self.actor.username, self._address()
        weak = passwords.problem(msg.new, name)
        if weak is not None:
            raise ProtocolError(ErrorCode.INVALID, weak)
        wait = si.limiter.retry_after(name, addr)
        claim = None
        if wait <= 0:
            claim = await si.limiter.claim(self.ctx.db, name, addr)
            wait = claim.wait
        if wait > 0 or claim is None:
            return self._rate_limited(msg.id, wait, "too many failed attempts")
        row = await self.ctx.db.read(_officer_row(name))
        try:
            pw_ok = row is not None and await si.passwords.check(msg.current, row.password_hash)
            new_hash = await si.passwords.hash(msg.new) if pw_ok else ""
        except signin.Busy:
            await si.limiter.release(self.ctx.db, claim)
            return self._rate_limited(msg.id, 1.0, "the relay is busy checking other logins")
        step = None
        if row is not None and pw_ok:
            step = accounts.match_totp(si.box.open(row.totp_secret, row.username), msg.totp)
        changed, _locks = await self.ctx.db.write(
            si.limiter.settled(
                claim,
                _password_job(self.actor, step, new_hash, keep=self.token_digest),
                lambda done: "ok" if done else "failed",
            )
        )
        if changed:
            return m.Ack(re=msg.id)
        raise ProtocolError(ErrorCode.BAD_CREDENTIALS, "wrong current password or code")

    def _release(self) -> None:
        """Unbind this connection's token (it closed, logged out or was taken over)."""
        bound = self.ctx.signin.bound
        if self.token_digest is not None and bound.get(self.token_digest) is self:
            del bound[self.token_digest]
        self.token_digest = None

    def _authed(self, rid: str, actor: Actor, token: str, expires: float) -> m.AuthOk:
        self._release()
        self.actor = actor
        self.token_digest = accounts.token_digest(token)
        self.ctx.signin.bound[self.token_digest] = self
        self.expires_at = expires
        self.checked_at = time.time()
        self.ctx.hub.add_session(self)
        if self.signed_in_at is None:  # a sign-in, not a token refresh
            self.signed_in_at = self.checked_at
            team.team_of(self.ctx).changed()
        return m.AuthOk(
            re=rid,
            token=token,
            expires_at=expires,
            username=actor.username,
            role=cast(m.Role, actor.role),
            cap_web=bool(self.ctx.config.cap_web_url()),
        )

    # ------------------------------------------------------------ event stream

    async def subscribe(self, msg: m.Subscribe) -> m.Msg | None:
        """Replay after `since`, then live; unless the console's `since` cannot be resumed
        in this log (relay/log_epoch.py): then `history_lost`, nothing replayed, not live."""
        hub, ws = self.ctx.hub, self.ws
        at = await self.ctx.db.read(log_epoch.position)
        head = max(at.head, self.ctx.db.head_seq)
        epoch = at.epoch
        if log_epoch.lost(msg.since, msg.epoch, replace(at, head=head)):
            if msg.since > head:
                epoch = await self.ctx.db.write(log_epoch.renewed_if_behind(msg.since))
            hub.drop_officer(ws)
            return m.Subscribed(re=msg.id, head=head, epoch=epoch, history_lost=True)
        hub.begin_replay(ws, msg.exclude_exercise)
        last = msg.since
        live_only = msg.exclude_exercise
        try:
            while True:
                after = last

                def q(s: Any, after: int = after) -> list[tuple[int, str]]:
                    query = select(db.Event.seq, db.Event.frame).where(db.Event.seq > after)
                    if live_only:
                        query = query.where(db.Event.pilot_id.is_(None))
                    rows = s.execute(query.order_by(db.Event.seq).limit(REPLAY_BATCH)).all()
                    return [(int(a), str(b)) for a, b in rows]

                rows = await self.ctx.db.read(q)
                if not rows:
                    break
                for seq, text in rows:
                    await ws.send(text)
                    last = seq
            last = await self._flush(last)
            await ws.send(codec.encode_text(m.Subscribed(re=msg.id, head=last, epoch=epoch)))
            await self._flush(last)
            hub.go_live(ws)
            # the replay carried citizen messages sent while no console was live
            self.ctx.spawn(self.ctx.delivery.mark_awaiting_delivered_to_officers())
        except BaseException:
            hub.drop_officer(ws)
            raise
        return None

    async def _flush(self, last: int) -> int:
        while True:
            buf = self.ctx.hub.take_buffer(self.ws)
            if not buf:
                return last
            for seq, text in buf:
                if seq > last:
                    await self.ws.send(text)
                    last = seq

    # ------------------------------------------------------------ requests

    def idempotent(
        self, make_job: Callable[[Actor, Any], Callable[[Tx], m.Msg]]
    ) -> Callable[[Any], Awaitable[m.Msg]]:
        async def handler(msg: Any) -> m.Msg:
            assert self.actor is not None
            return await self._once(msg, make_job(self.actor, msg), lambda _tx, reply: reply)

        return handler

    async def _once(
        self, msg: Any, inner: Callable[[Tx], T], answer: Callable[[Tx, T], m.Msg]
    ) -> m.Msg:
        """Apply `inner` once per idempotency key, then build the reply (and post-commit
        effects) from its result, in the same transaction."""
        assert self.actor is not None
        return await self.ctx.db.write(_once(self.actor, msg, lambda tx: answer(tx, inner(tx))))

    async def chat_reply(self, msg: m.OfficerChatSend) -> m.Msg:
        assert self.actor is not None
        hub = self.ctx.hub

        def answer(tx: Tx, sent: tuple[int, m.ChatMessage]) -> m.Msg:
            device_key, message = sent
            frame = codec.encode_text(m.ChatDeliver(message=message))
            tx.after_commit(lambda: hub.send_to_devices([device_key], frame))
            return m.ChatSent(re=msg.id, message=message)

        return await self._once(msg, reports.officer_chat(self.actor, msg), answer)

    async def chat_read(self, msg: m.OfficerChatRead) -> m.Msg:
        moved = await self.ctx.db.write(
            node_notes.telling_chat_marks(
                reports.chat_receipts(msg.message_ids, "read", by_device=None, actor=self.actor)
            )
        )
        self.ctx.delivery.tell_citizens_chat_status(moved)
        return m.Ack(re=msg.id)

    async def media_get(self, msg: m.MediaGet) -> m.Msg:
        store = self.ctx.media
        if not store.has(msg.sha256):
            raise ProtocolError(ErrorCode.NOT_FOUND, "no stored media with that hash")
        assert self.actor is not None
        if msg.offset == 0:
            await self.ctx.db.write(_audit_only(self.actor.username, "media.view", msg.sha256))
        total = store.size(msg.sha256)
        if msg.offset > total:
            raise ProtocolError(
                ErrorCode.INVALID, f"offset {msg.offset} is past the end ({total} bytes)"
            )
        data = await asyncio.to_thread(store.read, msg.sha256, msg.offset, msg.length)
        mime = await self.ctx.db.read(_mime_of(msg.sha256))
        return m.MediaData(
            re=msg.id, sha256=msg.sha256, mime=mime, total=total, offset=msg.offset, data=data
        )

    async def alert_preview(self, msg: m.AlertPreview) -> m.Msg:
        assert self.actor is not None
        limited = self._count_limited(msg.id)
        if limited is not None:
            return limited
        mask = targeting.category_mask(msg.categories)
        now = time.time()
        cfg = self.ctx.config
        area = self._check_area(msg.area)
        among = await self._pilot_among(msg.pilot_id, mask, now)
        # both numbers are on the ~100 m grid, so no edge-sliding places a phone: the count
        # shown, and the set approval is decided on (`reach`), exactly as send decides it
        n = self.ctx.index.coarse_count(area, mask, now, among)
        reach = self.ctx.index.reach(area, mask, now, among)
        low = n < cfg.min_count_shown
        emails: int | None = None
        emails_low = False
        if self.ctx.mail is not None:  # counted apart from phones, coarsened the same way
            emails = 0  # an exercise alert is never emailed
            if msg.pilot_id is None:
                emails = await self.ctx.mail.count(area, list(msg.categories))
            emails_low = emails < cfg.min_count_shown
        await self.ctx.db.write(
            alerts.preview_audit(
                self.actor,
                msg.area,
                msg.categories,
                f"<{cfg.min_count_shown}" if low else str(n),
            )
        )
        return m.AlertCount(
            re=msg.id,
            recipients=0 if low else n,
            approval_required=rules.needs_approval(len(reach), cfg.approval_threshold),
            fewer_than=cfg.min_count_shown if low else None,
            emails=None if emails is None else 0 if emails_low else emails,
            emails_fewer_than=cfg.min_count_shown if emails_low else None,
        )

    async def export_audit(self, msg: m.ExportAudit) -> m.Msg:
        """A console export's audit record: its words checked (they are the console's own
        declaration, shown in the audit log), then limited per officer, then recorded once."""
        assert self.actor is not None
        for name, text in (("filename", msg.filename), ("scope", msg.scope)):
            if _UNSAFE_TEXT.search(text):
                raise ProtocolError(
                    ErrorCode.INVALID, f"the export's {name} holds control or direction characters"
                )
        if "/" in msg.filename or "\\" in msg.filename or msg.filename in (".", ".."):
            raise ProtocolError(ErrorCode.INVALID, "the export's filename is a name, not a path")
        buckets = _export_buckets.setdefault(self.ctx.hub, ratelimit.KeyedBuckets())
        rate = ratelimit.Rate.per_hour(self.ctx.config.exports_per_officer_per_hour)
        wait = buckets.take(self.actor.username, rate)
        if wait > 0:
            self.ctx.metrics.rate_limited.labels(self.name, "exports").inc()
            return m.Error(
                code=ErrorCode.RATE_LIMITED.value,
                message=f"too many exports: try again in {wait:.0f} s",
                re=msg.id,
                retry_after_s=round(wait, 3),
            )
        return await self.idempotent(exports.audit_console)(msg)

    def _count_limited(self, rid: str) -> m.Error | None:
        """Previews and sends share one bucket per officer: both reveal a count."""
        assert self.actor is not None
        limiter = _preview_limiters.get(self.ctx.hub)
        if limiter is None:
            cfg = self.ctx.config
            limiter = alerts.PreviewLimiter(cfg.preview_burst, cfg.preview_rate_per_s)
            _preview_limiters[self.ctx.hub] = limiter
        wait = limiter.take(self.actor.username, time.monotonic())
        if wait is None:
            return None
        self.ctx.metrics.previews_limited.inc()
        return m.Error(
            code=ErrorCode.RATE_LIMITED.value,
            message=f"too many previews and sends: try again in {wait:.0f} s",
            re=rid,
            retry_after_s=round(wait, 3),
        )

    def _check_area(self, area: m.Area) -> targeting.PreparedArea:
        """The request's area checked, once: counts, selections and the emails of the
        request all take what this returns, so none of them checks it again."""
        try:
            prepared = targeting.validate_area(area)
            targeting.check_min_size(prepared, self.ctx.config.min_area_m2)
        except targeting.GeometryError as exc:
            raise ProtocolError(ErrorCode.INVALID_GEOMETRY, str(exc)) from None
        return prepared

    async def _pilot_among(self, pilot_id: str | None, mask: int, now: float) -> Any:
        """An exercise alert's candidates: its pilot's participants inside the pilot's
        area (None: a real alert, every device)."""
        if pilot_id is None:
            return None
        pilot = await self.ctx.db.read(pilots.target(pilot_id))
        return self.ctx.index.select(pilot.area, mask, now, pilot.keys)

    async def _select(self, info: m.AlertInfo) -> alerts.Targets:
        """The recipients, and the wider set the two-person rule is decided on."""
        problem = rules.alert_pilot_problem(info.status, info.pilot_id)
        if problem is not None:
            raise ProtocolError(ErrorCode.INVALID, problem)
        area = self._check_area(info.area)
        mask = targeting.category_mask(info.categories)
        now = time.time()
        index = self.ctx.index
        among = await self._pilot_among(info.pilot_id, mask, now)
        return alerts.Targets(
            index.select(area, mask, now, among), index.reach(area, mask, now, among), area
        )

    def _accepted(self, msg: Any, deliver_to: Any = None) -> Callable[[Tx, m.Alert], m.Msg]:
        """The reply to an alert action; an active alert goes to `deliver_to` after commit."""
        delivery, started = self.ctx.delivery, self.received_at

        def answer(tx: Tx, alert: m.Alert) -> m.Msg:
            if deliver_to is not None and alert.state == "active":
                tx.after_commit(lambda: delivery.deliver_alert(alert, deliver_to, started))
                node_notes.tell_alert(tx, alert.alert_id)
            return m.AlertAccepted(re=msg.id, alert=alert)

        return answer

    def _cap_issuer(self) -> cap.Issuer:
        """The relay's one CAP sender (ProtocolError when none is configured)."""
        cfg = self.ctx.config
        return alerts.issuer(cfg.cap_sender, cfg.cap_web_url(), cfg.cap_sender_name)

    async def alert_send(self, msg: m.AlertSend) -> m.Msg:
        assert self.actor is not None
        limited = self._count_limited(msg.id)
        if limited is not None:
            return limited
        targets = await self._select(msg.info)
        cfg = self.ctx.config
        job = alerts.create(
            self.actor,
            msg,
            targets,
            cfg.approval_threshold,
            cfg.min_count_shown,
            self._cap_issuer(),
        )
        return await self._once(msg, job, self._accepted(msg, deliver_to=targets.keys))

    async def alert_approve(self, msg: m.AlertApprove) -> m.Msg:
        assert self.actor is not None
        spawn, delivery, started = self.ctx.spawn, self.ctx.delivery, self.received_at
        keys = await self.ctx.db.read(alerts.recipients_of(msg.alert_id))

        def answer(tx: Tx, approved: Any) -> m.Msg:
            alert, then = approved
            if then is not None and then[0] == "alert":
                tx.after_commit(lambda: delivery.deliver_alert(then[1], keys, started))
                node_notes.tell_alert(tx, then[1].alert_id)
            elif then is not None:
                original = str(then[1])  # old and new recipients: read back after commit
                tx.after_commit(lambda: spawn(delivery.redeliver(original, started)))
                node_notes.tell_alert(tx, original)
            return m.AlertAccepted(re=msg.id, alert=alert)

        return await self._once(
            msg,
            alerts.approve(self.actor, msg, self.ctx.config.min_count_shown, self._cap_issuer()),
            answer,
        )

    async def alert_update(self, msg: m.AlertUpdate) -> m.Msg:
        assert self.actor is not None
        spawn, delivery, started = self.ctx.spawn, self.ctx.delivery, self.received_at
        targets = await self._select(msg.info)
        cfg = self.ctx.config

        def answer(tx: Tx, revised: tuple[m.Alert, bool]) -> m.Msg:
            alert, applied = revised
            alert_id = alert.alert_id  # old and new recipients: read back after commit
            if applied:
                tx.after_commit(lambda: spawn(delivery.redeliver(alert_id, started)))
                node_notes.tell_alert(tx, alert_id)
            return m.AlertAccepted(re=msg.id, alert=alert)

        job = alerts.revise(
            self.actor,
            msg,
            targets,
            cfg.approval_threshold,
            cfg.min_count_shown,
            self._cap_issuer(),
        )
        return await self._once(msg, job, answer)

    async def alert_cancel(self, msg: m.AlertCancel) -> m.Msg:
        assert self.actor is not None
        delivery, started = self.ctx.delivery, self.received_at

        def answer(tx: Tx, cancelled: tuple[m.Alert, list[int]]) -> m.Msg:
            alert, recipients = cancelled
            if recipients:
                tx.after_commit(lambda: delivery.deliver_alert(alert, recipients, started))
                node_notes.tell_alert(tx, alert.alert_id)
            return m.AlertAccepted(re=msg.id, alert=alert)

        return await self._once(
            msg,
            alerts.cancel(self.actor, msg, self.ctx.config.min_count_shown, self._cap_issuer()),
            answer,
        )

    async def alert_export(self, msg: m.AlertExport) -> m.Msg:
        assert self.actor is not None
        issuer = self._cap_issuer()
        xml, ids = await self.ctx.db.read(
            alerts.export_cap_listed(msg.alert_id, issuer, current=not msg.message)
        )
        await self.ctx.db.write(_audit_only(self.actor.username, "alert.export_cap", msg.alert_id))
        return m.AlertCap(re=msg.id, alert_id=msg.alert_id, xml=xml, messages=ids)

    async def alert_history(self, msg: m.AlertHistory) -> m.Msg:
        entries = await self.ctx.db.read(alerts.history(msg.alert_id, time.time()))
        return m.AlertHistoryListed(re=msg.id, alert_id=msg.alert_id, entries=entries)

    async def evidence_export(self, msg: m.EvidenceExport) -> m.Msg:
        assert self.actor is not None
        return await evidence_api.export(self.ctx, self.actor, msg)

    async def evidence_get(self, msg: m.EvidenceGet) -> m.Msg:
        assert self.actor is not None
        return await evidence_api.get(self.ctx, self.actor, msg)

    # ------------------------------------------------------------ pilots (relay/pilots.py)

    async def pilot_create(self, msg: m.PilotCreate) -> m.Msg:
        assert self.actor is not None
        self._check_area(msg.area)
        return await self._once(msg, pilots.create(self.actor, msg), lambda _tx, reply: reply)

    async def pilot_list(self, msg: m.PilotList) -> m.Msg:
        found = await self.ctx.db.read(pilots.listing(msg.include_purged, time.time()))
        return m.PilotListed(re=msg.id, pilots=found)

    async def pilot_invite(self, msg: m.PilotInvite) -> m.Msg:
        """Not through `_once`: its stored reply would keep the codes in the clear."""
        assert self.actor is not None
        return await self.ctx.db.write(pilots.invite(self.actor, msg))

    async def pilot_purge(self, msg: m.PilotPurge) -> m.Msg:
        assert self.actor is not None
        done = await self.ctx.db.write(pilots.purge(self.actor, msg))
        if done.media:
            await asyncio.to_thread(
                privacy.remove_unused_media, self.ctx.media, self.ctx.db.sessions, done.media
            )
        return done.reply

    async def pilot_review(self, msg: m.PilotReview) -> m.Msg:
        assert self.actor is not None
        return await pilot_review.review(self.ctx, self.actor, msg)

    async def report_history(self, msg: m.ReportHistoryGet) -> m.Msg:
        return await self.ctx.db.read(history.history(msg))


#: one preview limiter per relay (keyed by its hub), shared by every officer connection
#: what an export's file name or scope may not hold: C0/C1 controls, line and paragraph
#: separators, and the bidirectional overrides and isolates that make text read otherwise
_UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: console exports per officer, one set of buckets per relay (hub)
_export_buckets: weakref.WeakKeyDictionary[Any, ratelimit.KeyedBuckets[str]] = (
    weakref.WeakKeyDictionary()
)
_preview_limiters: weakref.WeakKeyDictionary[Any, alerts.PreviewLimiter] = (
    weakref.WeakKeyDictionary()
)


def _audit_only(
    actor: str, action: str, subject: str = "", **detail: object
) -> Callable[[Tx], None]:
    def job(tx: Tx) -> None:
        tx.audit(actor, action, subject or actor, **detail)

    return job


@dataclass(frozen=True)
class _OfficerRow:
    id: int
    username: str
    password_hash: str
    totp_secret: str


def _officer_row(username: str) -> Callable[[Any], _OfficerRow | None]:
    def q(s: Any) -> _OfficerRow | None:
        o = s.scalar(select(db.Officer).where(db.Officer.username == username))
        return None if o is None else _OfficerRow(o.id, o.username, o.password_hash, o.totp_secret)

    return q


_Granted = tuple[Actor, str, float]


def _login_job(
    username: str, officer_id: int | None, pw_ok: bool, step: int | None, cfg: RelayConfig
) -> Callable[[Tx], tuple[str, _Granted | None]]:
    """The write half of a login: the TOTP step is taken here, in the writer, so two
    logins racing with one code cannot both win. Every outcome is one audited write."""
    audit_name = username[:200]

    def job(tx: Tx) -> tuple[str, _Granted | None]:
        o = tx.s.get(db.Officer, officer_id) if officer_id is not None else None
        if o is None or not pw_ok or step is None:
            tx.audit(audit_name, "login.failed", audit_name)
            return "failed", None
        if o.totp_last_step is not None and step <= o.totp_last_step:
            tx.audit(audit_name, "login.replayed", audit_name, step=step)
            return "replayed", None
        if o.disabled:
            tx.audit(audit_name, "login.refused", audit_name)
            return "disabled", None
        o.totp_last_step = step
        token = accounts.new_token()
        expires = tx.now + min(cfg.token_ttl_s, cfg.session_lifetime_s)
        tx.s.add(
            db.OfficerSession(
                token_hash=accounts.token_digest(token),
                officer_id=o.id,
                expires_at=expires,
                started_at=tx.now,
            )
        )
        tx.s.execute(delete(db.OfficerSession).where(db.OfficerSession.expires_at < tx.now))
        tx.audit(o.username, "login", o.username)
        return "ok", (Actor(o.id, o.username, o.role), token, expires)

    return job


def _password_job(
    actor: Actor, step: int | None, new_hash: str, keep: str | None
) -> Callable[[Tx], bool]:
    """Store the new hash if the code's step is fresh; end every other session."""

    def job(tx: Tx) -> bool:
        o = tx.s.get(db.Officer, actor.officer_id)
        if o is None or step is None or not new_hash:
            tx.audit(actor.username, "password.change_failed", actor.username)
            return False
        if o.totp_last_step is not None and step <= o.totp_last_step:
            tx.audit(actor.username, "password.change_failed", actor.username, replayed=True)
            return False
        o.totp_last_step = step
        o.password_hash = new_hash
        others = (db.OfficerSession.officer_id == o.id) & (
            db.OfficerSession.token_hash != (keep or "")
        )
        ended = tx.s.scalar(select(func.count()).select_from(db.OfficerSession).where(others))
        tx.s.execute(delete(db.OfficerSession).where(others))
        tx.audit(o.username, "password.changed", o.username, sessions_ended=ended or 0)
        return True

    return job


def _login_settles(done: tuple[str, _Granted | None]) -> signin.Settle:
    """How a login's outcome ends its claim: a disabled account's right password and code
    are not a guess (that attempt is forgotten), every other refusal is a failure."""
    outcome = done[0]
    return "ok" if outcome == "ok" else "void" if outcome == "disabled" else "failed"


def _session_of(digest: str) -> Callable[[Any], tuple[Actor, float] | None]:
    def q(s: Any) -> tuple[Actor, float] | None:
        row = s.execute(
            select(db.Officer, db.OfficerSession.expires_at)
            .join(db.OfficerSession, db.OfficerSession.officer_id == db.Officer.id)
            .where(db.OfficerSession.token_hash == digest)
        ).first()
        if row is None:
            return None
        o, exp = row
        if o.disabled:
            return None
        return Actor(o.id, o.username, o.role), float(exp)

    return q


async def _answers_ping(ws: ServerConnection, timeout: float) -> bool:
    try:
        pong = await ws.ping()
        await asyncio.wait_for(pong, timeout)
    except Exception:  # closed, closing or silent: not a live holder
        return False
    return True


def _mime_of(sha: str) -> Callable[[Any], str]:
    def q(s: Any) -> str:
        return str(
            s.scalar(select(db.ReportMedia.mime).where(db.ReportMedia.sha256 == sha).limit(1))
            or "application/octet-stream"
        )

    return q


def _once(actor: Actor, msg: Any, job: Callable[[Tx], m.Msg]) -> Callable[[Tx], m.Msg]:
    """Apply `job` once per (officer, idempotency key); a repeat gets the first reply again.
    The same key on a different request is refused: its first reply would answer it."""
    asked = hashlib.sha256(codec.encode(msgspec.structs.replace(msg, id=""))).hexdigest()

    def run(tx: Tx) -> m.Msg:
        row = tx.s.get(db.Idempotency, (actor.officer_id, msg.idem))
        if row is not None:
            if row.request_sha256 is not None and row.request_sha256 != asked:
                raise ProtocolError(
                    ErrorCode.CONFLICT,
                    "this idempotency key was used for a different request: use a new key "
                    "for every new action (the same one only to resend it)",
                )
            first = codec.officer_outbound.decode(row.reply)
            return msgspec.structs.replace(first, re=msg.id)
        reply = job(tx)
        tx.s.add(
            db.Idempotency(
                officer_id=actor.officer_id,
                key=msg.idem,
                reply=codec.encode_text(reply),
                at=tx.now,
                request_sha256=asked,
            )
        )
        return reply

    return run
