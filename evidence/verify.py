"""Verify a `lookout-evidence/1` package: every check, each with its own PASS or FAIL.

`verify` never stops at the first failure: an analyst (and the workspace, which calls it
as a library) needs to see everything that does not hold, each naming the entry, what was
expected and what was found. A package passes only when every check passes; whether its
signer was pinned is reported beside that (`Result.pinned`), since an unpinned package
proves only that whoever holds the key it names made it.

The checks run in two stages, so a caller that shows the package can start once the
first has passed (`Verification`): first everything but the media's bytes (the entry
names, the manifest, the signer and its pin, the signature, the Merkle root, the hash of
every non-media entry, the media's names, the audit chain and its signed checkpoint, a
disclosure's own checks, the sidecar), then the hash of every `media/` entry, reporting
progress. `verify` runs both; the checks, their order and every word of the result are the
same whichever way it is run.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence import format as f
from evidence import sidecar
from evidence.container import Container, ContainerError, EntryError

_CHUNK = 1 << 20
#: while one media file is hashed, progress is reported every this many bytes as well
_PROGRESS_BYTES = 8 * _CHUNK
_AUDIT_FIELDS = ("seq", "at", "actor", "action", "subject", "detail", "prev_hash", "hash")


@dataclass(frozen=True)
class Check:
    """One thing verified. `check` names the kind (signature, file, extra, merkle, ...)."""

    ok: bool
    check: str
    file: str
    expected: str = ""
    actual: str = ""
    note: str = ""

    def line(self) -> str:
        text = f"{'PASS' if self.ok else 'FAIL'} {self.check} {self.file}"
        if self.note:
            text += f": {self.note}"
        if not self.ok and (self.expected or self.actual):
            text += f" (expected {self.expected or '-'}, actual {self.actual or '-'})"
        return text


@dataclass
class Result:
    checks: list[Check] = field(default_factory=list)
    #: the fingerprint of the key the manifest names (None if it names none usable)
    fingerprint: str | None = None
    #: a key or fingerprint was given and the package's signer matched it
    pinned: bool = False
    manifest: dict[str, Any] | None = None
    #: the analyst's sidecar beside the package, if there is one: checked, but apart
    #: from `ok` (the package's own verdict), since it is the review's, not the export's
    sidecar: Check | None = None
    #: "export" (the relay's package) or "disclosure" (an analyst's, with a parent)
    kind: str = "export"
    #: a disclosure's parent: the fingerprint its manifest names, and whether it was pinned
    parent_fingerprint: str | None = None
    parent_pinned: bool = False
    #: media entries whose bytes are still to be hashed: a first stage's result
    #: (`Verification.structure`); a package never passes while any are pending
    pending: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.holds_so_far and not self.pending

    @property
    def complete(self) -> bool:
        """Every check has run (always so for `verify`'s result)."""
        return not self.pending

    @property
    def holds_so_far(self) -> bool:
        """Every check run so far passed (the first stage passed, for a partial result)."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": f.FORMAT,
            "ok": self.ok,
            "pinned": self.pinned,
            "fingerprint": self.fingerprint,
            "kind": self.kind,
            "parent_fingerprint": self.parent_fingerprint,
            "parent_pinned": self.parent_pinned,
            "checks": [asdict(c) for c in self.checks],
            "sidecar": asdict(self.sidecar) if self.sidecar is not None else None,
        }

    def add(self, ok: bool, check: str, file: str, **kw: str) -> bool:
        self.checks.append(Check(ok, check, file, **kw))
        return ok


def load_public_key(text: bytes) -> bytes:
    """A raw 32-byte Ed25519 public key from a PEM file or base64 of the raw key.

    Raises ValueError naming what the text is not."""
    stripped = text.strip()
    if stripped.startswith(b"-----BEGIN"):
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_public_key(stripped)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the PEM key is not an Ed25519 public key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = base64.b64decode(stripped, validate=True)
    except binascii.Error:
        raise ValueError("not a PEM public key nor base64 of a raw Ed25519 key") from None
    if len(raw) != 32:
        raise ValueError(f"a raw Ed25519 public key has 32 bytes, this has {len(raw)}")
    return raw


def verify(
    package: str | Path | IO[bytes],
    *,
    key: bytes | None = None,
    fingerprint: str | None = None,
    parent_key: bytes | None = None,
    parent_fingerprint: str | None = None,
) -> Result:
    """Check `package` (a path or a binary file object). `key` is the pinned signer's raw
    public key, or `fingerprint` its fingerprint (give at most one). For a disclosure,
    that is the analyst's key, and `parent_key` or `parent_fingerprint` pins the relay's
    key that signed its parent."""
    checking = Verification(
        package,
        key=key,
        fingerprint=fingerprint,
        parent_key=parent_key,
        parent_fingerprint=parent_fingerprint,
    )
    checking.structure()
    return checking.media()


@dataclass(frozen=True)
class Progress:
    """How far the media stage has gone: files whose hash is checked, and bytes hashed."""

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


class Cancelled(Exception):
    """The media stage was stopped by its progress callback (`Verification.media`)."""


class Verification:
    """`verify` in two stages, for a caller that shows the package before its media are
    hashed (the analyst's workspace):

        checking = Verification(path, fingerprint=fp)   # the arguments of `verify`
        first = checking.structure()   # all but the media's bytes; `first.pending` names them
        if first.holds_so_far: ...     # signature, records, audit chain: show them
        final = checking.media(on_progress)   # == verify(path, fingerprint=fp)

    `structure()` returns a snapshot: its `ok` is False while media are pending, so it is
    never mistaken for a verdict (`holds_so_far` says whether the first stage passed).
    `media()` runs the first stage too if it has not run, hashes every `media/` entry the
    package holds (calling `on_progress` with a `Progress` before the first, after each
    file, and every 8 MiB within one; an exception it raises, such as `Cancelled`, stops
    the stage and is raised from `media()`), puts each file check where `verify` lists it,
    and returns the final `Result`. The package stays open between the two; `media()`
    closes it, and so does `close()` (for a caller that stops after the first stage).
    Use it from one thread at a time.
    """

    def __init__(
        self,
        package: str | Path | IO[bytes],
        *,
        key: bytes | None = None,
        fingerprint: str | None = None,
        parent_key: bytes | None = None,
        parent_fingerprint: str | None = None,
    ) -> None:
        self._package = package
        self._pins = (key, fingerprint, (parent_key, parent_fingerprint))
        self._result = Result()
        self._zf: Container | None = None
        self._pkg: _Pkg | None = None
        #: the media entries to hash: where each one's check goes in `result.checks`
        #: (counted without the other deferred checks), its path, claimed hash and size
        self._deferred: list[tuple[int, str, str, int]] = []
        self._first: Result | None = None
        self._final: Result | None = None

    def structure(self) -> Result:
        """The first stage's result (run once; later calls return the same snapshot)."""
        if self._first is not None:
            return self._first
        result = self._result
        try:
            self._zf = Container(self._package)
        except ContainerError as exc:
            result.add(False, "package", str(self._package), note=str(exc))
        else:
            key, fingerprint, parent_pin = self._pins
            self._pkg = pkg = _Pkg(self._zf)
            _verify_zip(self._zf, result, key, fingerprint, parent_pin, self._deferred, pkg)
            if isinstance(self._package, str | Path):
                result.sidecar = _sidecar(Path(self._package), pkg, result)
        self._first = dataclasses.replace(
            result, checks=list(result.checks), pending=tuple(p for _, p, _, _ in self._deferred)
        )
        return self._first

    def media(self, on_progress: Callable[[Progress], None] | None = None) -> Result:
        """The final result: the first stage's checks with each media file's put in place."""
        if self._final is not None:
            return self._final
        self.structure()
        try:
            checks = self._hash_media(on_progress or (lambda _p: None))
        finally:
            self.close()
        result = self._result
        for n, (at, check) in enumerate(zip((d[0] for d in self._deferred), checks, strict=True)):
            result.checks.insert(at + n, check)  # the checks before it include n deferred ones
        self._final = result
        return result

    def _hash_media(self, report: Callable[[Progress], None]) -> list[Check]:
        zf = self._zf
        total_files = len(self._deferred)
        total_bytes = sum(size for _, _, _, size in self._deferred)
        done_bytes = 0
        report(Progress(0, total_files, 0, total_bytes))
        checks = []
        for n, (_at, path, sha, size) in enumerate(self._deferred, 1):
            start = done_bytes

            def hashed(count: int, start: int = start, n: int = n, size: int = size) -> None:
                report(Progress(n - 1, total_files, start + min(count, size), total_bytes))

            assert zf is not None  # entries are deferred only from an open package
            got_sha, got_size, _ = _digest(zf, path, size, hashed)
            checks.append(_file_check(path, sha, size, got_sha, got_size))
            done_bytes += size
            report(Progress(n, total_files, done_bytes, total_bytes))
        return checks

    def close(self) -> None:
        if self._zf is not None:
            self._zf.close()
            self._zf = None


def _sidecar(package: Path, pkg: _Pkg, result: Result) -> Check | None:
    """Check the analyst's sidecar (evidence/sidecar.py) beside the package, if any."""
    side = sidecar.path_for(package)
    if not side.exists() or result.manifest is None or pkg.manifest_bytes is None:
        return None
    manifest_sha = f.sha256_hex(pkg.manifest_bytes)
    try:
        with side.open(encoding="ascii") as lines:
            records = sidecar.check(lines, str(result.manifest.get("merkle_root")), manifest_sha)
    except (OSError, UnicodeDecodeError, sidecar.SidecarError) as exc:
        return Check(False, "sidecar", side.name, note=str(exc))
    return Check(True, "sidecar", side.name, note=f"{len(records)} records, chain intact")


#: the JSON entries the verifier parses, each only once its hash and size verified
#: (parent/manifest.json is read like manifest.json: it has a signature of its own)
_PARSED = (*f.SUBSETS, "checkpoint.json")
#: manifest.sig and parent/manifest.sig: base64 of 64 bytes and a newline, with room
_MAX_SIG_BYTES = 4096
_SKIPPED = "; not parsed, so the checks that read it were not run"


class _Pkg:
    """The package being verified: its container, and the bytes of each JSON entry whose
    SHA-256 and size matched the manifest (the only ones parsed)."""

    def __init__(self, c: Container) -> None:
        self.c = c
        self.present = set(c.names)
        self.manifest_bytes: bytes | None = None
        self.verified: dict[str, bytes] = {}
        #: entries whose ZIP-declared size is the manifest's (so they may be read)
        self.sized: dict[str, int] = {}

    def read(self, name: str, limit: int) -> bytes:
        return self.c.read(name, limit)


def _verify_zip(
    c: Container,
    result: Result,
    key: bytes | None,
    fingerprint: str | None,
    parent_pin: tuple[bytes | None, str | None] = (None, None),
    deferred: list[tuple[int, str, str, int]] | None = None,
    pkg: _Pkg | None = None,
) -> None:
    pkg = pkg or _Pkg(c)
    names = c.names
    for check, name, why in c.problems:
        result.add(False, check, name, note=why)
    for name, count in Counter(names).items():
        if count > 1:
            result.add(False, "entry", name, expected="1 entry", actual=f"{count} entries")
    present = pkg.present
    if f.MANIFEST not in present:
        result.add(False, "missing", f.MANIFEST, note="the package has no manifest")
        return
    try:
        manifest_bytes = pkg.read(f.MANIFEST, f.MAX_MANIFEST_BYTES)
    except EntryError as exc:
        result.add(False, "manifest", f.MANIFEST, note=f"not read: {exc.reason}")
        result.add(False, "signature", f.SIGNATURE, note="not checked: manifest.json is unread")
        return
    pkg.manifest_bytes = manifest_bytes
    try:
        manifest = f.loads(manifest_bytes)
    except ValueError as exc:  # UnicodeDecodeError included
        manifest = None
        problems = [f"not JSON: {exc}"]
    else:
        problems = _manifest_problems(manifest) if isinstance(manifest, dict) else []
        if not isinstance(manifest, dict):
            problems = ["not a JSON object"]
    if problems or not isinstance(manifest, dict):
        for problem in problems:
            result.add(False, "manifest", f.MANIFEST, note=problem)
        signable = manifest if isinstance(manifest, dict) else None
        _signature(pkg, present, manifest_bytes, signable, result, key, fingerprint)
        result.add(
            False,
            "manifest",
            f.MANIFEST,
            note="the other checks were not run: the manifest is malformed (above)",
        )
        return
    result.add(True, "manifest", f.MANIFEST, note="readable")
    result.manifest = manifest
    result.add(
        manifest.get("format") == f.FORMAT,
        "format",
        f.MANIFEST,
        expected=f.FORMAT,
        actual=str(manifest.get("format")),
        note=f"format {manifest.get('format')}",
    )
    kind = manifest.get("kind", "export")
    result.kind = str(kind)
    if kind not in ("export", f.DISCLOSURE):
        result.add(False, "kind", f.MANIFEST, expected="export or disclosure", actual=str(kind))
    disclosure = kind == f.DISCLOSURE
    signer = _signature(pkg, present, manifest_bytes, manifest, result, key, fingerprint)
    required = f.DISCLOSURE_REQUIRED if disclosure else f.REQUIRED
    files = _files(pkg, manifest, result, required, deferred)
    _merkle(manifest, files, result)
    _media(pkg, files, result)
    if not disclosure:
        _audit(pkg, manifest, signer, result)
        return
    parent_signer = _disclosure(pkg, manifest, result, *parent_pin)
    listed = {p for p, _, _ in files}
    carried = [p for p in f.AUDIT_ENTRIES if p in listed]
    if carried or manifest.get("audit") is not None:
        for p in f.AUDIT_ENTRIES:
            if p not in listed:
                result.add(False, "missing", p, note="a disclosure carries both or neither")
        _audit(pkg, manifest, parent_signer, result)  # checkpoints: the relay's key
    else:
        result.add(True, "audit", f.MANIFEST, note="no audit extract carried (none declared)")


# ------------------------------------------------------------------ the one schema check


def _is_int(v: Any, low: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and low <= v < 1 << 63


def _files_problems(files: Any, where: str) -> list[str]:
    if not isinstance(files, list):
        return [f"{where}files is not a list"]
    out = []
    for n, e in enumerate(files):
        at = f"{where}files[{n}]"
        if not isinstance(e, dict):
            out.append(f"{at} is not an object")
            continue
        if not isinstance(e.get("path"), str):
            out.append(f"{at}.path is not a string")
        if not isinstance(e.get("sha256"), str) or not f.HEX64.fullmatch(e["sha256"]):
            out.append(f"{at}.sha256 is not 64 lowercase hex digits")
        if not _is_int(e.get("size")):
            out.append(f"{at}.size is not a whole number of bytes")
        for opt in ("derived_from", "reason"):
            if opt in e and not isinstance(e[opt], str):
                out.append(f"{at}.{opt} is not a string")
        if "operation" in e and not isinstance(e["operation"], dict):
            out.append(f"{at}.operation is not an object")
        if len(out) >= 10:
            out.append("(and more)")
            break
    return out


def _manifest_problems(m: dict[str, Any], where: str = "") -> list[str]:
    """Every field the verifier reads, of the type docs/evidence.md gives it (a value that
    is merely wrong, not mistyped, fails its own check later)."""
    out = _files_problems(m.get("files"), where)
    for k in ("format", "merkle_root"):
        if not isinstance(m.get(k), str):
            out.append(f"{where}{k} is not a string")
    if "kind" in m and not isinstance(m["kind"], str):
        out.append(f"{where}kind is not a string")
    signer = m.get("signer")
    if signer is not None and not isinstance(signer, dict):
        out.append(f"{where}signer is not an object")
    audit = m.get("audit")
    if audit is not None:
        if not isinstance(audit, dict):
            out.append(f"{where}audit is not an object or null")
        else:
            for k in ("from_seq", "to_seq", "records"):
                if audit.get(k) is not None and not _is_int(audit.get(k)):
                    out.append(f"{where}audit.{k} is not a whole number or null")
    if m.get("kind") == f.DISCLOSURE and not where:
        parent = m.get("parent")
        if parent is not None and not isinstance(parent, dict):
            out.append("parent is not an object")
        withheld = m.get("withheld")
        if withheld is not None and (
            not isinstance(withheld, list)
            or not all(isinstance(w, dict) and isinstance(w.get("sha256"), str) for w in withheld)
        ):
            out.append("withheld is not a list of {report_id, sha256}")
    return out


def _reports_problem(reports: Any) -> str:
    if not isinstance(reports, list):
        return "reports.json is not a JSON array"
    for n, r in enumerate(reports):
        if not isinstance(r, dict):
            return f"reports.json item {n} is not an object"
        media = r.get("media", [])
        if not isinstance(media, list) or not all(
            isinstance(x, dict) and isinstance(x.get("sha256", ""), str) for x in media
        ):
            return f"reports.json item {n}: media is not a list of {{sha256, ...}}"
    return ""


def _checkpoint_problem(cp: Any) -> str:
    if not isinstance(cp, dict):
        return "not a JSON object"
    if not _is_int(cp.get("seq"), 1):
        return "seq is not a positive whole number"
    for k in ("head", "key", "signature"):
        if not isinstance(cp.get(k), str):
            return f"{k} is not a string"
    if not f._finite_number(cp.get("at")):
        return "at is not a finite number"
    return ""


def _record_problem(r: Any) -> str:
    if not isinstance(r, dict) or any(k not in r for k in _AUDIT_FIELDS):
        return f"lacks a field of {', '.join(_AUDIT_FIELDS)}"
    if not isinstance(r.get("concerns"), bool):
        return "has no true/false `concerns`"
    if not _is_int(r["seq"], 1):
        return "has a seq that is not a positive whole number"
    if not f._finite_number(r["at"]):
        return "has an `at` that is not a finite number"
    for k in ("actor", "action", "subject", "detail", "prev_hash", "hash"):
        if not isinstance(r[k], str):
            return f"has a {k} that is not a string"
    return ""


# ------------------------------------------------------------------ the checks


class _Reads(Protocol):
    def read(self, name: str, limit: int) -> bytes: ...


def _signature(
    zf: _Reads,
    present: set[str],
    manifest_bytes: bytes,
    manifest: dict[str, Any] | None,
    result: Result,
    pinned_key: bytes | None,
    pinned_fp: str | None,
) -> bytes | None:
    """Check the signer and manifest.sig; returns the raw key checkpoints must be signed by."""
    named: bytes | None = None
    signer = manifest.get("signer") if manifest else None
    if isinstance(signer, dict):
        try:
            named = base64.b64decode(str(signer.get("public_key", "")), validate=True)
        except binascii.Error:
            named = None
        if named is not None and len(named) != 32:
            named = None
    if named is None:
        result.add(False, "signer", f.MANIFEST, note="names no usable Ed25519 public key")
    else:
        result.fingerprint = f.fingerprint_of(named)
        assert isinstance(signer, dict)
        result.add(
            signer.get("fingerprint") == result.fingerprint,
            "signer",
            f.MANIFEST,
            expected=result.fingerprint,
            actual=str(signer.get("fingerprint")),
            note=f"key {result.fingerprint}",
        )
    use = named
    if pinned_key is not None or pinned_fp is not None:
        want = f.fingerprint_of(pinned_key) if pinned_key is not None else pinned_fp or ""
        want = f.normalise_fingerprint(want)
        result.pinned = result.add(
            result.fingerprint == want,
            "pinned-key",
            f.MANIFEST,
            expected=want,
            actual=str(result.fingerprint),
            note="signer matches the pinned key"
            if result.fingerprint == want
            else "signed by a different key than the pinned one",
        )
        if pinned_key is not None:
            use = pinned_key  # verify with what the analyst trusts, not what the file says
    if f.SIGNATURE not in present:
        result.add(False, "missing", f.SIGNATURE, note="the package is not signed")
        return use
    try:
        sig = base64.b64decode(zf.read(f.SIGNATURE, _MAX_SIG_BYTES).strip(), validate=True)
    except binascii.Error:
        result.add(False, "signature", f.SIGNATURE, note="not base64")
        return use
    except EntryError as exc:
        result.add(False, "signature", f.SIGNATURE, note=f"not read: {exc.reason}")
        return use
    ok = False
    if use is not None and len(sig) == 64:
        try:
            Ed25519PublicKey.from_public_bytes(use).verify(sig, f.signed_manifest(manifest_bytes))
            ok = True
        except (InvalidSignature, ValueError):
            ok = False
    result.add(
        ok,
        "signature",
        f.SIGNATURE,
        expected="a valid Ed25519 signature of manifest.json",
        actual="valid" if ok else f"invalid ({len(sig)} bytes)",
        note="Ed25519 over manifest.json verifies"
        if ok
        else "does not verify: manifest.json or manifest.sig was altered, or another key signed it",
    )
    return use


def _files(
    pkg: _Pkg,
    manifest: dict[str, Any],
    result: Result,
    required: tuple[str, ...] = f.REQUIRED,
    deferred: list[tuple[int, str, str, int]] | None = None,
) -> list[tuple[str, str, int]]:
    """Every manifest entry against the package's bytes, then entries the manifest lacks.
    With `deferred`, a media entry the package holds is not hashed here: where its check
    goes, its path, hash and size are appended to `deferred` instead (`Verification`).
    An entry whose ZIP-declared size is not the manifest's is not read at all."""
    present = pkg.present
    entries = [(e["path"], e["sha256"], e["size"]) for e in manifest["files"]]
    paths = [p for p, _, _ in entries]
    result.add(
        paths == sorted(set(paths)),
        "manifest",
        f.MANIFEST,
        note="files sorted by path, each once"
        if paths == sorted(set(paths))
        else "files are not sorted by path or repeat one",
    )
    for path in (f.MANIFEST, f.SIGNATURE):
        if path in paths:
            result.add(False, "manifest", f.MANIFEST, note=f"lists {path}, which it cannot cover")
    for path in required:
        if path not in paths:
            result.add(False, "missing", path, note="a required entry is not in the manifest")
    for path, sha, size in entries:
        if path not in present:
            result.add(
                False, "missing", path, expected=f"sha256 {sha}, {size} bytes", actual="absent"
            )
            continue
        declared = pkg.c.declared_size(path)
        if declared is None or declared > size:
            result.add(
                False,
                "file",
                path,
                expected=f"sha256 {sha}, {size} bytes",
                actual=f"the ZIP declares {declared} bytes",
                note="not read: the ZIP declares it larger than the manifest does"
                + (_SKIPPED if path in _PARSED else ""),
            )
            continue
        pkg.sized[path] = size
        if deferred is not None and path.startswith("media/"):
            deferred.append((len(result.checks), path, sha, size))
            continue
        keep = path in _PARSED
        got_sha, got_size, data = _digest(pkg.c, path, size, keep=keep)
        check = _file_check(path, sha, size, got_sha, got_size)
        if keep and not check.ok:
            check = dataclasses.replace(check, note=check.note + _SKIPPED)
        result.checks.append(check)
        if check.ok and data is not None:
            pkg.verified[path] = data
    listed = set(paths) | {f.MANIFEST, f.SIGNATURE}
    for name in sorted(present - listed):
        result.add(False, "extra", name, expected="not in the package", actual="present")
    return entries


def _file_check(path: str, sha: str, size: int, got_sha: str, got_size: int) -> Check:
    return Check(
        (got_sha, got_size) == (sha, size),
        "file",
        path,
        expected=f"sha256 {sha}, {size} bytes",
        actual=f"sha256 {got_sha}, {got_size} bytes",
        note=f"sha256 {sha}, {size} bytes",
    )


def _digest(
    c: Container,
    path: str,
    size: int,
    hashed: Callable[[int], None] | None = None,
    *,
    keep: bool = False,
) -> tuple[str, int, bytes | None]:
    """The entry's SHA-256 and size, read at most `size` + 1 bytes; with `keep`, its bytes
    (an entry to parse, at most `f.MAX_JSON_BYTES`); `hashed(bytes so far)` every
    `_PROGRESS_BYTES`."""
    h = hashlib.sha256()
    got = 0
    next_report = _PROGRESS_BYTES
    pieces: list[bytes] | None = [] if keep and size <= f.MAX_JSON_BYTES else None
    try:
        for chunk in c.chunks(path, size):
            h.update(chunk)
            got += len(chunk)
            if pieces is not None:
                pieces.append(chunk)
            if hashed is not None and got >= next_report:
                next_report += _PROGRESS_BYTES
                hashed(got)
    except EntryError as exc:  # a damaged entry (bad CRC, truncated, longer than declared)
        return f"unreadable ({exc.reason})", got, None
    return h.hexdigest(), got, b"".join(pieces) if pieces is not None else None


def _merkle(manifest: dict[str, Any], files: list[tuple[str, str, int]], result: Result) -> None:
    root = f.merkle_root([f.leaf_data(p, s, n) for p, s, n in files])
    claimed = str(manifest.get("merkle_root"))
    result.add(
        claimed == root,
        "merkle",
        f.MANIFEST,
        expected=claimed,
        actual=root,
        note=f"root {root} over {len(files)} entries",
    )


def _parsed(pkg: _Pkg, name: str, result: Result, check: str) -> Any:
    """The JSON of a verified entry, or None: after a FAIL line when it is not JSON; with
    no line of its own when it did not verify (its `file`, `missing` or `extra` check
    failed, and says that the checks reading it were skipped)."""
    if name not in pkg.verified:
        return None
    try:
        return f.loads(pkg.verified[name])
    except ValueError as exc:
        result.add(False, check, name, note=f"not JSON: {exc}")
        return None


def _media(pkg: _Pkg, files: list[tuple[str, str, int]], result: Result) -> None:
    """Media entries are named by their SHA-256, and every stored file a report names is here."""
    media = {p: s for p, s, _ in files if p.startswith("media/")}
    for path, sha in media.items():
        name = path.removeprefix("media/")
        if name != sha:
            result.add(False, "media-name", path, expected=name, actual=sha)
    reports = _parsed(pkg, "reports.json", result, "media")
    if reports is None:
        return
    if problem := _reports_problem(reports):
        result.add(False, "media", "reports.json", note=problem)
        return
    wanted = {
        str(x["sha256"])
        for r in reports
        for x in r.get("media", [])
        if x.get("stored") and "sha256" in x
    }
    have = {p.removeprefix("media/") for p in media}
    for sha in sorted(wanted - have):
        result.add(False, "missing", f"media/{sha:.70}", note="a report names it but it is absent")
    if not wanted - have:
        result.add(True, "media", "media/", note=f"{len(have)} files, every report's media present")


def _audit(
    pkg: _Pkg,
    manifest: dict[str, Any],
    signer: bytes | None,
    result: Result,
) -> None:
    cp = _checkpoint(pkg, signer, result)
    if "audit.jsonl" not in pkg.present:
        return
    records: list[dict[str, Any]] = []
    problem = ""
    if "audit.jsonl" not in pkg.sized:
        problem = "not read: the ZIP declares it larger than the manifest does"
    else:
        try:
            for number, line in enumerate(
                _lines(pkg.c, "audit.jsonl", pkg.sized["audit.jsonl"]), 1
            ):
                if isinstance(line, int):
                    problem = f"line {number} is longer than {f.MAX_AUDIT_LINE} bytes"
                    break
                try:
                    record = f.loads(line)
                except ValueError as exc:
                    problem = f"line {number} is not JSON ({exc})"
                    break
                if p := _record_problem(record):
                    problem = f"line {number} {p}"
                    break
                records.append(record)
        except EntryError as exc:
            problem = f"not read: {exc.reason}"
    if not problem:
        problem = _chain_problem(records)
    span = f"seq {records[0]['seq']}..{records[-1]['seq']}" if records else "no records"
    result.add(
        not problem,
        "audit-chain",
        "audit.jsonl",
        note=problem or f"{len(records)} records, {span}, each hash and link verified",
    )
    declared = manifest.get("audit")
    if isinstance(declared, dict):
        want = (declared.get("from_seq"), declared.get("to_seq"), declared.get("records"))
        got = (
            records[0]["seq"] if records else None,
            records[-1]["seq"] if records else None,
            len(records),
        )
        result.add(
            want == got,
            "audit-range",
            "audit.jsonl",
            expected=f"from {want[0]} to {want[1]}, {want[2]} records",
            actual=f"from {got[0]} to {got[1]}, {got[2]} records",
            note="as the manifest declares",
        )
    else:
        result.add(False, "manifest", f.MANIFEST, note="has no audit range")
    if cp is None:
        return
    if not records:
        result.add(True, "audit-head", "audit.jsonl", note="no audit records to anchor")
        return
    last = records[-1]
    result.add(
        (last["seq"], last["hash"]) == (cp["seq"], cp["head"]),
        "audit-head",
        "audit.jsonl",
        expected=f"ends at the checkpoint's head, seq {cp['seq']} hash {cp['head']}",
        actual=f"ends at seq {last['seq']} hash {last['hash']}",
        note=f"ends at the signed checkpoint's head, seq {cp['seq']}",
    )


def _lines(c: Container, path: str, size: int) -> Iterator[bytes | int]:
    """The non-blank lines of an entry of `size` bytes, streamed; a line longer than
    `f.MAX_AUDIT_LINE` is yielded as its length so far (an int) and ends the stream."""
    buf = b""
    for chunk in c.chunks(path, size):
        buf += chunk
        *whole, buf = buf.split(b"\n")
        for raw in whole:
            if len(raw) + 1 > f.MAX_AUDIT_LINE:
                yield len(raw)
                return
            if raw.strip():
                yield raw.strip()
        if len(buf) >= f.MAX_AUDIT_LINE:
            yield len(buf)
            return
    if buf.strip():
        yield buf.strip()


def _chain_problem(records: list[dict[str, Any]]) -> str:
    prev: str | None = None
    expected_seq: int | None = None
    for r in records:
        seq = r["seq"]
        if expected_seq is not None and seq != expected_seq:
            return f"expected seq {expected_seq}, found {seq!r}: records deleted or reordered"
        if prev is None and seq == 1 and r["prev_hash"] != f.GENESIS_HASH:
            return "record 1 does not link to the genesis hash"
        if prev is not None and r["prev_hash"] != prev:
            return (
                f"record {seq} does not link to record {expected_seq - 1 if expected_seq else '?'}"
            )
        try:
            computed = f.audit_record_hash(
                r["prev_hash"], seq, r["at"], r["actor"], r["action"], r["subject"], r["detail"]
            )
        except (TypeError, ValueError) as exc:
            return f"record {seq!r} cannot be hashed: {exc}"
        if computed != r["hash"]:
            return f"record {seq} does not match its hash (expected {r['hash']}, computed {computed}): it was edited"
        prev = r["hash"]
        expected_seq = seq + 1
    return ""


def _checkpoint(pkg: _Pkg, signer: bytes | None, result: Result) -> dict[str, Any] | None:
    if "checkpoint.json" not in pkg.present:
        return None
    cp = _parsed(pkg, "checkpoint.json", result, "checkpoint")
    if cp is None:
        return None
    try:
        if problem := _checkpoint_problem(cp):
            raise ValueError(problem)
        seq, head, at, key = cp["seq"], cp["head"], cp["at"], cp["key"]
        sig = base64.b64decode(cp["signature"], validate=True)
        message = f.checkpoint_message(seq, head, at, key)
    except (ValueError, binascii.Error) as exc:
        result.add(False, "checkpoint", "checkpoint.json", note=f"not a checkpoint: {exc}")
        return None
    signer_fp = f.fingerprint_of(signer) if signer is not None else None
    result.add(
        key == signer_fp,
        "checkpoint-key",
        "checkpoint.json",
        expected=str(signer_fp),
        actual=str(key),
        note="signed by the package's key",
    )
    ok = False
    if signer is not None and len(sig) == 64:
        try:
            Ed25519PublicKey.from_public_bytes(signer).verify(sig, message)
            ok = True
        except (InvalidSignature, ValueError):
            ok = False
    result.add(
        ok,
        "checkpoint-signature",
        "checkpoint.json",
        expected="a valid Ed25519 signature by the package's key",
        actual="valid" if ok else "invalid",
        note=f"seq {seq} head {head} verifies" if ok else "does not verify",
    )
    return dict(cp) if ok else None


# ------------------------------------------------------------------ disclosure packages


def _disclosure(
    pkg: _Pkg,
    manifest: dict[str, Any],
    result: Result,
    pinned_key: bytes | None,
    pinned_fp: str | None,
) -> bytes | None:
    """A disclosure's own checks (docs/evidence.md, "Disclosure packages and redaction"):
    the parent manifest it carries, signed by the relay; every file it carries over is
    byte for byte one the parent lists; every derived file names a parent media file, an
    operation and a reason; no redacted or withheld original is in it. Returns the
    parent's signing key (its audit checkpoint must be signed by that key)."""
    present = pkg.present
    if f.PARENT_MANIFEST not in present:
        result.add(
            False,
            "parent-manifest",
            f.PARENT_MANIFEST,
            note="absent: nothing shows which signed package this was disclosed from",
        )
        return None
    try:
        parent_bytes = pkg.read(f.PARENT_MANIFEST, f.MAX_MANIFEST_BYTES)
        pm = f.loads(parent_bytes)
    except EntryError as exc:
        result.add(False, "parent-manifest", f.PARENT_MANIFEST, note=f"not read: {exc.reason}")
        return None
    except ValueError as exc:
        result.add(False, "parent-manifest", f.PARENT_MANIFEST, note=f"not JSON: {exc}")
        return None
    problems = _manifest_problems(pm, "parent ") if isinstance(pm, dict) else ["not an object"]
    if problems:
        for problem in problems:
            result.add(False, "parent-manifest", f.PARENT_MANIFEST, note=problem)
        return None
    claimed = manifest.get("parent") if isinstance(manifest.get("parent"), dict) else {}
    assert isinstance(claimed, dict)
    pm_signer = pm.get("signer") if isinstance(pm.get("signer"), dict) else {}
    assert isinstance(pm_signer, dict)
    for what, want, got in (
        ("manifest_sha256", f.sha256_hex(parent_bytes), claimed.get("manifest_sha256")),
        ("merkle_root", pm.get("merkle_root"), claimed.get("merkle_root")),
        ("fingerprint", pm_signer.get("fingerprint"), claimed.get("fingerprint")),
    ):
        result.add(
            want == got,
            "parent",
            f.MANIFEST,
            expected=f"parent.{what} {want}",
            actual=f"{got!s:.100}",
            note=f"parent.{what} is the carried parent manifest's",
        )
    result.add(
        pm.get("format") == f.FORMAT and pm.get("kind", "export") == "export",
        "parent-manifest",
        f.PARENT_MANIFEST,
        expected=f"{f.FORMAT}, kind export",
        actual=f"{pm.get('format')}, kind {pm.get('kind', 'export')}",
        note="a relay's evidence package",
    )
    # the parent's signature: the same rules as a package's, on the carried copies
    sub = Result()
    present_sig = {f.SIGNATURE} if f.PARENT_SIGNATURE in present else set()
    parent_key = _signature(
        _Renamed(pkg.c, {f.SIGNATURE: f.PARENT_SIGNATURE}),
        present_sig,
        parent_bytes,
        pm,
        sub,
        pinned_key,
        pinned_fp,
    )
    renames = {f.MANIFEST: f.PARENT_MANIFEST, f.SIGNATURE: f.PARENT_SIGNATURE}
    for c in sub.checks:
        result.checks.append(
            dataclasses.replace(c, check=f"parent-{c.check}", file=renames.get(c.file, c.file))
        )
    result.parent_fingerprint, result.parent_pinned = sub.fingerprint, sub.pinned
    parent_files = {e["path"]: (e["sha256"], e["size"]) for e in pm["files"]}
    tree = [f.leaf_data(e["path"], e["sha256"], e["size"]) for e in pm["files"]]
    root = f.merkle_root(tree)
    result.add(
        root == pm.get("merkle_root"),
        "parent-merkle",
        f.PARENT_MANIFEST,
        expected=str(pm.get("merkle_root")),
        actual=root,
        note=f"root {root} over the parent's {len(tree)} entries",
    )
    _carried(manifest, parent_files, present, result)
    return parent_key


def _carried(
    manifest: dict[str, Any],
    parent_files: dict[str, tuple[Any, Any]],
    present: set[str],
    result: Result,
) -> None:
    own = {f.PARENT_MANIFEST, f.PARENT_SIGNATURE, *f.SUBSETS}
    originals_out: dict[str, str] = {}  # media/<sha> that must not be here -> why
    for e in manifest["files"]:
        if e["path"] in own:
            continue
        path = e["path"]
        if "derived_from" not in e:
            got = (e.get("sha256"), e.get("size"))
            want = parent_files.get(path)
            result.add(
                want == got,
                "carried",
                path,
                expected=f"sha256 {want[0]}, {want[1]} bytes (the parent's)"
                if want
                else "an entry of the parent package",
                actual=f"sha256 {got[0]}, {got[1]} bytes",
                note="byte for byte the parent's" if want == got else "not the parent's file",
            )
            continue
        parent_sha = e["derived_from"]
        problems = []
        if f"media/{parent_sha}" not in parent_files:
            problems.append(f"derived_from {parent_sha:.70} is not a media file of the parent")
        if not path.startswith("media/"):
            problems.append("a derived file is a media/ entry")
        if problem := f.check_operation(e.get("operation")):
            problems.append(problem)
        if not isinstance(e.get("reason"), str) or not e["reason"].strip():
            problems.append("it gives no reason")
        if f"media/{parent_sha}" in originals_out:  # the disclosure writer makes one per original
            problems.append(
                f"media/{parent_sha:.70} is already {originals_out[f'media/{parent_sha}']}"
            )
        result.add(
            not problems,
            "derived",
            path,
            expected="derived_from a parent media file, an operation and a reason",
            actual="; ".join(problems),
            note=f"{(e.get('operation') or {}).get('type')} of media/{parent_sha}, "
            f"reason: {e.get('reason')!s:.80}"
            if not problems
            else "not a well-formed derived file",
        )
        originals_out[f"media/{parent_sha}"] = f"redacted as {path}"
    for w in manifest.get("withheld") or []:
        originals_out[f"media/{w['sha256']}"] = "withheld"
    for path, why in sorted(originals_out.items()):
        result.add(
            path not in present,
            "original-withheld",
            f"{path:.70}",
            expected="absent (the disclosure leaves the original out)",
            actual="present" if path in present else "absent",
            note=f"the original is not disclosed ({why})"
            if path not in present
            else f"the original is in the disclosure although it was {why}",
        )


class _Renamed:
    """A ZIP seen with some entries under other names (the parent's signature, checked by
    the same code as a package's own)."""

    def __init__(self, c: Container, names: dict[str, str]) -> None:
        self._c, self._names = c, names

    def read(self, name: str, limit: int) -> bytes:
        return self._c.read(self._names.get(name, name), limit)
