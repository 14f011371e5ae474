"""`lookout-relay export`: reports, alerts or incidents from the relay's database as
GeoJSON, KML or CSV (docs/interop.md), written by the same pure writers the console uses
(`backend_client.exports`), and audited.

Selection is the evidence export's (`--incident`, `--since`, `--until`, `--area`): the same
words pick the same items in both. Only report positions are written; device positions
are never read here. Exercise traffic is left out unless asked for, and alert counts
below the relay's minimum are given as "fewer than" (blank), as an officer sees them.
"""

from __future__ import annotations

import hashlib
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
        floor = RelayConfig.min_count_shown
        alerts = [wire.alert_msg(a, floor) for a in evidence.select_alerts(s, sel, area, refs)]
        alerts = [a for a in alerts if include_exercise or a.info.status != "Exercise"]
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
        if area is not None and not any(area.covers(shapely.Point(r.lon, r.lat)) for r in reports):
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


def export(
    engine: Engine,
    out: Path,
    *,
    kind: exports.Kind,
    fmt: exports.Format,
    selectors: evidence.Selectors,
    bom: bool = False,
    include_exercise: bool = False,
    exported_by: str = "admin",
) -> Written:
    """Write the file (whole or not at all) with its `export.<kind>` audit record:
    what was picked, how many, in which format, and the file's SHA-256 (no citizen words)."""
    with Session(engine) as s:
        reports, alerts, incidents = select_items(
            s, kind, selectors, include_exercise=include_exercise
        )
    data = exports.render(kind, fmt, reports, alerts, incidents, bom=bom)
    count = len(reports) + len(alerts) + len(incidents)
    digest = hashlib.sha256(data).hexdigest()

    def audit() -> None:
        with Session(engine) as s, s.begin():
            admin.audit_offline(
                s,
                exported_by,
                f"export.{kind}",
                out.name,
                format=fmt,
                selectors=selectors.to_json(),
                include_exercise=include_exercise,
                count=count,
                sha256=digest,
            )

    # written beside its place (0600, a fresh name), audited, then put in place: no file
    # leaves unaudited
    files.write_private(out, data, before_replace=audit)
    return Written(out, count, digest)


def audit_console(actor: Actor, msg: m.ExportAudit) -> Callable[[Tx], m.ExportAudited]:
    """A console's File -> Export (`export.audit`): one `export.<kind>` record with the
    officer's name, what the file holds in numbers and its SHA-256, before the console
    writes it. The scope is the console's words for the view ("feed: …", "map view",
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
            source="console",
        )
        return m.ExportAudited(re=msg.id, audit_seq=seq, at=tx.now)

    return job
