"""Incidents: open one, link and unlink reports, merge duplicates under one.

Each public function is a writer job (`fn(tx)`), as in `relay/reports.py`: every check
first, then the writes, each changed report's `report.updated` event and its audit record
in the same transaction, so a refused request changes nothing and a merge is all or
nothing.

An incident is either live or one pilot's exercise: its reports all share one `pilot_id`
(None for live traffic), so an exercise report can never pull a live one into a rehearsal
(or the reverse) through an incident.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from sqlalchemy import select

from backend_client import messages as m
from backend_client import rules
from backend_client.errors import ErrorCode, ProtocolError
from relay.db import models as db
from relay.db.uow import Tx
from relay.reports import Actor, _changed, report_by_public_id

_UNSET = object()


def create(actor: Actor, msg: m.IncidentCreate) -> Callable[[Tx], m.IncidentCreated]:
    """Open an incident, linking `msg.report_ids` to it in the same step."""

    def job(tx: Tx) -> m.IncidentCreated:
        found = _reports(tx, msg.report_ids)
        _one_traffic(found)
        ref = _open(tx, actor, msg.title, pilot=found[0].pilot_id if found else None)
        for r in found:
            _link(tx, actor, r, ref)
        return m.IncidentCreated(re=msg.id, incident_ref=ref)

    return job


def link(actor: Actor, msg: m.ReportLink) -> Callable[[Tx], m.Ack]:
    def job(tx: Tx) -> m.Ack:
        r = report_by_public_id(tx.s, msg.report_id)
        _known(tx, msg.incident_ref)
        _one_traffic([r], _incident_pilot(tx, msg.incident_ref, but=r.id))
        if r.incident_ref != msg.incident_ref:
            _link(tx, actor, r, msg.incident_ref)
        return m.Ack(re=msg.id)

    return job


def unlink(actor: Actor, msg: m.ReportUnlink) -> Callable[[Tx], m.Ack]:
    """Clear the report's incident; a merged duplicate is reopened as new, unheld."""

    def job(tx: Tx) -> m.Ack:
        r = report_by_public_id(tx.s, msg.report_id)
        if r.incident_ref is None and r.duplicate_of is None:
            return m.Ack(re=msg.id)
        was, primary = r.incident_ref, r.duplicate_of
        r.incident_ref = None
        if primary is not None:
            r.duplicate_of = None
            if r.status == "closed" and r.close_reason == rules.duplicate_reason(primary):
                r.status, r.claimed_by, r.close_reason = "new", None, None
        _changed(tx, r, actor, "report.unlink", incident=was, duplicate_of=primary)
        return m.Ack(re=msg.id)

    return job


def merge(actor: Actor, msg: m.ReportMerge) -> Callable[[Tx], m.IncidentCreated]:
    def job(tx: Tx) -> m.IncidentCreated:
        dup_ids = [x for x in dict.fromkeys(msg.report_ids) if x != msg.into]
        if not dup_ids:
            raise ProtocolError(
                ErrorCode.INVALID, "name at least one report besides the primary to merge"
            )
        primary = report_by_public_id(tx.s, msg.into)
        dups = _reports(tx, dup_ids)
        ref = msg.incident_ref
        if ref is not None:
            _known(tx, ref)
            _one_traffic([primary, *dups], _incident_pilot(tx, ref))
        else:
            _one_traffic([primary, *dups])
        for r in dups:
            if r.duplicate_of is not None and r.duplicate_of != primary.public_id:
                raise ProtocolError(
                    ErrorCode.CONFLICT,
                    f"report {r.public_id} is already a duplicate of {r.duplicate_of}: "
                    "unlink it first",
                )
            if r.status != "closed" and not rules.may_close_as_duplicate(
                r.status, r.claimed_by, actor.username, actor.role
            ):
                raise ProtocolError(
                    ErrorCode.CONFLICT,
                    f"report {r.public_id} is held by {r.claimed_by}: only they, or a "
                    "supervisor, may close it as a duplicate",
                )
        # a primary of its own duplicates would leave them pointing at a duplicate
        # (A "Duplicate of B", B "Duplicate of C"): one level, always the primary
        theirs = tx.s.execute(
            select(db.Report.duplicate_of, db.Report.public_id)
            .where(db.Report.duplicate_of.in_([r.public_id for r in dups]))
            .limit(1)
        ).first()
        if theirs is not None:
            raise ProtocolError(
                ErrorCode.CONFLICT,
                f"report {theirs[0]} has duplicates of its own ({theirs[1]}): unlink them "
                "first, or merge into it",
            )
        if primary.duplicate_of is not None:
            raise ProtocolError(
                ErrorCode.CONFLICT,
                f"report {primary.public_id} is itself a duplicate of {primary.duplicate_of}: "
                "merge into that one",
            )
        if ref is None:
            ref = primary.incident_ref or _open(
                tx,
                actor,
                msg.title or _title_from(primary),
                first=primary.public_id,
                pilot=primary.pilot_id,
                citizen_words=not msg.title,
            )
        if primary.incident_ref != ref:
            _link(tx, actor, primary, ref)
        reason = rules.duplicate_reason(primary.public_id)
        for r in dups:
            if r.incident_ref == ref and r.duplicate_of == primary.public_id:
                continue  # merged already (a repeat with a new idem)
            r.incident_ref = ref
            r.duplicate_of = primary.public_id
            if r.status != "closed":
                r.status, r.close_reason = "closed", reason
            _changed(tx, r, actor, "report.merge", incident=ref, duplicate_of=primary.public_id)
        return m.IncidentCreated(re=msg.id, incident_ref=ref)

    return job


