"""The analyst's notes over a package, for the workspace: what they can be about, what is in
force for a selection, and the sidecar opened writable or, when its chain is broken,
read-only with the reason. No Qt; the sidecar's format is `evidence/sidecar.py`'s.

A broken sidecar is never rewritten or appended to (that would bury the damage under new
records): the workspace shows the records that still check, up to the first bad line,
says what is wrong, and takes no new notes and logs no media views until it is dealt with.
"""

from __future__ import annotations

import getpass
import hashlib
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evidence import sidecar
from evidence.sidecar import Sidecar, SidecarError


@dataclass(frozen=True)
class Target:
    """One thing an annotation can be about: a report, a media item or a time range."""

    type: str  # "report", "media" or "time_range"
    id: str = ""
    start: float = 0.0
    end: float = 0.0
    #: how the notes pane names it
    label: str = ""

    def as_dict(self) -> dict[str, Any]:
        if self.type == "time_range":
            return {"type": "time_range", "from": self.start, "to": self.end}
        return {"type": self.type, "id": self.id}


def report_target(report_id: str, created_at: float) -> Target:
    return Target("report", report_id, created_at, created_at, label=f"Report {report_id}")


def media_target(sha256: str, mime: str) -> Target:
    return Target("media", sha256, label=f"Media {mime} {sha256[:12]}…")


def range_target(start: float, end: float) -> Target:
    return Target("time_range", start=start, end=end, label=f"Time {_span(start, end)}")


def analyst_name(given: str | None = None) -> str:
    """Who the access log and the notes name: the name given, else the OS user's."""
    if given and given.strip():
        return given.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, no LOGNAME: still say something true
        return "unknown analyst"


@dataclass
class Notebook:
    """The sidecar as the workspace holds it. `sidecar` is None only when it could not be
    read at all; `error` says why it is read-only (None: writable)."""

    path: Path
    sidecar: Sidecar | None
    error: str | None = None

    @property
    def writable(self) -> bool:
        return self.sidecar is not None and self.error is None

    def records(self) -> list[dict[str, Any]]:
        return self.sidecar.records if self.sidecar is not None else []

    def in_force(self, target: Target) -> list[dict[str, Any]]:
        """The live notes, tags and bookmarks about `target`, oldest first. For a report
        also includes the time ranges holding the time it was made; for a time range, the
        time ranges that overlap it."""
        if self.sidecar is None:
            return []
        state = self.sidecar.state()
        if target.type == "media":
            return state.about(target.type, target.id)
        found = [
            r
            for r in (*state.notes, *state.tags, *state.bookmarks)
            if r["target"].get("type") == "time_range"
            and r["target"]["from"] <= target.end
            and r["target"]["to"] >= target.start
        ]
        if target.type == "report":
            found += state.about("report", target.id)
        return sorted(found, key=lambda r: int(r["seq"]))

    def add(self, kind: str, target: Target, text: str) -> dict[str, Any]:
        """A note, tag or bookmark. Raises SidecarError in the analyst's words."""
        side = self._writable()
        if kind == "note":
            return side.note(target.as_dict(), text)
        if kind == "tag":
            return side.tag(target.as_dict(), text)
        if kind == "bookmark":
            return side.bookmark(target.as_dict(), text)
        raise SidecarError(f"there is no annotation of kind {kind!r}")

    def retract(self, seq: int) -> dict[str, Any]:
        return self._writable().retract(seq)

    def viewed(self, sha256: str) -> dict[str, Any] | None:
        """Log one media view; None when the log cannot be written (the banner says so)."""
        return self._writable().viewed(sha256) if self.writable else None

    def _writable(self) -> Sidecar:
        if self.sidecar is None or self.error is not None:
            raise SidecarError(f"The notes are read-only: {self.error}")
        return self.sidecar


def open_notebook(package: Path, manifest: dict[str, Any], who: str) -> Notebook:
    """The package's sidecar, opened (made, if there is none). Never raises: a sidecar that
    does not check, or cannot be read or written, comes back read-only with the reason."""
    path = sidecar.path_for(package)
    root = str(manifest.get("merkle_root"))
    try:
        with zipfile.ZipFile(package) as zf:
            manifest_sha = hashlib.sha256(zf.read("manifest.json")).hexdigest()
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        return Notebook(path, None, f"the package's manifest cannot be read ({exc})")
    try:
        return Notebook(path, Sidecar.open(package, root, manifest_sha, who))
    except SidecarError as exc:
        good = _good_prefix(path, root, manifest_sha)
        reason = f"the notes file {path.name} does not check: {exc}"
        return Notebook(path, Sidecar(path, good, who), reason)
    except (OSError, UnicodeDecodeError) as exc:
        return Notebook(path, None, f"the notes file {path.name} cannot be used: {exc}")


def _good_prefix(path: Path, root: str, manifest_sha: str) -> list[dict[str, Any]]:
    """The longest run of lines from the start that checks (a binary search over
    `sidecar.check`, so the rule stays in one place)."""
    try:
        lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return []
    low, high = 0, len(lines)  # lines[:low] checks; lines[:high + 1] does not
    while low < high:
        mid = (low + high + 1) // 2
        try:
            sidecar.check(lines[:mid], root, manifest_sha)
            low = mid
        except SidecarError:
            high = mid - 1
    return sidecar.check(lines[:low], root, manifest_sha) if low else []


def describe(record: dict[str, Any]) -> str:
    """One annotation as a line of plain text (shown as text, never as markup)."""
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(float(record["at"])))
    body = record.get("body") or {}
    kind = record["kind"]
    if kind == "note":
        what = f"Note: {body.get('text', '')}"
    elif kind == "tag":
        what = f"Tag: {body.get('tag', '')}"
    elif kind == "redaction" and (body.get("operation") or {}).get("type") == "redact-video":
        op = body["operation"]
        spans = ", ".join(f"{r['start_s']:.2f}-{r['end_s']:.2f} s" for r in op.get("ranges", []))
        shown = (
            "whole frame black"
            if op.get("whole_frame")
            else f"{len(op.get('regions') or [])} region(s)"
        )
        what = (
            f"Video redaction for disclosure: {spans}, {shown}, sound {op.get('audio')}; "
            f"reason: {body.get('reason', '')}"
        )
    elif kind == "redaction":
        regions = (body.get("operation") or {}).get("regions") or []
        modes = ", ".join(sorted({str(r.get("mode")) for r in regions}))
        what = f"Redaction for disclosure: {len(regions)} region(s) ({modes}); reason: {body.get('reason', '')}"
    else:
        label = body.get("label", "")
        what = f"Bookmark: {label}" if label else "Bookmark"
    target = record.get("target") or {}
    on = ""
    if target.get("type") == "time_range":
        on = f" [time {_span(float(target['from']), float(target['to']))}]"
    return f"#{record['seq']} {when} UTC {record['who']} — {what}{on}"


def _span(start: float, end: float) -> str:
    fmt = "%Y-%m-%d %H:%M:%S"
    return f"{time.strftime(fmt, time.gmtime(start))} to {time.strftime(fmt, time.gmtime(end))} UTC"
