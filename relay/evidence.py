"""Export a signed evidence package (`lookout-evidence/1`, docs/evidence.md).

ACPO principle 1: the export never alters the original. It reads the database in one
read transaction (a consistent snapshot), copies media bytes exactly as stored (checking
each against its SHA-256 name on the way), and writes nothing to the database but the
one `evidence.export` audit record `export` appends afterwards, naming the reason, the
selectors and the package's Merkle root. It may append one signed checkpoint to the
checkpoint file, when none covers the audit records the package holds yet.

Qt-free and synchronous: `lookout-relay evidence export` calls `export`; an officer-API
message can call `build` on a worker thread and audit through its own transaction.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import msgspec
import shapely
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from backend_client import messages as m
from backend_client.version import lookout_version
from evidence import format as fmt
from evidence.writer import PackageWriter
from relay import admin, alerts, audit, checkpoints, wire
from relay.db import models as db

#: vertices of the polygon a circular alert area is drawn as in geometry.geojson
_CIRCLE_VERTICES = 64
_EARTH_M = 6_371_008.8


class EvidenceError(Exception):
    """The package cannot be made; the message says why and what to do."""


class UnknownItem(EvidenceError):
    """A selected report or incident does not exist."""


@dataclass(frozen=True)
class Selectors:
    """What goes into a package. `incidents` and `reports` pick items (a union); `since`,
    `until` and `area` narrow them, or, with neither of the first two, pick every item in
    that window or area. Times are unix seconds; `area` is a GeoJSON Polygon geometry."""

    incidents: tuple[str, ...] = ()
    reports: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None
    area: dict[str, Any] | None = None

    def empty(self) -> bool:
        return not (self.incidents or self.reports or self.area) and (
            self.since is None and self.until is None
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "incidents": list(self.incidents),
            "reports": list(self.reports),
            "since": None if self.since is None else iso(self.since),
            "until": None if self.until is None else iso(self.until),
            "area": self.area,
        }


@dataclass(frozen=True)
class Exported:
    path: Path
    merkle_root: str
    fingerprint: str
    counts: dict[str, int] = field(default_factory=dict)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> float:
    """ISO 8601 with a zone (`2026-12-01T08:00:00Z`, `...+01:00`); a date alone is UTC
    midnight. Raises ValueError saying what is wrong."""
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time (e.g. 2026-12-01T08:00:00Z)") from None
    if t.tzinfo is None:
        if len(text) > 10:
            raise ValueError(f"{text!r} has no time zone: add Z (UTC) or an offset like +01:00")
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


def parse_area(text: str) -> dict[str, Any]:
    """A GeoJSON Polygon from a Geometry, a Feature, or a FeatureCollection of one
    Feature. Raises ValueError."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"the area file is not JSON: {exc}") from None
    return parse_area_geometry(doc)


def parse_area_geometry(doc: Any) -> dict[str, Any]:
    """`parse_area` after the JSON text is read: a decoded GeoJSON value."""
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features") or []
        if len(features) != 1:
            raise ValueError("the area FeatureCollection must hold exactly one Feature")
        doc = features[0]
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = doc.get("geometry")
    if not isinstance(doc, dict) or doc.get("type") != "Polygon":
        raise ValueError("the area must be a GeoJSON Polygon")
    try:
        poly = shapely.geometry.shape(doc)
    except (ValueError, TypeError, IndexError) as exc:
        raise ValueError(f"the area Polygon is malformed: {exc}") from None
    if not poly.is_valid or poly.area == 0:
        raise ValueError("the area Polygon is not valid (self-crossing or empty)")
    return {"type": "Polygon", "coordinates": doc["coordinates"]}


def media_path(data_dir: Path, sha: str) -> Path:
    """Where the relay stores verified media (relay/media.py `MediaStore.path`)."""
    return data_dir / "media" / sha[:2] / sha[2:4] / sha


