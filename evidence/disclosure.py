"""Disclosure packages: a chosen part of a relay's evidence package, photos redacted, signed
by the analyst who made it (docs/evidence.md, "Disclosure packages and redaction").

A disclosure is a `lookout-evidence/1` package with `kind: "disclosure"` in its manifest.
It carries the parent package's manifest.json and manifest.sig byte for byte (under
`parent/`), so anyone can check that the relay signed the parent, and that every original
the disclosure carries (a media file, a CAP message) is byte for byte one the parent
listed. A redacted photo is a new file (`derived_from` the original's SHA-256, with the
`operation` and `reason`), and its original is NOT in the disclosure: that is the point.
The selection's JSON (reports, chat, incidents, alerts, geometry) is a subset of the
parent's, attested by the analyst's signature alone (the parent's manifest hashes whole
files, not records).

The parent package is only ever read. Standard library and cryptography only, like the
verifier: the workspace renders the redacted pixels (Qt) and hands the bytes in.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import os
import stat
import tempfile
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence import format as f
from evidence import keys
from evidence.verify import verify
from evidence.writer import PackageWriter

KIND: Final = f.DISCLOSURE
PARENT_MANIFEST: Final = f.PARENT_MANIFEST
PARENT_SIGNATURE: Final = f.PARENT_SIGNATURE
AUDIT: Final = f.AUDIT_ENTRIES
KEY_FILE: Final = "analyst-ed25519.pem"
KEY_ENV: Final = "LOOKOUT_ANALYST_KEY"
PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"


class DisclosureError(ValueError):
    """A disclosure that cannot be made as asked; the message is for the analyst."""


# ------------------------------------------------------------------ the analyst's key


def key_path() -> Path:
    """Where the analyst's signing key lives: $LOOKOUT_ANALYST_KEY, else
    `$XDG_DATA_HOME/lookout/analyst-ed25519.pem` (`~/.local/share/lookout/` without it)."""
    if given := os.environ.get(KEY_ENV):
        return Path(given)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "lookout" / KEY_FILE


def analyst_key(path: Path | None = None) -> Ed25519PrivateKey:
    """The analyst's Ed25519 key, made on first use (0600 in a 0700 folder). Refuses a key
    file others can read: whoever can read it can sign disclosures in the analyst's name."""
    path = path or key_path()
    try:
        key = keys.load_or_make(path)
    except keys.NotAnEd25519Key as exc:
        raise DisclosureError(str(exc)) from None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise DisclosureError(
            f"the signing key {path} can be read by other users (mode {mode:o}): "
            f"run `chmod 600 {path}`, or make a new key if others may have copied it"
        )
    return key


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: Ed25519PrivateKey) -> str:
    """The same form as the relay's evidence key: SHA-256 hex of the raw public key."""
    return f.fingerprint_of(raw_public(key))


# ------------------------------------------------------------------ what goes in


@dataclass(frozen=True)
class Derived:
    """A redacted photo or video: its new bytes (a PNG, or an MP4 with `mime`
    "video/mp4"), the original's SHA-256, what was done (e.g. {"type": "redact",
    "regions": [{"x", "y", "w", "h", "mode"}]}, or a "redact-video") and why."""

    data: bytes
    parent_sha256: str
    operation: dict[str, Any]
    reason: str
    mime: str = "image/png"

    @property
    def sha256(self) -> str:
        return f.sha256_hex(self.data)


@dataclass(frozen=True)
class Written:
    path: Path
    merkle_root: str
    fingerprint: str
    counts: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------ writing


