"""`pilot.review`: a pilot's metrics from the relay's own records (docs/protocol.md).

An inspector, supervisor or admin sends the plan the pilot ran (its TOML text) and how
plan time maps to the relay's clock; the relay decodes and checks the plan
(`backend_client.pilots.decode`, `check`), refuses one that is not the pilot's
(`metrics.plan_problem`) or a purged pilot's (nothing is left to review), reads that
pilot's records only (`read`: its events, its participants and their groups, its
alerts' receipts) and computes the metrics (`backend_client.pilots.metrics.compute`), both
on a reader thread (`ctx.db.read`: never the event loop, never the writer), then audits
the review (who, which pilot) through the writer.

One review runs at a time per relay, as one evidence export does: reading a long pilot's
event log is the expensive part, so a second one meanwhile is answered `rate_limited`.
The plan is decoded under that rule too, on the reader thread, never on the event loop:
tomllib takes time growing with the square of a dotted key's parts (a 200 kB
`a.a.a...` held the loop for minutes), so such keys are refused before it parses, and
nesting past Python's recursion limit is `invalid` like any other bad plan.

`read` is also what `pilot.metrics` uses over a rehearsal's embedded relay, so a
rehearsal's metrics and a real pilot's come from the same query.
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend_client import codec, limits
from backend_client import messages as m
from backend_client.errors import ErrorCode, ProtocolError
from backend_client.limits import MAX_FRAME_BYTES
from backend_client.pilots import Plan, PlanError, Schedule, check, decode
from backend_client.pilots import metrics as pm
from backend_client.pilots.attribution import Attribution
from backend_client.pilots.timemap import PlanTimeOf, mapper
from relay import pilots
from relay.context import RelayContext
from relay.db import models as db
from relay.db.uow import Tx
from relay.reports import Actor

#: `retry_after_s` for a review refused because another is being computed
BUSY_RETRY_S = 5.0

_events: codec.Decoder[Any] = codec.Decoder(m.OfficerEvent)
#: relays (by hub) computing a review now
_busy: weakref.WeakSet[Any] = weakref.WeakSet()

#: most parts a dotted key of a reviewed plan may have (a plan's own have a few;
#: tomllib's time grows with the square of the parts)
MAX_KEY_PARTS = 16
# one key part: bare, "basic" or 'literal', as TOML spells them; possessive, so a long
# run of key characters costs one pass, not one per starting position
_PART = r"""(?:(?<![A-Za-z0-9_-])[A-Za-z0-9_-]++|"(?:[^"\\\n]|\\.)*+"|'[^'\n]*+')"""
_LONG_KEY = re.compile(rf"{_PART}(?:[ \t]*+\.[ \t]*+{_PART}){{{MAX_KEY_PARTS},}}")


async def review(ctx: RelayContext, actor: Actor, msg: m.PilotReview) -> m.Msg:
    if ctx.hub in _busy:
        ctx.metrics.errors.labels("officer", ErrorCode.RATE_LIMITED.value).inc()
        return m.Error(
            code=ErrorCode.RATE_LIMITED.value,
            message=f"another pilot review is being computed: try again in {BUSY_RETRY_S:g} s",
            re=msg.id,
            retry_after_s=BUSY_RETRY_S,
        )
    _busy.add(ctx.hub)
    try:
        plan = await ctx.db.read(lambda _s: _plan(msg.plan))
        metrics = await ctx.db.read(_compute(plan, msg))
    finally:
        _busy.discard(ctx.hub)
    reply = m.PilotReviewed(re=msg.id, pilot_id=msg.pilot_id, metrics=metrics)
    size = len(codec.encode_text(reply).encode())
    if size > MAX_FRAME_BYTES:
        raise ProtocolError(
            ErrorCode.UNAVAILABLE,
            f"the metrics of pilot {msg.pilot_id} ({size:,} bytes) do not fit in one frame "
            f"({MAX_FRAME_BYTES:,}): review it with lookout-pilot on the relay's host",
        )
    await ctx.db.write(_audit(actor, msg, plan, metrics))
    return reply


def _plan(text: str) -> Plan:
    """The request's plan, decoded and checked; `invalid` with every problem if not."""
    if _LONG_KEY.search(text) is not None:
        raise ProtocolError(
            ErrorCode.INVALID,
            f"the plan: a dotted key has more than {MAX_KEY_PARTS} parts (a plan's own have a "
            "few): send the plan file as Lookout saves it",
        )
    try:
        plan = decode(text, source="the plan")
    except PlanError as exc:
        raise ProtocolError(ErrorCode.INVALID, _problems(exc)) from None
    except RecursionError:
        raise ProtocolError(
            ErrorCode.INVALID, "the plan: arrays or tables are nested too deeply to read"
        ) from None
    unbounded = _unbounded(plan)
    if unbounded:
        raise ProtocolError(ErrorCode.INVALID, f"the plan: {unbounded}")
    too_many = _too_many(plan)
    if too_many:
        raise ProtocolError(ErrorCode.INVALID, f"the plan: {too_many}")
    problems = check(plan)
    if problems:
        raise ProtocolError(ErrorCode.INVALID, _problems(PlanError(plan.name, problems)))
    return plan


