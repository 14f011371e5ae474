"""A large evidence case, written straight into a relay data dir (no relay, no wire).

Over the wire 10,000 reports take minutes; written here with the relay's own models and
audit chain they take seconds, and `relay.evidence.export` then packages them exactly as
it would a live case. Shared by `bench/evidence.py` and the workspace's scale test.

The case: one device, one incident, `reports` reports linked to it (each with a
`report.link` audit record), a chat message on every `chat_every`-th report (citizen and
officer in turn), one alert for the incident sent and then updated to a larger area (two
CAP versions), and `media_files` random media files on the first reports, stored where
the relay's media store keeps them. No Qt, no pytest: plain functions.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec
from sqlalchemy.orm import Session

from backend_client import messages as m
from relay import admin, audit, checkpoints, evidence
from relay.db import models as db
from relay.db.uow import AUDIT_LOCK, lock_audit_head

INCIDENT = "INC-2026-000001"
PRESTON = (53.7590, -2.6990)  # lat, lon
ALERT_ID = "alr_scale0001"
MIB = 1 << 20


@dataclass(frozen=True)
class ScaleCase:
    data_dir: Path
    reports: int
    chats: int
    media: tuple[Path, ...]


def _square(d: float) -> m.Polygon:
    lat, lon = PRESTON
    return m.Polygon(
        coordinates=[(lon - d, lat - d), (lon + d, lat - d), (lon + d, lat + d), (lon - d, lat + d)]
    )


def make_case(
    data_dir: Path,
    reports: int = 10_000,
    *,
    chat_every: int = 10,
    media_files: int = 0,
    media_mb: float = 0.0,
) -> ScaleCase:
    engine = admin.open_engine(data_dir)
    checkpoints.relay_key(data_dir)
    size = max(1, int(media_mb * MIB / max(media_files, 1))) if media_files else 0
    files: list[Path] = []
    t0 = time.time() - reports * 60.0
    chats = 0
    try:
        with Session(engine) as s, s.begin():
            dev = db.Device(
                public_id="dev_scale",
                secret_hash="0" * 64,
                pseudonym="Kestrel-0001",
                platform="bench",
                category_mask=1,
                created_at=t0,
            )
            s.add(dev)
            s.add(db.Incident(ref=INCIDENT, title="Scale case", created_by="sam", created_at=t0))
            s.flush()
            admin.audit_offline(s, "sam", "incident.create", INCIDENT, title="Scale case")
            rows = [
                db.Report(
                    public_id=f"rep_{i:07d}",
                    device_id=dev.id,
                    client_ref=f"c{i}",
                    category="burglary",
                    text=f"Report {i}: two men trying door handles on Elm Road",
                    lat=PRESTON[0] + (i % 100) * 1e-4,
                    lon=PRESTON[1] + (i // 100 % 100) * 1e-4,
                    created_at=t0 + i * 60.0,
                    status="new",
                    priority="normal",
                    incident_ref=INCIDENT,
                )
                for i in range(reports)
            ]
            s.add_all(rows)
            s.flush()
            _link_audit(s, [r.public_id for r in rows])
            for i in range(0, reports, max(chat_every, 1)) if chat_every else ():
                officer = (i // max(chat_every, 1)) % 2 == 1
                s.add(
                    db.ChatMessage(
                        public_id=f"msg_{i:07d}",
                        report_id=rows[i].id,
                        sender="officer" if officer else "citizen",
                        author="sam" if officer else "Kestrel-0001",
                        text=f"Message {i}: they went towards the canal",
                        sent_at=t0 + i * 60.0 + 30.0,
                    )
                )
                chats += 1
            _alert(s, t0, t0 + reports * 60.0)
            for k in range(media_files):
                data = os.urandom(size)
                sha = hashlib.sha256(data).hexdigest()
                path = evidence.media_path(data_dir, sha)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                files.append(path)
                s.add(
                    db.ReportMedia(
                        report_id=rows[k % len(rows)].id,
                        sha256=sha,
                        mime="video/mp4",
                        size=size,
                        stored=True,
                    )
                )
    finally:
        engine.dispose()
    return ScaleCase(data_dir, reports, chats, tuple(files))


def _link_audit(s: Session, report_ids: list[str]) -> None:
    """One `report.link` record per report, chained as `admin.audit_offline` chains them,
    but under one lock of the head (one query, not one per record)."""
    if s.get(db.Counter, AUDIT_LOCK) is None:
        s.add(db.Counter(name=AUDIT_LOCK, value=0))
        s.flush()
    seq, prev = lock_audit_head(s)
    now = time.time()
    for rid in report_ids:
        seq += 1
        detail = audit.canonical_detail({"incident_ref": INCIDENT})
        digest = audit.record_hash(prev, seq, now, "sam", "report.link", rid, detail)
        s.add(
            db.AuditLog(
                seq=seq,
                at=now,
                actor="sam",
                action="report.link",
                subject=rid,
                detail=detail,
                prev_hash=prev,
                hash=digest,
            )
        )
        prev = digest
    s.flush()


def _alert(s: Session, sent: float, updated: float) -> None:
    """An alert for the incident, sent for a small square then updated to a larger one."""
    first = m.AlertInfo(
        categories=["burglary"],
        area=_square(0.005),
        area_desc="Elm Road",
        headline="Burglaries on Elm Road",
        incident_ref=INCIDENT,
        expires_at=updated + 3600,
    )
    second = msgspec.structs.replace(
        first, area=_square(0.02), area_desc="Elm Road and around", headline="Burglaries: wider"
    )
    alert = db.Alert(
        public_id=ALERT_ID,
        sender="sam",
        sent_at=updated,
        msg_type="Update",
        state="active",
        info_json=msgspec.json.encode(second).decode(),
        expires_at=second.expires_at,
        recipients=120,
        delivered=110,
        read=80,
        references_json="[]",
    )
    s.add(alert)
    s.flush()
    for n, (kind, info, at) in enumerate((("Alert", first, sent), ("Update", second, updated)), 1):
        s.add(
            db.AlertVersion(
                alert_id=alert.id,
                n=n,
                msg_type=kind,
                state="active",
                info_json=msgspec.json.encode(info).decode(),
                references_json="[]",
                sent_at=at,
                recorded_at=at,
            )
        )


def export(case: ScaleCase, out: Path) -> Path:
    """The case's incident packaged by `relay.evidence.export` (the CLI's path)."""
    engine = admin.open_engine(case.data_dir)
    try:
        evidence.export(
            engine,
            case.data_dir,
            out,
            reason="scale",
            selectors=evidence.Selectors(incidents=(INCIDENT,)),
        )
    finally:
        engine.dispose()
    return out


def signer(data_dir: Path) -> str:
    return checkpoints.fingerprint(checkpoints.relay_key(data_dir).public_key())