def write_disclosure(
    parent: Path,
    out: Path,
    *,
    report_ids: Sequence[str],
    derived: Sequence[Derived] = (),
    withheld: Iterable[str] = (),
    reason: str,
    analyst: str,
    key: Ed25519PrivateKey,
    include_audit: bool = False,
    now: float | None = None,
) -> Written:
    """Write the disclosure of `report_ids` from `parent` to `out` (atomically).

    Media of the selected reports go in byte for byte, except those `derived` replaces
    (the original is left out) and those `withheld` (left out, e.g. a video that could not
    be redacted; each named by SHA-256 in the manifest). The parent must verify (unpinned:
    the analyst pins it when opening it) and is only read. Raises DisclosureError."""
    if not reason.strip():
        raise DisclosureError("give the reason for this disclosure: it is signed into it")
    if not analyst.strip():
        raise DisclosureError("the disclosure must name the analyst who made it")
    if not report_ids:
        raise DisclosureError("choose at least one report to disclose")
    if out.resolve() == parent.resolve():
        raise DisclosureError("the disclosure cannot be written over its parent package")
    checked = verify(parent)
    if not checked.ok:
        raise DisclosureError(
            f"the parent package does not verify ({len(checked.failures)} checks fail): "
            "a disclosure cannot be made from it"
        )
    now = time.time() if now is None else now
    with zipfile.ZipFile(parent) as src:
        parent_manifest_bytes = src.read(f.MANIFEST)
        parent_sig = src.read(f.SIGNATURE)
        pm = json.loads(parent_manifest_bytes)
        if pm.get("kind", "export") != "export":
            raise DisclosureError("make a disclosure from the relay's package, not from another")
        plan = _plan(src, pm, report_ids, derived, set(withheld))
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".disclosure-", dir=out.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as raw:
                w = _Writer(raw, now)
                try:
                    w.put(PARENT_MANIFEST, parent_manifest_bytes)
                    w.put(PARENT_SIGNATURE, parent_sig)
                    for name, value in plan.subsets.items():
                        w.put_json(name, value)
                    for name in plan.carried:
                        w.copy(src, name, stored=name.startswith("media/"))
                    if include_audit:
                        for name in AUDIT:
                            w.copy(src, name, stored=False)
                    for d in derived:
                        w.put(f"media/{d.sha256}", d.data, stored=True)
                    manifest = _manifest(
                        w,
                        pm,
                        parent_manifest_bytes,
                        plan,
                        derived,
                        reason=reason,
                        analyst=analyst,
                        key=key,
                        now=now,
                        include_audit=include_audit,
                    )
                    body = (
                        json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=True) + "\n"
                    ).encode("ascii")
                    w.put(f.MANIFEST, body, listed=False)
                    sig = key.sign(f.signed_manifest(body))
                    w.put(f.SIGNATURE, base64.b64encode(sig) + b"\n", listed=False)
                finally:
                    w.close()
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return Written(out, str(manifest["merkle_root"]), fingerprint(key), dict(manifest["counts"]))


@dataclass
class _Plan:
    subsets: dict[str, Any]
    #: parent entries copied byte for byte (media originals, CAP messages)
    carried: list[str]
    withheld: list[dict[str, str]]
    counts: dict[str, int]


def _plan(
    src: zipfile.ZipFile,
    pm: dict[str, Any],
    report_ids: Sequence[str],
    derived: Sequence[Derived],
    withheld: set[str],
) -> _Plan:
    """What the disclosure holds: the selection's records, and which parent files."""
    listed = {e["path"]: e for e in pm.get("files", [])}
    reports = json.loads(src.read("reports.json"))
    by_id = {r["report_id"]: r for r in reports}
    unknown = sorted(set(report_ids) - set(by_id))
    if unknown:
        raise DisclosureError(f"the parent package has no report {', '.join(unknown)}")
    chosen = [by_id[i] for i in sorted(set(report_ids), key=list(report_ids).index)]
    media = {x["sha256"]: x for r in chosen for x in r.get("media", []) if x.get("stored")}
    replaced: dict[str, Derived] = {}
    for d in derived:
        if d.parent_sha256 not in media:
            raise DisclosureError(
                f"the redacted file's original {d.parent_sha256[:12]}… is not a photo of a "
                "chosen report (nor a video)"
            )
        if d.parent_sha256 in replaced:
            raise DisclosureError(f"{d.parent_sha256[:12]}… is redacted twice")
        if problem := f.check_operation(d.operation):
            raise DisclosureError(f"redaction of {d.parent_sha256[:12]}…: {problem}")
        if not d.reason.strip():
            raise DisclosureError(f"redaction of {d.parent_sha256[:12]}… needs its reason")
        video = d.operation["type"] == f.REDACT_VIDEO
        if video != (media[d.parent_sha256].get("mime") == "video/mp4"):
            raise DisclosureError(
                f"{d.parent_sha256[:12]}…: a video takes a video redaction, a photo a photo's"
            )
        if video and (d.mime != "video/mp4" or d.data[4:8] != b"ftyp"):
            raise DisclosureError("a redacted video is written as MP4")
        if not video and (d.mime != "image/png" or not d.data.startswith(PNG_MAGIC)):
            raise DisclosureError("a redacted photo is written as PNG")
        replaced[d.parent_sha256] = d
    gone = withheld | set(replaced)
    out_reports = []
    for r in chosen:
        r = dict(r)
        items = []
        for x in r.get("media", []):
            new = replaced.get(x["sha256"])
            if new is not None:
                items.append(
                    {"sha256": new.sha256, "mime": new.mime, "size": len(new.data), "stored": True}
                )
            elif x["sha256"] not in withheld or not x.get("stored"):
                items.append(x)
        r["media"] = items
        out_reports.append(r)
    ids = {r["report_id"] for r in chosen}
    chat = [c for c in json.loads(src.read("chat.json")) if c.get("report_id") in ids]
    refs = {r["incident_ref"] for r in chosen if r.get("incident_ref")}
    incidents = [i for i in json.loads(src.read("incidents.json")) if i["incident_ref"] in refs]
    alerts = [
        a
        for a in json.loads(src.read("alerts.json"))
        if (a["alert"].get("info") or {}).get("incident_ref") in refs
    ]
    alert_ids = {a["alert"]["alert_id"] for a in alerts}
    geometry = json.loads(src.read("geometry.geojson"))
    features = [
        ft
        for ft in geometry.get("features", [])
        if (ft["properties"].get("kind") == "report" and ft["properties"].get("report_id") in ids)
        or (
            ft["properties"].get("kind") == "alert"
            and ft["properties"].get("alert_id") in alert_ids
        )
    ]
    caps = sorted(v["cap"] for a in alerts for v in a.get("versions", []) if v.get("cap"))
    originals = sorted(f"media/{sha}" for sha in media if sha not in gone)
    carried = sorted({*caps, *originals})
    for name in carried:
        if name not in listed:
            raise DisclosureError(f"{name} is not in the parent package's manifest")
    return _Plan(
        subsets={
            "reports.json": out_reports,
            "chat.json": chat,
            "incidents.json": incidents,
            "alerts.json": alerts,
            "geometry.geojson": {"type": "FeatureCollection", "features": features},
        },
        carried=carried,
        withheld=[
            {"report_id": r["report_id"], "sha256": x["sha256"]}
            for r in chosen
            for x in r.get("media", [])
            if x.get("stored") and x["sha256"] in withheld and x["sha256"] not in replaced
        ],
        counts={
            "reports": len(out_reports),
            "chat": len(chat),
            "incidents": len(incidents),
            "alerts": len(alerts),
            "media": len(originals) + len(derived),
            "derived": len(derived),
            "withheld": len({s for s in withheld if s in media and s not in replaced}),
        },
    )