def _unbounded(plan: Plan) -> str | None:
    """A number in the plan that no plan time can be (TOML has inf and nan; a time past
    `MAX_REVIEW_TIME_S` seconds makes no date), or None."""
    found: list[str] = []

    def walk(x: Any, path: str) -> None:
        if isinstance(x, float) and not abs(x) <= limits.MAX_REVIEW_TIME_S:  # nan too
            found.append(f"{path} is {x}")
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, f"{path}[{i}]")

    walk(msgspec.to_builtins(plan), "")
    if not found:
        return None
    return f"{found[0]}: give a finite number of seconds (at most {limits.MAX_REVIEW_TIME_S:,})"


def _too_many(plan: Plan) -> str | None:
    """What a plan holds more of than a review computes (`limits.MAX_REVIEW_*`), or None."""
    counts = (
        ("acts", len(plan.acts), limits.MAX_REVIEW_ACTS),
        ("injects", sum(len(a.injects) for a in plan.acts), limits.MAX_REVIEW_INJECTS),
        ("expected actions", sum(len(a.expect) for a in plan.acts), limits.MAX_REVIEW_EXPECTATIONS),
        ("zones", len(plan.zones), limits.MAX_REVIEW_ZONES),
        ("days", len(plan.days), limits.MAX_REVIEW_DAYS),
    )
    over = [f"{n:,} {what} (at most {most} {what})" for what, n, most in counts if n > most]
    return "it holds " + ", ".join(over) + " for a review" if over else None


def _problems(exc: PlanError) -> str:
    text = str(exc)
    return text if len(text) <= 1000 else text[:997] + "..."


def _compute(plan: Plan, msg: m.PilotReview) -> Callable[[Session], dict[str, Any]]:
    """On a reader thread: the pilot (not purged, the plan's), its record, its metrics."""

    def q(s: Session) -> dict[str, Any]:
        p = s.scalar(select(db.Pilot).where(db.Pilot.public_id == msg.pilot_id))
        if p is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no pilot {msg.pilot_id!r} on this relay")
        if p.state == "purged":
            raise ProtocolError(
                ErrorCode.CONFLICT,
                f"pilot {msg.pilot_id} was purged: its data is erased, there is nothing to review",
            )
        info = pilots.pilot_info(s, p, time.time())
        problem = pm.plan_problem(plan, info)
        if problem is not None:
            raise ProtocolError(ErrorCode.INVALID, problem)
        plan_t = mapper(msg.clock, Schedule.of(plan))
        rec = read(s, plan, msg.pilot_id, plan_t)
        return pm.compute(plan, rec, clock=msg.clock, prompts={p.inject: p.at for p in msg.prompts})

    return q


def _audit(
    actor: Actor, msg: m.PilotReview, plan: Plan, metrics: dict[str, Any]
) -> Callable[[Tx], None]:
    kind = type(msg.clock).__name__

    def job(tx: Tx) -> None:
        tx.audit(
            actor.username,
            "pilot.review",
            msg.pilot_id,
            plan=plan.name,
            clock=kind,
            reports=metrics.get("reports"),
            events=metrics.get("events"),
        )

    return job


# ---------------------------------------------------------------- the pilot's record


def read(
    s: Session,
    plan: Plan,
    pilot_id: str,
    plan_t: PlanTimeOf,
    scenario_dir: Path | None = None,
) -> pm.Record:
    """The pilot's reports, officer actions, alerts and participants, in plan time."""
    sched = Schedule.of(plan)
    attribution = Attribution.of(plan, scenario_dir)
    rec = pm.Record()
    by_id: dict[str, pm.ReportRecord] = {}
    alerts: dict[str, pm.AlertRecord] = {}
    out_versions: dict[str, tuple[str, m.AlertInfo]] = {}  # alert id -> version last out
    citizen_chat: list[tuple[str, float]] = []  # (report id, sent at)
    frames = s.execute(
        select(db.Event.frame).where(db.Event.pilot_id == pilot_id).order_by(db.Event.seq)
    )
    for (frame,) in frames:
        rec.events += 1
        ev = _events.decode(frame)
        if isinstance(ev, m.ReportCreated):
            r, t = ev.report, plan_t(ev.report.created_at)
            by_id[r.report_id] = pm.ReportRecord(
                r.report_id,
                r.category,
                r.text,
                r.created_at,
                t,
                attribution.act_of(t, r.category),
                pm.day_of(sched, t),
            )
        elif isinstance(ev, m.ReportUpdated) and ev.by is not None:
            got = by_id.get(ev.report.report_id)
            if got is None:
                continue
            t = plan_t(ev.at)
            got.first_action_t = pm.first_of(got.first_action_t, t)
            if ev.report.claimed_by is not None:
                got.claim_t = pm.first_of(got.claim_t, t)
            if ev.report.claimed_by is not None or ev.report.status != "new":
                got.ack_t = pm.first_of(got.ack_t, t)
            if ev.report.incident_ref is not None:
                got.link_t = pm.first_of(got.link_t, t)
            if ev.report.status == "closed":
                got.close_t = pm.first_of(got.close_t, t)
        elif isinstance(ev, m.ChatPosted) and ev.message.sender == "officer":
            found = by_id.get(ev.message.report_id)
            if found is not None:
                t = plan_t(ev.message.sent_at)
                found.chat_t = pm.first_of(found.chat_t, t)
                found.first_action_t = pm.first_of(found.first_action_t, t)
        elif isinstance(ev, m.ChatPosted):  # the reporter's own message
            citizen_chat.append((ev.message.report_id, ev.message.sent_at))
        elif isinstance(ev, m.AlertChanged):
            a = ev.alert
            if a.alert_id not in alerts:
                alerts[a.alert_id] = pm.AlertRecord(
                    a.alert_id, a.sender, plan_t(a.sent_at), a.info, a.sent_at
                )
            # its current version went out when it turned active or its content changed
            # (`sent_at` stays the first send; count updates change neither)
            version = (a.msg_type, a.info)
            if a.state == "active" and a.msg_type in ("Alert", "Update"):
                if out_versions.get(a.alert_id) != version:
                    alerts[a.alert_id].out_at = ev.at
                out_versions[a.alert_id] = version
    reads = _read_receipts(s, alerts, plan_t)
    _read_participants(s, rec, pilot_id, by_id, citizen_chat, reads, sched, plan_t)
    rec.reports = sorted(by_id.values(), key=lambda r: r.created_at)
    rec.alerts = sorted(alerts.values(), key=lambda a: a.t)
    return rec


