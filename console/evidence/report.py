"""What the analyst's report says, Qt-free: the selected reports with their hashes, chat
and annotations, the package's identity and verification verdict, and the sidecar's
state. `report_pdf` draws it; `items_csv` writes its items as formula-safe CSV.

Which items: the caller passes the reports it has selected (the workspace passes the
reports its Reports list shows now, i.e. after its filter bar and timeline brush), and a
sentence saying so, which the report prints. The package is only read (its SHA-256 is
computed from the file's bytes), and so is the sidecar: reading it appends nothing.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend_client import messages as m
from console.evidence.model import Package, verdict
from evidence import sidecar as sc
from evidence.format import MANIFEST, sha256_hex
from evidence.stats import write_csv
from evidence.verify import Result

CSV_HEADER = (
    "report_id",
    "created_at_utc",
    "category",
    "status",
    "priority",
    "lat",
    "lon",
    "incident_ref",
    "text",
    "media_sha256",
    "chat_messages",
    "annotations",
)


def iso(t: float) -> str:
    """Unix seconds as ISO 8601 UTC to the millisecond (`2026-12-01T08:00:00.000Z`)."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Annotation:
    seq: int
    at: str
    who: str
    kind: str  # note, tag or bookmark
    target: str  # "report R1", "media 3f2a…", "time_range 2026-…Z to …Z"
    text: str


@dataclass(frozen=True)
class Item:
    report_id: str
    time: str
    category: str
    status: str
    priority: str
    lat: float
    lon: float
    incident_ref: str
    text: str
    media: tuple[tuple[str, str, int], ...]  # (sha256, mime, size)
    chat: tuple[str, ...]  # "2026-…Z citizen abc: text", in time order
    annotations: tuple[Annotation, ...]  # on the report or one of its media


@dataclass(frozen=True)
class Content:
    package_name: str
    package_sha256: str
    merkle_root: str
    signer_fingerprint: str
    pinned: bool
    verdict_level: str  # verified, unpinned, failed, or "not verified"
    verdict_headline: str
    failures: tuple[str, ...]
    selection: str
    items: tuple[Item, ...]
    #: every note, tag and bookmark in force, whatever its target
    annotations: tuple[Annotation, ...] = ()
    #: "none" / "N records, chain intact" / "BROKEN: ..."
    sidecar_status: str = "none"
    sidecar_last_hash: str = ""
    generated_at: str = field(default_factory=lambda: iso(datetime.now(UTC).timestamp()))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def read_sidecar(package: Path, merkle_root: str) -> tuple[sc.Annotations, str, str]:
    """The annotations in force, the sidecar's status line and its last record hash.
    A missing sidecar is none; a broken one is reported and none of it is used."""
    path = sc.path_for(package)
    if not path.exists():
        return sc.Annotations(), "none", ""
    try:
        with zipfile.ZipFile(package) as zf:
            manifest_sha = sha256_hex(zf.read(MANIFEST))
        with path.open(encoding="ascii") as lines:
            records = sc.check(lines, merkle_root, manifest_sha)
    except (OSError, KeyError, UnicodeDecodeError, zipfile.BadZipFile, sc.SidecarError) as exc:
        return sc.Annotations(), f"BROKEN ({path.name}): {exc}", ""
    last = records[-1]["hash"] if records else ""
    # a Sidecar built on checked records, only to fold them: nothing is appended
    return (
        sc.Sidecar(path, records, who="").state(),
        f"{path.name}: {len(records)} records, chain intact",
        last,
    )


def _annotation(r: dict[str, Any]) -> Annotation:
    target = r["target"]
    if target.get("type") == "time_range":
        where = f"time_range {iso(target['from'])} to {iso(target['to'])}"
    else:
        where = f"{target.get('type')} {target.get('id')}"
    body = r.get("body") or {}
    text = str(body.get("text") or body.get("tag") or body.get("label") or "")
    return Annotation(int(r["seq"]), iso(float(r["at"])), str(r["who"]), r["kind"], where, text)


def build(
    package: Package,
    result: Result | None,
    reports: Sequence[m.Report],
    selection: str,
) -> Content:
    """`result` is the final verification (`verify`'s), or None if it could not run. A
    first stage's result (media still being checked) is refused with ValueError: the
    report's verification section states only a finished verdict."""
    merkle = str(package.manifest.get("merkle_root", ""))
    state, side_status, side_hash = read_sidecar(package.path, merkle)
    chats = package.chats_by_report()
    items = []
    for r in sorted(reports, key=lambda r: (r.created_at, r.report_id)):
        notes = state.about("report", r.report_id)
        for info in r.media:
            notes += state.about("media", info.sha256)
        items.append(
            Item(
                r.report_id,
                iso(r.created_at),
                r.category,
                r.status,
                r.priority,
                r.lat,
                r.lon,
                r.incident_ref or "",
                r.text,
                tuple((i.sha256, i.mime, i.size) for i in r.media),
                tuple(
                    f"{iso(c.sent_at)} {c.sender} {c.author}: {c.text}"
                    for c in chats.get(r.report_id, [])
                ),
                tuple(_annotation(x) for x in sorted(notes, key=lambda x: int(x["seq"]))),
            )
        )
    live = sorted((*state.notes, *state.tags, *state.bookmarks), key=lambda x: int(x["seq"]))
    failures: tuple[str, ...] = ()
    if result is None:
        level, headline = "not verified", "The package could not be verified."
        fp, pinned = "", False
    else:
        v = verdict(result)
        level, headline, failures = v.level, v.headline, v.failures
        fp, pinned = result.fingerprint or "", result.pinned
    return Content(
        package_name=package.path.name,
        package_sha256=file_sha256(package.path),
        merkle_root=merkle,
        signer_fingerprint=fp,
        pinned=pinned,
        verdict_level=level,
        verdict_headline=headline,
        failures=tuple(failures),
        selection=selection,
        items=tuple(items),
        annotations=tuple(_annotation(x) for x in live),
        sidecar_status=side_status,
        sidecar_last_hash=side_hash,
    )


def items_csv(content: Content) -> str:
    """One row per item; several media, chat lines or annotations are joined with " | "
    (media as sha256 only). Formula-looking cells are defused by `write_csv`."""
    rows: list[Sequence[object]] = [CSV_HEADER]
    for it in content.items:
        rows.append(
            (
                it.report_id,
                it.time,
                it.category,
                it.status,
                it.priority,
                it.lat,
                it.lon,
                it.incident_ref,
                it.text,
                " | ".join(sha for sha, _mime, _size in it.media),
                len(it.chat),
                " | ".join(f"{a.kind}: {a.text}" for a in it.annotations),
            )
        )
    return write_csv(rows)