def export(
    engine: Engine,
    data_dir: Path,
    out: Path,
    *,
    reason: str,
    selectors: Selectors,
    exported_by: str = "admin",
) -> Exported:
    """`build` the package, then append the `evidence.export` audit record."""
    done = build(engine, data_dir, out, reason=reason, selectors=selectors, exported_by=exported_by)
    with Session(engine) as s, s.begin():
        admin.audit_offline(
            s,
            exported_by,
            "evidence.export",
            out.name,
            reason=reason,
            selectors=selectors.to_json(),
            merkle_root=done.merkle_root,
            key=done.fingerprint,
            counts=done.counts,
        )
    return done


def build(
    engine: Engine,
    data_dir: Path,
    out: Path,
    *,
    reason: str,
    selectors: Selectors,
    exported_by: str,
) -> Exported:
    if selectors.empty():
        raise EvidenceError(
            "no selector: give at least one of --incident, --report, --since/--until, --area"
        )
    if not reason.strip():
        raise EvidenceError("give the reason for this export (--reason): it is signed and audited")
    key = checkpoints.relay_key(data_dir)
    now = time.time()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".evidence-", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw, Session(engine) as s:
            s.connection()  # one read transaction: every table as of the same moment
            writer = _Writer(raw, now)
            try:
                _fill(s, engine, data_dir, key, selectors, writer, now, reason, exported_by)
            except BaseException:
                with contextlib.suppress(Exception):
                    writer.close()
                raise
            writer.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Exported(out, writer.root, checkpoints.fingerprint(key.public_key()), writer.counts)


def _fill(
    s: Session,
    engine: Engine,
    data_dir: Path,
    key: Ed25519PrivateKey,
    selectors: Selectors,
    writer: _Writer,
    now: float,
    reason: str,
    exported_by: str,
) -> None:
    """Every entry, then the manifest over them and its signature."""
    counts, audit_range = _write_items(s, data_dir, key, selectors, writer)
    files = sorted(writer.files)
    root = fmt.merkle_root([fmt.leaf_data(*f) for f in files])
    public = key.public_key()
    manifest = {
        "format": fmt.FORMAT,
        "created_at": iso(now),
        "created_at_unix": now,
        "exported_by": exported_by,
        "reason": reason,
        "selectors": selectors.to_json(),
        "relay": {
            "version": lookout_version(),
            "database": engine.dialect.name,
        },
        "signer": {
            "algorithm": "Ed25519",
            "public_key": base64.b64encode(
                public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            ).decode("ascii"),
            "fingerprint": checkpoints.fingerprint(public),
        },
        "counts": counts,
        "audit": audit_range,
        "files": [{"path": p, "sha256": h, "size": n} for p, h, n in files],
        "merkle_root": root,
    }
    body = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode(
        "ascii"
    )
    sig = key.sign(fmt.signed_manifest(body))
    writer.put(fmt.MANIFEST, body, listed=False)
    writer.put(fmt.SIGNATURE, base64.b64encode(sig) + b"\n", listed=False)
    writer.root, writer.counts = root, counts


class _Writer(PackageWriter):
    """The package's ZIP, and what the export learns while writing it (the manifest's
    Merkle root and counts)."""

    def __init__(self, raw: IO[bytes], now: float) -> None:
        super().__init__(raw, now)
        self.root = ""
        self.counts: dict[str, int] = {}

    def put_file(self, path: str, src: Path, sha: str) -> None:
        """Copy stored media exactly (stored, not recompressed), checking its SHA-256."""
        try:
            fin = src.open("rb")
        except FileNotFoundError:
            raise EvidenceError(
                f"media {sha} is recorded as stored but its file is missing from the media "
                "store: restore it from backup before exporting"
            ) from None
        with fin:
            got = self.put_stream(path, fin, stored=True)
        if got != sha:
            raise EvidenceError(
                f"media {sha} in the media store no longer matches its SHA-256: the stored "
                "copy was altered or damaged; nothing was exported"
            )


