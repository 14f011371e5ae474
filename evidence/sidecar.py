"""The analyst's sidecar: notes, tags, bookmarks and the access log of one package.

A package is never written to (ACPO principle 1). What an analyst adds lives beside it in
`<package>.notes.jsonl`, one JSON record per line, appended and never rewritten:

- the first record (`kind` "opened") names the package by its Merkle root and the SHA-256
  of its manifest.json, so a sidecar cannot be moved onto another package unnoticed;
- `note`, `tag` and `bookmark` records annotate a target: a report, a media item, an
  alert, a chat message, an incident, or a time range;
- `retract` withdraws an earlier annotation (by its `seq`): the record stays, so what an
  analyst once wrote is never lost;
- `access` records each view of a media item (who, when, which): the access log;
- `redaction` records the regions to hide in a photo, and why (the disclosure export
  renders them; the package's photo is never changed); the latest in force per photo
  counts, and `retract` withdraws one;
- `disclosed` records a disclosure package made from this one (its file name, Merkle
  root, signer, reason and reports), so the review says what left it and when.

Every record carries `seq` (1, 2, ...), `at` (unix seconds), `who`, `kind`, `target`,
`body`, the previous record's hash `prev` (64 zeros for the first) and its own `hash`:
SHA-256 of the compact, key-sorted ASCII JSON of `["lookout.sidecar.v1", record without
"hash"]`. Editing, deleting, inserting or reordering lines therefore breaks the chain at
the first line touched; `check` says where. Standard library only, like the verifier.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from evidence.format import check_operation

__all__ = [
    "DOMAIN",
    "KINDS",
    "TARGET_TYPES",
    "Annotations",
    "Sidecar",
    "SidecarError",
    "check",
    "path_for",
    "record_hash",
]

DOMAIN: Final = "lookout.sidecar.v1"
SUFFIX: Final = ".notes.jsonl"
GENESIS: Final = "0" * 64
KINDS: Final = (
    "opened",
    "note",
    "tag",
    "bookmark",
    "retract",
    "access",
    "redaction",
    "disclosed",
)
#: the kinds `retract` can withdraw
RETRACTABLE: Final = ("note", "tag", "bookmark", "redaction")
TARGET_TYPES: Final = ("package", "report", "media", "alert", "chat", "incident", "time_range")
#: an annotation's text, and a tag, are bounded (a sidecar stays readable)
MAX_TEXT: Final = 10_000
MAX_TAG: Final = 64

Kind = Literal["opened", "note", "tag", "bookmark", "retract", "access", "redaction", "disclosed"]


class SidecarError(ValueError):
    """A sidecar that does not belong to its package, or whose chain is broken."""


def path_for(package: Path) -> Path:
    """Where a package's sidecar lives: beside it, `<package file name>.notes.jsonl`."""
    return package.with_name(package.name + SUFFIX)


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    text = json.dumps([DOMAIN, body], ensure_ascii=True, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _target(kind: str, target: dict[str, Any]) -> dict[str, Any]:
    """Check a target: {"type": one of TARGET_TYPES, "id": str} or, for a time range,
    {"type": "time_range", "from": t0, "to": t1} with t0 <= t1."""
    if not isinstance(target, dict) or target.get("type") not in TARGET_TYPES:
        raise SidecarError(f"a {kind} needs a target of type {', '.join(TARGET_TYPES)}")
    if target["type"] == "time_range":
        t0, t1 = target.get("from"), target.get("to")
        ok = all(isinstance(t, int | float) and math.isfinite(t) for t in (t0, t1))
        if not ok or t0 > t1:  # type: ignore[operator]
            raise SidecarError("a time range needs finite 'from' <= 'to' (unix seconds)")
        return {"type": "time_range", "from": float(t0), "to": float(t1)}  # type: ignore[arg-type]
    ident = target.get("id")
    if not isinstance(ident, str) or not ident or len(ident) > 200:
        raise SidecarError(f"a {target['type']} target needs its id")
    return {"type": target["type"], "id": ident}


@dataclass
class Annotations:
    """What the sidecar says now: annotations by target (retracted ones left out), and
    the access log."""

    notes: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    bookmarks: list[dict[str, Any]] = field(default_factory=list)
    access: list[dict[str, Any]] = field(default_factory=list)
    redactions: list[dict[str, Any]] = field(default_factory=list)
    disclosures: list[dict[str, Any]] = field(default_factory=list)

    def redaction_of(self, sha256: str) -> dict[str, Any] | None:
        """The redaction in force for one photo: its latest unretracted record."""
        found = [r for r in self.redactions if r["target"].get("id") == sha256]
        return max(found, key=lambda r: int(r["seq"])) if found else None

    def about(self, target_type: str, ident: str) -> list[dict[str, Any]]:
        """Every live note, tag and bookmark on one target, oldest first."""
        found = [
            r
            for r in (*self.notes, *self.tags, *self.bookmarks, *self.redactions)
            if r["target"].get("type") == target_type and r["target"].get("id") == ident
        ]
        return sorted(found, key=lambda r: int(r["seq"]))

    def tags_of(self, target_type: str, ident: str) -> set[str]:
        return {
            str(r["body"]["tag"])
            for r in self.tags
            if r["target"].get("type") == target_type and r["target"].get("id") == ident
        }


def _fold(records: Iterable[dict[str, Any]]) -> Annotations:
    live: dict[int, dict[str, Any]] = {}
    access: list[dict[str, Any]] = []
    disclosures: list[dict[str, Any]] = []
    for r in records:
        kind = r["kind"]
        if kind in RETRACTABLE:
            live[int(r["seq"])] = r
        elif kind == "retract":
            live.pop(int(r["body"]["seq"]), None)
        elif kind == "access":
            access.append(r)
        elif kind == "disclosed":
            disclosures.append(r)
    out = Annotations(access=access, disclosures=disclosures)
    for r in live.values():
        {
            "note": out.notes,
            "tag": out.tags,
            "bookmark": out.bookmarks,
            "redaction": out.redactions,
        }[r["kind"]].append(r)
    return out


def check(lines: Iterable[str], merkle_root: str, manifest_sha256: str) -> list[dict[str, Any]]:
    """The records of a sidecar's lines, checked: every line JSON, every hash and link
    right, seq 1, 2, ..., the first record naming this package. Raises SidecarError
    saying which line is wrong."""
    records: list[dict[str, Any]] = []
    prev = GENESIS
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except ValueError:
            raise SidecarError(f"line {n} is not JSON") from None
        if not isinstance(r, dict) or r.get("kind") not in KINDS:
            raise SidecarError(f"line {n} is not a sidecar record")
        if not isinstance(r.get("body"), dict) or not isinstance(r.get("target"), dict):
            raise SidecarError(f"line {n}: its body and target are not JSON objects")
        if r["kind"] == "retract" and (
            isinstance(r["body"].get("seq"), bool) or not isinstance(r["body"].get("seq"), int)
        ):
            raise SidecarError(f"line {n}: a retract names no record (body.seq)")
        if r.get("seq") != len(records) + 1:
            raise SidecarError(f"line {n}: seq {r.get('seq')!r}, expected {len(records) + 1}")
        if r.get("prev") != prev:
            raise SidecarError(f"line {n} (seq {r['seq']}): does not follow the line before it")
        if r.get("hash") != record_hash(r):
            raise SidecarError(f"line {n} (seq {r['seq']}): its hash does not match its content")
        if not records:
            body = r["body"]
            if r["kind"] != "opened" or body.get("merkle_root") != merkle_root:
                raise SidecarError("the sidecar belongs to another package (Merkle root)")
            if body.get("manifest_sha256") != manifest_sha256:
                raise SidecarError("the sidecar belongs to another package (manifest)")
        records.append(r)
        prev = r["hash"]
    return records


class Sidecar:
    """The sidecar of one package, open for appending. `open` checks what is there (a
    missing file is a new sidecar; its first record is written at once)."""

    def __init__(self, path: Path, records: list[dict[str, Any]], who: str) -> None:
        self.path = path
        self.records = records
        self.who = who

    @classmethod
    def open(cls, package: Path, merkle_root: str, manifest_sha256: str, who: str) -> Sidecar:
        path = path_for(package)
        if path.exists():
            with path.open(encoding="ascii") as f:
                records = check(f, merkle_root, manifest_sha256)
            if records:
                return cls(path, records, who)
        side = cls(path, [], who)
        side._append(
            "opened",
            {"type": "package", "id": package.name},
            {"merkle_root": merkle_root, "manifest_sha256": manifest_sha256},
        )
        return side

    # ------------------------------------------------------------------ writing

    def note(self, target: dict[str, Any], text: str) -> dict[str, Any]:
        if not text.strip() or len(text) > MAX_TEXT:
            raise SidecarError(f"a note is 1 to {MAX_TEXT} characters")
        return self._append("note", _target("note", target), {"text": text})

    def tag(self, target: dict[str, Any], tag: str) -> dict[str, Any]:
        tag = tag.strip()
        if not tag or len(tag) > MAX_TAG:
            raise SidecarError(f"a tag is 1 to {MAX_TAG} characters")
        return self._append("tag", _target("tag", target), {"tag": tag})

    def bookmark(self, target: dict[str, Any], label: str = "") -> dict[str, Any]:
        if len(label) > MAX_TEXT:
            raise SidecarError(f"a bookmark's label is at most {MAX_TEXT} characters")
        return self._append("bookmark", _target("bookmark", target), {"label": label})

    def retract(self, seq: int) -> dict[str, Any]:
        """Withdraw a note, tag, bookmark or redaction; the original stays in the file."""
        state = self.state()
        live = {int(r["seq"]) for r in (*state.notes, *state.tags, *state.bookmarks)}
        live |= {int(r["seq"]) for r in state.redactions}
        if seq not in live:
            raise SidecarError(f"record {seq} is not a note, tag, bookmark or redaction in force")
        return self._append("retract", {"type": "package", "id": self.path.name}, {"seq": seq})

    def viewed(self, sha256: str) -> dict[str, Any]:
        """One line of the access log: this analyst viewed this media item now."""
        return self._append("access", _target("access", {"type": "media", "id": sha256}), {})

    def redaction(self, sha256: str, operation: dict[str, Any], reason: str) -> dict[str, Any]:
        """The regions to hide in one photo, and why (evidence/disclosure.py checks the
        operation's shape); it replaces the photo's earlier redaction in force."""
        if problem := check_operation(operation):
            raise SidecarError(f"not a redaction: {problem}")
        if not reason.strip() or len(reason) > MAX_TEXT:
            raise SidecarError(f"a redaction's reason is 1 to {MAX_TEXT} characters")
        target = _target("redaction", {"type": "media", "id": sha256})
        return self._append("redaction", target, {"operation": operation, "reason": reason})

    def disclosed(
        self, file_name: str, merkle_root: str, signer: str, reason: str, reports: list[str]
    ) -> dict[str, Any]:
        """A disclosure package was made from this package."""
        body = {
            "file": file_name,
            "merkle_root": merkle_root,
            "signer": signer,
            "reason": reason,
            "reports": reports,
        }
        return self._append("disclosed", {"type": "package", "id": self.path.name}, body)

    def state(self) -> Annotations:
        return _fold(self.records)

    def _append(self, kind: Kind, target: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "seq": len(self.records) + 1,
            "at": time.time(),
            "who": self.who,
            "kind": kind,
            "target": target,
            "body": body,
            "prev": self.records[-1]["hash"] if self.records else GENESIS,
        }
        record["hash"] = record_hash(record)
        line = json.dumps(record, ensure_ascii=True, separators=(",", ":"), sort_keys=True)
        # append-only, durable before it is shown as saved
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (line + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        self.records.append(record)
        return record
