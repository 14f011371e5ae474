"""`lookout-relay export`: reports, alerts or incidents from the relay's database as
GeoJSON, KML or CSV (docs/interop.md), written by the same pure writers the console uses
(`backend_client.exports`), and audited.

Selection is the evidence export's (`--incident`, `--since`, `--until`, `--area`): the same
words pick the same items in both; an incident's reports are those inside `--area` when
one is given. Only report positions are written; device positions are never read here.
Exercise traffic is left out unless asked for, and so are alerts that never reached the
public (waiting for approval, rejected, or CAP status Test, Draft or System) unless
`include_unpublished`. Alert counts below the relay's minimum (the config file's
`min_count_shown`) are given as "fewer than" (blank), as an officer sees them.
"""

from __future__ import annotations

import getpass
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import shapely
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from backend_client import exports
from backend_client import messages as m
from backend_client.exports import files
from relay import admin, evidence, wire
from relay.config import RelayConfig
from relay.db import models as db
from relay.db.uow import Tx
from relay.reports import Actor

#: alert states a citizen could have seen: sent, then perhaps cancelled or expired
PUBLISHED_STATES = frozenset({"active", "cancelled", "expired"})
#: CAP statuses that go to the public (Exercise only for pilots, when asked for)
PUBLIC_STATUSES = frozenset({"Actual", "Exercise"})


@dataclass(frozen=True)
class Written:
    path: Path
    count: int
    sha256: str


def select_items(
    s: Session,
    kind: exports.Kind,
    sel: evidence.Selectors,
    *,
    include_exercise: bool = False,
    include_unpublished: bool = False,
    min_count_shown: int = RelayConfig.min_count_shown,
) -> tuple[list[m.Report], list[m.Alert], list[exports.IncidentSummary]]:
    """The items of `kind` the selectors pick, as wire structs (empty selectors: all)."""
    area = None if sel.area is None else shapely.geometry.shape(sel.area)
    if kind == "reports":
        rows = [
            r for r in evidence.select_reports(s, sel, area) if include_exercise or not r.pilot_id
        ]
        return wire.report_msgs(s, rows), [], []
    if kind == "alerts":
        refs = set(sel.incidents) | {
            r.incident_ref for r in evidence.select_reports(s, sel, None) if r.incident_ref
        }
        alerts = [
            wire.alert_msg(a, min_count_shown) for a in evidence.select_alerts(s, sel, area, refs)
        ]
        alerts = [
            a
            for a in alerts
            if (include_exercise or a.info.status != "Exercise")
            and (include_unpublished or _published(a))
        ]
        return [], alerts, []
    q = select(db.Incident).order_by(db.Incident.created_at, db.Incident.id)
    if sel.incidents:
        for ref in sel.incidents:
            if s.scalar(select(db.Incident.id).where(db.Incident.ref == ref)) is None:
                raise evidence.UnknownItem(f"no incident {ref!r}")
        q = q.where(db.Incident.ref.in_(sel.incidents))
    if sel.since is not None:
        q = q.where(db.Incident.created_at >= sel.since)
    if sel.until is not None:
        q = q.where(db.Incident.created_at <= sel.until)
    out = []
    for inc in s.scalars(q):
        if inc.pilot_id and not include_exercise:
            continue
        reports = wire.report_msgs(
            s,
            s.scalars(
                select(db.Report)
                .where(db.Report.incident_ref == inc.ref)
                .order_by(db.Report.created_at, db.Report.id)
            ).all(),
        )
        if area is not None:  # the incident's reports in the area, and only those
            reports = [r for r in reports if area.covers(shapely.Point(r.lon, r.lat))]
            if not reports:
                continue
        out.append(
            exports.IncidentSummary(
                incident_ref=inc.ref,
                title=inc.title,
                opened_at=inc.created_at,
                opened_by=inc.created_by,
                reports=reports,
                exercise=inc.pilot_id is not None,
            )
        )
    return [], [], out


def os_user() -> str:
    """Who runs `lookout-relay export`, for its audit record: the operating-system login
    (the CLI has no officer session), or `uid:N` when the system cannot name it."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (a bare container)
        return f"uid:{os.getuid()}"


def _published(a: m.Alert) -> bool:
    """Whether the alert ever went to the public: sent (not waiting or rejected) as
    Actual or Exercise traffic."""
    return a.state in PUBLISHED_STATES and a.info.status in PUBLIC_STATUSES


def export(
    engine: Engine,
    out: Path,
    *,
    kind: exports.Kind,
    fmt: exports.Format,
    selectors: evidence.Selectors,
    bom: bool = False,
    include_exercise: bool = False,
    include_unpublished: bool = False,
    min_count_shown: int = RelayConfig.min_count_shown,
    exported_by: str | None = None,
) -> Written:
    """Write the file (whole or not at all, mode 0600) with its `export.<kind>` audit
    record by `exported_by` (by default `os_user()`, who ran the command): what was
    picked, how many, in which format, and the file's SHA-256 (no citizen words)."""
    actor = os_user() if exported_by is None else exported_by
    with Session(engine) as s:
        reports, alerts, incidents = select_items(
            s,
            kind,
            selectors,
            include_exercise=include_exercise,
            include_unpublished=include_unpublished,
            min_count_shown=min_count_shown,
        )
    data = exports.render(kind, fmt, reports, alerts, incidents, bom=bom)
    count = len(reports) + len(alerts) + len(incidents)
    digest = hashlib.sha256(data).hexdigest()

    def audit() -> None:
        with Session(engine) as s, s.begin():
            admin.audit_offline(
                s,
                actor,
                f"export.{kind}",
                out.name,
                format=fmt,
                selectors=selectors.to_json(),
                include_exercise=include_exercise,
                include_unpublished=include_unpublished,
                count=count,
                sha256=digest,
                source="cli",
            )

    # written beside its place (0600, a fresh name), audited, then put in place: no file
    # leaves unaudited
    files.write_private(out, data, before_replace=audit)
    return Written(out, count, digest)


def audit_console(actor: Actor, msg: m.ExportAudit) -> Callable[[Tx], m.ExportAudited]:
    """A console's File -> Export (`export.audit`): one `export.<kind>` record with the
    officer's name, what the file holds in numbers (`kinds`: `reports+alerts` for a map
    view's GeoJSON or KML; the action stays `export.<kind>`) and its SHA-256, before the
    console writes it. The scope is the console's words for the view ("feed: …", "map view",
    "incident INC-…"), built from filters and references, never from citizen text.
    Idempotent through the officer endpoint's `_once` (a resend is audited once)."""

    def job(tx: Tx) -> m.ExportAudited:
        seq = tx.audit(
            actor.username,
            f"export.{msg.kind}",
            msg.filename,
            format=msg.format,
            scope=msg.scope,
            count=msg.count,
            sha256=msg.sha256,
            kinds="+".join(dict.fromkeys((msg.kind, *msg.kinds))),
            source="console",
        )
        return m.ExportAudited(re=msg.id, audit_seq=seq, at=tx.now)

    return job