def _write_items(
    s: Session,
    data_dir: Path,
    key: Ed25519PrivateKey,
    sel: Selectors,
    w: _Writer,
) -> tuple[dict[str, int], dict[str, Any]]:
    area = shapely.geometry.shape(sel.area) if sel.area else None
    if area is not None:
        shapely.prepare(area)
    reports = select_reports(s, sel, area)
    report_msgs = wire.report_msgs(s, reports)
    chats = list(
        s.execute(
            select(db.ChatMessage, db.Report.public_id)
            .join(db.Report, db.Report.id == db.ChatMessage.report_id)
            .where(db.ChatMessage.report_id.in_([r.id for r in reports]))
            .order_by(db.ChatMessage.sent_at, db.ChatMessage.id)
        )
    )
    chat_msgs = [wire.chat_msg(c, rid) for c, rid in chats]
    incident_refs = set(sel.incidents) | {r.incident_ref for r in reports if r.incident_ref}
    alert_rows = select_alerts(s, sel, area, incident_refs)
    alert_entries, alert_features = _alert_entries(s, alert_rows, w)
    incident_refs |= {
        a.info.incident_ref for a, _ in alert_entries if a.info.incident_ref is not None
    }
    incidents = list(
        s.scalars(
            select(db.Incident)
            .where(db.Incident.ref.in_(sorted(incident_refs)))
            .order_by(db.Incident.created_at, db.Incident.id)
        )
    )
    w.put_json("reports.json", [msgspec.to_builtins(r) for r in report_msgs])
    w.put_json("chat.json", [msgspec.to_builtins(c) for c in chat_msgs])
    w.put_json(
        "incidents.json",
        [
            {
                "incident_ref": i.ref,
                "title": i.title,
                "created_by": i.created_by,
                "created_at": i.created_at,
            }
            for i in incidents
        ],
    )
    w.put_json("alerts.json", [entry for _, entry in alert_entries])
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},
            "properties": {
                "kind": "report",
                "report_id": r.report_id,
                "category": r.category,
                "text": r.text,
                "created_at": r.created_at,
                "status": r.status,
                "incident_ref": r.incident_ref,
            },
        }
        for r in report_msgs
    ]
    w.put_json(
        "geometry.geojson", {"type": "FeatureCollection", "features": features + alert_features}
    )
    media = sorted({x.sha256 for r in report_msgs for x in r.media if x.stored})
    for sha in media:
        w.put_file(f"media/{sha}", media_path(data_dir, sha), sha)
    ids = (
        {r.report_id for r in report_msgs}
        | {c.message_id for c in chat_msgs}
        | {i.ref for i in incidents}
        | {a.alert_id for a, _ in alert_entries}
    )
    audit_range = _write_audit(s, data_dir, key, ids, w)
    counts = {
        "reports": len(report_msgs),
        "chat": len(chat_msgs),
        "incidents": len(incidents),
        "alerts": len(alert_entries),
        "media": len(media),
        "audit_records": audit_range["records"],
    }
    return counts, audit_range


def select_reports(s: Session, sel: Selectors, area: Any) -> list[db.Report]:
    """The reports the selectors pick, oldest first (also `lookout-relay export`'s)."""
    q = select(db.Report)
    if sel.reports or sel.incidents:
        for rid in sel.reports:
            if s.scalar(select(db.Report.id).where(db.Report.public_id == rid)) is None:
                raise UnknownItem(f"no report {rid!r} (check the id: lookout reports show it)")
        for ref in sel.incidents:
            if s.scalar(select(db.Incident.id).where(db.Incident.ref == ref)) is None:
                raise UnknownItem(f"no incident {ref!r}")
        q = q.where(
            db.Report.public_id.in_(sel.reports) | db.Report.incident_ref.in_(sel.incidents)
        )
    if sel.since is not None:
        q = q.where(db.Report.created_at >= sel.since)
    if sel.until is not None:
        q = q.where(db.Report.created_at <= sel.until)
    rows = list(s.scalars(q.order_by(db.Report.created_at, db.Report.id)))
    if area is not None:
        rows = [r for r in rows if area.covers(shapely.Point(r.lon, r.lat))]
    return rows