def _manifest(
    w: _Writer,
    pm: dict[str, Any],
    parent_manifest_bytes: bytes,
    plan: _Plan,
    derived: Sequence[Derived],
    *,
    reason: str,
    analyst: str,
    key: Ed25519PrivateKey,
    now: float,
    include_audit: bool,
) -> dict[str, Any]:
    extra = {
        f"media/{d.sha256}": {
            "derived_from": d.parent_sha256,
            "operation": d.operation,
            "reason": d.reason,
        }
        for d in derived
    }
    files = sorted(w.files)
    audit = pm.get("audit") if include_audit else None
    counts = dict(plan.counts)
    counts["audit_records"] = int(audit["records"]) if isinstance(audit, dict) else 0
    return {
        "format": f.FORMAT,
        "kind": KIND,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        + f".{int(now % 1 * 1000):03d}Z",
        "created_at_unix": now,
        "exported_by": analyst,
        "reason": reason,
        "selection": {"reports": [r["report_id"] for r in plan.subsets["reports.json"]]},
        "software": {"lookout": _version()},
        "parent": {
            "manifest_sha256": f.sha256_hex(parent_manifest_bytes),
            "merkle_root": pm.get("merkle_root"),
            "fingerprint": (pm.get("signer") or {}).get("fingerprint"),
            "created_at": pm.get("created_at"),
            "reason": pm.get("reason"),
        },
        "signer": {
            "algorithm": "Ed25519",
            "public_key": base64.b64encode(raw_public(key)).decode("ascii"),
            "fingerprint": fingerprint(key),
        },
        "counts": counts,
        "audit": audit,
        "withheld": plan.withheld,
        "files": [{"path": p, "sha256": h, "size": n, **extra.get(p, {})} for p, h, n in files],
        "merkle_root": f.merkle_root([f.leaf_data(p, h, n) for p, h, n in files]),
    }


def _version() -> str:
    try:
        return importlib.metadata.version("lookout")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


class _Writer(PackageWriter):
    """The ZIP being written, as the relay's exporter writes it (evidence/writer.py)."""

    def copy(self, src: zipfile.ZipFile, path: str, *, stored: bool) -> None:
        """A parent entry byte for byte (streamed)."""
        with src.open(path) as fin:
            self.put_stream(path, fin, stored=stored)