# ---------------------------------------------------------------- internals


def _open(
    tx: Tx,
    actor: Actor,
    title: str,
    first: str | None = None,
    pilot: str | None = None,
    citizen_words: bool = False,
) -> str:
    """A new incident; `pilot` is its reports' pilot (None: live), so its `incident.opened`
    is exercise traffic when they are (a merge titles it with an exercise report's text).
    A title made of the citizen's words (`citizen_words`) is audited by the report it was
    taken from, not copied: the audit log outlives an erasure and goes into disclosures."""
    s = tx.s
    year = time.gmtime(tx.now).tm_year
    name = f"incident-{year}"
    counter = s.get(db.Counter, name)
    if counter is None:
        counter = db.Counter(name=name, value=0)
        s.add(counter)
    counter.value += 1
    ref = f"INC-{year}-{counter.value:05d}"
    s.add(
        db.Incident(
            ref=ref, title=title, created_by=actor.username, created_at=tx.now, pilot_id=pilot
        )
    )
    s.flush()
    tx.emit(m.IncidentOpened, incident_ref=ref, title=title, by=actor.username, pilot_id=pilot)
    if first is None:
        tx.audit(actor.username, "incident.create", ref, title=title)
    elif citizen_words:
        tx.audit(actor.username, "incident.create", ref, report=first, titled_after=first)
    else:
        tx.audit(actor.username, "incident.create", ref, title=title, report=first)
    return ref


def _link(tx: Tx, actor: Actor, r: db.Report, ref: str) -> None:
    if r.pilot_id is not None:  # an incident given a pilot's report is that pilot's
        inc = tx.s.scalar(select(db.Incident).where(db.Incident.ref == ref))
        if inc is not None and inc.pilot_id is None:
            inc.pilot_id = r.pilot_id
    r.incident_ref = ref
    _changed(tx, r, actor, "report.link", incident=ref)


def _title_from(r: db.Report) -> str:
    words = " ".join(r.text.split())
    label = rules.category_label(r.category)
    title = f"{label}: {words}" if words else label
    return title if len(title) <= 80 else title[:79] + "…"


def _reports(tx: Tx, ids: Iterable[str]) -> list[db.Report]:
    """Every named report, in the order named; `not_found` names the first unknown one."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    rows = {
        r.public_id: r
        for r in tx.s.scalars(select(db.Report).where(db.Report.public_id.in_(wanted)))
    }
    for rid in wanted:
        if rid not in rows:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no report {rid!r}")
    return [rows[x] for x in wanted]


def _known(tx: Tx, ref: str) -> None:
    if tx.s.scalar(select(db.Incident.id).where(db.Incident.ref == ref)) is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no incident {ref!r}")


def _incident_pilot(tx: Tx, ref: str, but: int | None = None) -> object:
    """The incident's pilot once it had a pilot's reports (even if all were unlinked since),
    else the pilot of the reports linked to it (None: live), `_UNSET` if none."""
    own = tx.s.scalar(select(db.Incident.pilot_id).where(db.Incident.ref == ref))
    if own is not None:
        return own
    q = select(db.Report.pilot_id).where(db.Report.incident_ref == ref)
    if but is not None:
        q = q.where(db.Report.id != but)
    row = tx.s.execute(q.limit(1)).first()
    return _UNSET if row is None else row[0]


def _one_traffic(reports: list[db.Report], incident_pilot: object = _UNSET) -> None:
    """Refuse to put live and exercise reports (or two pilots' reports) together."""
    pilots = {r.pilot_id for r in reports}
    if incident_pilot is not _UNSET:
        pilots.add(incident_pilot)  # type: ignore[arg-type]
    if len(pilots) > 1:
        raise ProtocolError(
            ErrorCode.INVALID,
            "live and exercise reports (or two pilots' reports) cannot share an incident",
        )