def select_alerts(s: Session, sel: Selectors, area: Any, incident_refs: set[str]) -> list[db.Alert]:
    """The alerts the selectors pick (also `lookout-relay export`'s), proposals left out."""
    rows = [
        a
        for a in s.scalars(select(db.Alert).order_by(db.Alert.id))
        if '"update-of"' not in (a.references_json or "")  # a proposal is not an alert
    ]
    out = []
    for a in rows:
        info = wire.alert_info(a)
        if (sel.reports or sel.incidents) and info.incident_ref not in incident_refs:
            continue
        times = [
            a.sent_at,
            *s.scalars(select(db.AlertVersion.sent_at).where(db.AlertVersion.alert_id == a.id)),
        ]
        if sel.since is not None and max(times) < sel.since:
            continue
        if sel.until is not None and min(times) > sel.until:
            continue
        if area is not None and not area.intersects(_area_shape(info.area)):
            continue
        out.append(a)
    return out


def _alert_entries(
    s: Session, rows: list[db.Alert], w: _Writer
) -> tuple[list[tuple[m.Alert, dict[str, Any]]], list[dict[str, Any]]]:
    entries: list[tuple[m.Alert, dict[str, Any]]] = []
    features: list[dict[str, Any]] = []
    for a in rows:
        current = wire.alert_msg(a, alerts.EXACT)
        stored = alerts.versions(a.id)(s)
        versions = []
        for v in stored:
            refs = [(str(x[0]), str(x[1])) for x in json.loads(v.references_json)]
            info = msgspec.json.decode(v.info_json, type=m.AlertInfo)
            rendered = v.cap_xml is None
            xml = v.cap_xml
            if xml is None:  # backfilled by migration 0004: the CAP as sent was not kept
                msg = msgspec.structs.replace(
                    current,
                    msg_type=v.msg_type,
                    info=info,
                    sent_at=v.sent_at,
                )
                xml = alerts.to_cap(msg, refs, alerts.DEFAULT_ISSUER)
            path = f"cap/{a.public_id}/{v.n}.xml"
            w.put(path, xml.encode("utf-8"))
            versions.append(
                {
                    "n": v.n,
                    "msg_type": v.msg_type,
                    "state": v.state,
                    "cap_identifier": alerts.cap_identifier(a.public_id, refs),
                    "references": [list(r) for r in refs],
                    "sent_at": v.sent_at,
                    "approved_by": v.approved_by,
                    "recorded_at": v.recorded_at,
                    "info": msgspec.to_builtins(info),
                    "cap": path,
                    "cap_rendered_at_export": rendered,
                }
            )
            features.append(
                {
                    "type": "Feature",
                    "geometry": _area_geojson(info.area),
                    "properties": {
                        "kind": "alert",
                        "alert_id": a.public_id,
                        "n": v.n,
                        "msg_type": v.msg_type,
                        "headline": info.headline,
                        "area_desc": info.area_desc,
                        "sent_at": v.sent_at,
                        **(
                            {
                                "shape": "circle",
                                "center": [info.area.lon, info.area.lat],
                                "radius_m": info.area.radius_m,
                            }
                            if isinstance(info.area, m.Circle)
                            else {"shape": "polygon"}
                        ),
                    },
                }
            )
        entries.append((current, {"alert": msgspec.to_builtins(current), "versions": versions}))
    return entries, features


def _circle_ring(c: m.Circle) -> list[list[float]]:
    """The circle as a closed ring of lon/lat points (local equirectangular projection)."""
    lat0 = math.radians(c.lat)
    dlat = math.degrees(c.radius_m / _EARTH_M)
    dlon = dlat / max(math.cos(lat0), 1e-9)
    ring = [
        [
            c.lon + dlon * math.cos(2 * math.pi * k / _CIRCLE_VERTICES),
            c.lat + dlat * math.sin(2 * math.pi * k / _CIRCLE_VERTICES),
        ]
        for k in range(_CIRCLE_VERTICES)
    ]
    return [*ring, ring[0]]


def _area_geojson(area: m.Area) -> dict[str, Any]:
    if isinstance(area, m.Circle):
        return {"type": "Polygon", "coordinates": [_circle_ring(area)]}
    ring = [[lon, lat] for lon, lat in area.coordinates]
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def _area_shape(area: m.Area) -> Any:
    return shapely.geometry.shape(_area_geojson(area))


# ------------------------------------------------------------------ the audit extract