def _read_receipts(
    s: Session, alerts: dict[str, pm.AlertRecord], plan_t: PlanTimeOf
) -> list[tuple[int, float]]:
    """Each alert's reach, delivered, read and times to read; (device, read at) of each
    read, for participation (the device key stays here: it is never in the metrics)."""
    reads: list[tuple[int, float]] = []
    for public_id, device, status, read_at in s.execute(
        select(
            db.Alert.public_id,
            db.AlertRecipient.device_id,
            db.AlertRecipient.status,
            db.AlertRecipient.read_at,
        )
        .join(db.AlertRecipient, db.AlertRecipient.alert_id == db.Alert.id)
        .where(db.Alert.public_id.in_(list(alerts) or [""]))
    ):
        a = alerts[public_id]
        a.reach += 1
        a.delivered += status in ("delivered", "read")
        a.read += status == "read"
        if read_at is not None:
            a.read_after.append(plan_t(read_at) - plan_t(a.out_at))
            reads.append((int(device), float(read_at)))
    return reads


def _read_participants(
    s: Session,
    rec: pm.Record,
    pilot_id: str,
    by_id: dict[str, pm.ReportRecord],
    citizen_chat: list[tuple[str, float]],
    reads: list[tuple[int, float]],
    sched: Schedule,
    plan_t: PlanTimeOf,
) -> None:
    """Who joined in which group, and on which plan days each was active (sent a report or
    a chat message, or read an alert); each report's group, by the device that sent it."""
    pilot = s.scalar(select(db.Pilot).where(db.Pilot.public_id == pilot_id))
    if pilot is None:
        return
    device_of = {
        str(rid): int(dev)
        for rid, dev in s.execute(
            select(db.Report.public_id, db.Report.device_id).where(db.Report.pilot_id == pilot_id)
        )
    }
    group_of: dict[int, str] = {}
    joined_day: dict[int, int] = {}
    for group, device, joined_at in s.execute(
        select(db.PilotGroup.name, db.PilotParticipant.device_id, db.PilotParticipant.joined_at)
        .join(db.PilotGroup, db.PilotGroup.id == db.PilotParticipant.group_id)
        .where(db.PilotParticipant.pilot_id == pilot.id)
        .order_by(db.PilotParticipant.id)
    ):
        if int(device) not in group_of:  # a phone that left and came back counts once
            group_of[int(device)] = str(group)
            joined_day[int(device)] = pm.day_of(sched, plan_t(float(joined_at)))
    acts: list[tuple[int, float]] = [(device_of[r.report_id], r.created_at) for r in by_id.values()]
    acts += [(device_of[rid], at) for rid, at in citizen_chat if rid in device_of]
    acts += reads
    days: dict[int, set[int]] = {}
    for device, at in acts:
        days.setdefault(device, set()).add(pm.day_of(sched, plan_t(at)))
    for r in by_id.values():
        r.group = group_of.get(device_of.get(r.report_id, -1))
    all_days = [w.day for w in sched.windows] or [1]
    for device, group in group_of.items():
        rec.joined[group] = rec.joined.get(group, 0) + 1
        rec.active[group] = rec.active.get(group, 0) + bool(days.get(device))
        by_day = rec.joined_by_day.setdefault(group, dict.fromkeys(all_days, 0))
        for d in all_days:
            by_day[d] += joined_day[device] <= d
        active = rec.active_by_day.setdefault(group, {d: set() for d in all_days})
        for d in days.get(device, ()):
            active.setdefault(d, set()).add(device)


__all__ = ["BUSY_RETRY_S", "read", "review"]
