"""A `lookout-evidence/1` package read into typed objects, and its timeline. No Qt.

The package file is opened read-only and never written: every read goes through
`evidence.container.Container`, which refuses what the verifier refuses (compression
other than stored or deflated, encryption, bad names) and reads no entry beyond the
size the manifest gives it. Reports, chat and alerts decode into the wire structs
of `backend_client.messages` (docs/evidence.md says they are exactly those shapes), so the
live console's widgets can show them unchanged. A package whose verification failed may
also be malformed: whatever cannot be read is noted in `Package.problems`, in the
analyst's words, and the rest is still loaded, never dropped silently.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec

from backend_client import messages as m
from evidence import format as fmt
from evidence.container import Container, ContainerError, EntryError
from evidence.format import DISCLOSURE
from evidence.verify import Progress, Result

#: the timeline's rows, top to bottom
Lane = Literal["report", "chat", "alert", "audit"]
LANES: tuple[Lane, ...] = ("report", "chat", "alert", "audit")


@dataclass(frozen=True)
class Incident:
    incident_ref: str
    title: str
    created_by: str
    created_at: float


@dataclass(frozen=True)
class AlertRecord:
    """An alert as it stands now, and every CAP message it went through, in order."""

    alert: m.Alert
    versions: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: float
    actor: str
    action: str
    subject: str
    detail: str
    concerns: bool


@dataclass(frozen=True)
class TimelineEvent:
    at: float
    lane: Lane
    label: str
    #: the report the event belongs to, when it belongs to one (selecting it opens it)
    report_id: str | None = None


@dataclass
class Package:
    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    reports: list[m.Report] = field(default_factory=list)
    chat: list[m.ChatMessage] = field(default_factory=list)
    alerts: list[AlertRecord] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    audit: list[AuditRecord] = field(default_factory=list)
    geometry: dict[str, Any] = field(default_factory=dict)
    #: what could not be read, one sentence each
    problems: list[str] = field(default_factory=list)
    #: each entry's size as the manifest gives it: no more of it is read
    sizes: dict[str, int] = field(default_factory=dict)

    def chats_by_report(self) -> dict[str, list[m.ChatMessage]]:
        out: dict[str, list[m.ChatMessage]] = {}
        for msg in sorted(self.chat, key=lambda c: c.sent_at):
            out.setdefault(msg.report_id, []).append(msg)
        return out


class MediaUnavailable(Exception):
    """A media file is not in the package or does not match its name (its SHA-256)."""


def load(path: Path) -> Package:
    """Everything the package holds that can be read; never raises for a bad entry."""
    package = Package(path)
    try:
        zf = Container(path)
    except ContainerError as exc:
        package.problems.append(f"The file is not a readable ZIP package: {exc}")
        return package
    with zf:
        manifest = _json(zf, "manifest.json", package)
        package.manifest = manifest if isinstance(manifest, dict) else {}
        files = package.manifest.get("files")
        package.sizes = {
            e["path"]: e["size"]
            for e in (files if isinstance(files, list) else [])
            if isinstance(e, dict) and isinstance(e.get("path"), str)
            if isinstance(e.get("size"), int) and not isinstance(e.get("size"), bool)
        }
        package.reports = _typed(zf, "reports.json", m.Report, package)
        package.chat = _typed(zf, "chat.json", m.ChatMessage, package)
        package.incidents = [
            Incident(x.incident_ref, x.title, x.created_by, x.created_at)
            for x in _typed(zf, "incidents.json", _IncidentWire, package)
        ]
        package.alerts = [
            AlertRecord(a.alert, tuple(a.versions))
            for a in _typed(zf, "alerts.json", _AlertWire, package)
        ]
        geometry = _json(zf, "geometry.geojson", package)
        package.geometry = geometry if isinstance(geometry, dict) else {}
        # a disclosure may leave the audit extract out (docs/evidence.md): then none is due
        audit_left_out = (
            package.manifest.get("kind") == DISCLOSURE
            and package.manifest.get("audit") is None
            and "audit.jsonl" not in zf.names
        )
        package.audit = [] if audit_left_out else _audit(zf, package)
    return package


def read_media(path: Path, sha256: str) -> bytes:
    """The bytes of `media/<sha256>`, checked against the name (a tampered file is refused)."""
    try:
        with Container(path) as zf:
            name = f"media/{sha256}"
            data = zf.read(name, zf.declared_size(name) or 0)
    except (ContainerError, EntryError) as exc:
        raise MediaUnavailable(f"The package holds no readable media/{sha256[:12]}…") from exc
    if hashlib.sha256(data).hexdigest() != sha256:
        raise MediaUnavailable(
            "This media file does not match its fingerprint (it was altered); it was not shown."
        )
    return data


def timeline(package: Package) -> list[TimelineEvent]:
    """Reports, chat messages, alert versions and audit actions, in time order."""
    events = [
        TimelineEvent(r.created_at, "report", f"Report {r.category}: {r.text[:60]}", r.report_id)
        for r in package.reports
    ]
    events += [
        TimelineEvent(c.sent_at, "chat", f"{c.sender} {c.author}: {c.text[:60]}", c.report_id)
        for c in package.chat
    ]
    for record in package.alerts:
        for v in record.versions:
            at = v.get("sent_at") or v.get("recorded_at")
            if isinstance(at, int | float):
                headline = (v.get("info") or {}).get("headline", record.alert.info.headline)
                events.append(
                    TimelineEvent(float(at), "alert", f"Alert {v.get('msg_type')}: {headline}")
                )
    reports = {r.report_id for r in package.reports}
    events += [
        TimelineEvent(
            a.at,
            "audit",
            f"{a.actor} {a.action} {a.subject}",
            a.subject if a.subject in reports else None,
        )
        for a in package.audit
        if a.concerns
    ]
    events.sort(key=lambda e: e.at)
    return events


def alert_versions(record: AlertRecord) -> list[m.Alert]:
    """Every version of the alert as a wire `Alert` (its info, type, state and sent time
    then), oldest first, for the map to draw; a version that no longer reads as the
    wire's shapes is left out (the verifier's report says what is wrong with the package)."""
    out = []
    for v in record.versions:
        try:
            wire = msgspec.convert(v, _VersionWire)
        except msgspec.ValidationError:
            continue
        sent = wire.sent_at if wire.sent_at is not None else wire.recorded_at
        out.append(
            msgspec.structs.replace(
                record.alert,
                info=wire.info,
                msg_type=wire.msg_type,
                state=wire.state,
                sent_at=sent if sent is not None else record.alert.sent_at,
            )
        )
    return out


def audit_for(package: Package, item_id: str) -> list[AuditRecord]:
    """The audit records about one item: its id is the subject, or a top-level string value
    of the detail (the rule docs/evidence.md gives for `concerns`)."""
    out = []
    for record in package.audit:
        if record.subject == item_id:
            out.append(record)
            continue
        try:
            detail = json.loads(record.detail)
        except ValueError:
            continue
        if isinstance(detail, dict) and item_id in detail.values():
            out.append(record)
    return out


class _IncidentWire(msgspec.Struct):
    incident_ref: str
    title: str
    created_by: str
    created_at: float


class _VersionWire(msgspec.Struct):
    """The fields of an alert version (alerts.json) the map needs; the rest is ignored."""

    info: m.AlertInfo
    msg_type: m.CapMsgType
    state: m.AlertState
    sent_at: float | None = None
    recorded_at: float | None = None


class _AlertWire(msgspec.Struct):
    alert: m.Alert
    versions: list[dict[str, Any]]


def _raw(zf: Container, name: str, package: Package) -> bytes | None:
    if zf.declared_size(name) is None:
        package.problems.append(f"{name} is missing from the package.")
        return None
    if name == fmt.MANIFEST:
        limit = fmt.MAX_MANIFEST_BYTES
    elif name in package.sizes:
        limit = min(package.sizes[name], fmt.MAX_JSON_BYTES)
    else:
        package.problems.append(f"{name} is not listed in the manifest; it was not read.")
        return None
    try:
        return zf.read(name, limit)
    except EntryError as exc:
        package.problems.append(f"{name} cannot be read: it {exc.reason}")
    return None


def _json(zf: Container, name: str, package: Package) -> Any:
    data = _raw(zf, name, package)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError as exc:
        package.problems.append(f"{name} is not valid JSON: {exc}")
        return None


def _typed(zf: Container, name: str, kind: Any, package: Package) -> list[Any]:
    """A JSON array of `kind`, item by item: one malformed item is noted and left out, and
    the rest still shown (a tampered report must not hide its untampered neighbours)."""
    data = _raw(zf, name, package)
    if data is None:
        return []
    try:  # the whole array at once, in C: what a package that verified always takes
        return list(msgspec.json.decode(data, type=list[kind]))
    except msgspec.DecodeError:
        pass
    try:
        items = json.loads(data)
    except ValueError as exc:
        package.problems.append(f"{name} is not valid JSON: {exc}")
        return []
    if not isinstance(items, list):
        package.problems.append(f"{name} is not a JSON array.")
        return []
    out = []
    for number, item in enumerate(items, 1):
        try:
            out.append(msgspec.convert(item, type=kind))
        except msgspec.ValidationError as exc:
            package.problems.append(f"{name} item {number} is not what the format says: {exc}")
    return out


class _AuditWire(msgspec.Struct):
    seq: int
    at: float
    actor: str
    action: str
    subject: str
    detail: str
    concerns: bool = False


_AUDIT_LINE = msgspec.json.Decoder(_AuditWire)


def _audit(zf: Container, package: Package) -> list[AuditRecord]:
    data = _raw(zf, "audit.jsonl", package)
    if data is None:
        return []
    records = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:  # the format's own types, decoded in C (10,000 lines: ~10 ms, not ~110 ms)
            w = _AUDIT_LINE.decode(line)
            records.append(
                AuditRecord(w.seq, w.at, w.actor, w.action, w.subject, w.detail, w.concerns)
            )
            continue
        except msgspec.DecodeError:
            pass
        try:  # anything else that still reads as a record, as it always was read
            r = json.loads(line.decode("utf-8", errors="replace"))
            records.append(
                AuditRecord(
                    int(r["seq"]),
                    float(r["at"]),
                    str(r["actor"]),
                    str(r["action"]),
                    str(r["subject"]),
                    str(r["detail"]),
                    bool(r.get("concerns")),
                )
            )
        except (ValueError, KeyError, TypeError):
            package.problems.append(f"audit.jsonl line {number} cannot be read.")
    return records


@dataclass(frozen=True)
class Verdict:
    """What the banner says about a verification: its level, one headline, the failures."""

    #: "checking": the first stage passed and the media are still being hashed (no verdict)
    level: Literal["verified", "unpinned", "failed", "checking"]
    headline: str
    failures: tuple[str, ...] = ()


def verdict(result: Result) -> Verdict:
    """The verdict on a complete result. A first stage's result has none: ValueError (so
    nothing can print a verification it has not finished)."""
    if not result.complete:
        raise ValueError(
            f"the package's verification has not finished: {len(result.pending)} media "
            "file(s) are still to be checked"
        )
    fp = result.fingerprint or "(no usable key)"
    if not result.ok:
        lines = tuple(c.line() for c in result.failures)
        return Verdict(
            "failed",
            f"VERIFICATION FAILED: {len(lines)} check(s) do not hold. This package may have "
            "been altered; it is open read-only, with the failures listed below.",
            lines,
        )
    parent = ""
    if result.kind == DISCLOSURE:  # who signed the package it was disclosed from
        pfp = result.parent_fingerprint or "(no usable key)"
        parent = (
            f" Its parent package was signed by pinned key {pfp}."
            if result.parent_pinned
            else f" PARENT SIGNER NOT PINNED: its parent package was signed by {pfp}; compare "
            "it with the relay's evidence key you were given (--parent-fingerprint)."
        )
    if not result.pinned:
        return Verdict(
            "unpinned",
            f"Verified, but the signer was not pinned: signed by {fp}. Compare this "
            "fingerprint with the one your evidence officer gave you (--fingerprint)." + parent,
        )
    if parent and not result.parent_pinned:
        return Verdict("unpinned", f"Verified; signed by pinned key {fp}." + parent)
    return Verdict("verified", f"Verified: every check passed; signed by pinned key {fp}." + parent)


def checking_media(first: Result, progress: Progress | None) -> Verdict:
    """What the banner says while the media are hashed after the first stage passed: what
    has been verified, what has not, and how far the media check is. Not a verdict."""
    done, total = (progress.files_done, progress.files_total) if progress else (0, 0)
    total = total or len(first.pending)
    share = progress.bytes_done / progress.bytes_total if progress and progress.bytes_total else 0
    files = "file" if total == 1 else "files"
    pin = (
        ""
        if first.pinned
        else f" (the signer, {first.fingerprint or '(no usable key)'}, was not pinned)"
    )
    return Verdict(
        "checking",
        f"Signature and records verified{pin}; checking media: {done:,} of {total:,} {files} "
        f"({int(share * 100)}%)… Media are not yet verified; reports that rely on the "
        "verdict wait for it.",
    )