def _concerns(subject: str, detail: str, ids: set[str]) -> bool:
    if subject in ids:
        return True
    try:
        values = json.loads(detail)
    except ValueError:
        return False
    return isinstance(values, dict) and any(
        isinstance(v, str) and v in ids for v in values.values()
    )


def _write_audit(
    s: Session, data_dir: Path, key: Ed25519PrivateKey, ids: set[str], w: _Writer
) -> dict[str, Any]:
    """The contiguous chain from the first record about a selected item to a signed
    checkpoint at or after the last one (made now if none is), each record marked."""
    first = last = None
    for seq, subject, detail in s.execute(
        select(db.AuditLog.seq, db.AuditLog.subject, db.AuditLog.detail)
        .order_by(db.AuditLog.seq)
        .execution_options(yield_per=5000)
    ):
        if _concerns(subject, detail, ids):
            first = seq if first is None else first
            last = seq
    cp = _checkpoint_covering(s, data_dir, key, last or 0)
    w.put("checkpoint.json", cp.to_line().encode("ascii"))
    if first is None:
        w.put_lines("audit.jsonl", [])
        return {"from_seq": None, "to_seq": None, "records": 0, "checkpoint_seq": cp.seq}
    counted = [0]
    w.put_lines("audit.jsonl", _audit_lines(s, first, cp, ids, counted))
    return {"from_seq": first, "to_seq": cp.seq, "records": counted[0], "checkpoint_seq": cp.seq}


def _audit_lines(
    s: Session, first: int, cp: checkpoints.Checkpoint, ids: set[str], counted: list[int]
) -> Iterator[str]:
    prev: str | None = None
    expected = first
    rows = s.scalars(
        select(db.AuditLog)
        .where(db.AuditLog.seq >= first, db.AuditLog.seq <= cp.seq)
        .order_by(db.AuditLog.seq)
        .execution_options(yield_per=5000)
    )
    for r in rows:
        ok = r.seq == expected and (prev is None or r.prev_hash == prev)
        ok = ok and r.hash == audit.record_hash(
            r.prev_hash, r.seq, r.at, r.actor, r.action, r.subject, r.detail
        )
        if not ok:
            raise EvidenceError(
                f"the audit log does not verify at record {expected}: run "
                "`lookout-relay audit verify`; nothing was exported"
            )
        prev = r.hash
        expected += 1
        counted[0] += 1
        record = {
            "seq": r.seq,
            "at": r.at,
            "actor": r.actor,
            "action": r.action,
            "subject": r.subject,
            "detail": r.detail,
            "prev_hash": r.prev_hash,
            "hash": r.hash,
            "concerns": _concerns(r.subject, r.detail, ids),
        }
        yield json.dumps(record, ensure_ascii=True, separators=(",", ":")) + "\n"
    if expected != cp.seq + 1 or prev != cp.head:
        raise EvidenceError(
            f"the audit log no longer reaches its signed checkpoint at seq {cp.seq}: run "
            "`lookout-relay audit verify`; nothing was exported"
        )


def _checkpoint_covering(
    s: Session, data_dir: Path, key: Ed25519PrivateKey, last: int
) -> checkpoints.Checkpoint:
    """The earliest checkpoint signed by this relay's key at or after seq `last`; if none,
    one signed now over the committed head (appended to the checkpoint file)."""
    path = data_dir / checkpoints.CHECKPOINT_FILE
    fp = checkpoints.fingerprint(key.public_key())
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        lines = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        cp = checkpoints.parse(line, f"{path}:{number}")
        if cp.key != fp or cp.seq < max(last, 1):
            continue
        checkpoints.check_signature(cp, key.public_key())
        return cp
    head = s.execute(
        select(db.AuditLog.seq, db.AuditLog.hash).order_by(db.AuditLog.seq.desc()).limit(1)
    ).first()
    if head is None:  # an empty audit log: sign its genesis so the package is complete
        raise EvidenceError("the relay's audit log is empty: there is nothing to export")
    cp = checkpoints.sign(key, int(head[0]), str(head[1]), time.time())
    checkpoints.append(path, cp)
    return cp
