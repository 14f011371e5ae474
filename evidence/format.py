"""The byte-level rules of a `lookout-evidence/1` package, in one place.

The exporter (relay/evidence.py) builds with these and the verifier checks with them.
The audit record hash and the checkpoint message are written here again, from
docs/evidence.md, rather than imported from the relay: the verifier must not need the
relay, and tests/unit/test_evidence_format.py proves both encodings agree on real records.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Sequence
from typing import Any, Final

FORMAT: Final = "lookout-evidence/1"
SUFFIX: Final = ".lookout-evidence"
MANIFEST: Final = "manifest.json"
SIGNATURE: Final = "manifest.sig"
#: prefixed to manifest.json's bytes before signing, so a package signature can never be
#: taken for an audit checkpoint's (which starts `["lookout.audit.checkpoint.v1"`)
SIGNATURE_DOMAIN: Final = b"lookout.evidence.v1\n"
#: the entries every package has (beside manifest.json and manifest.sig)
REQUIRED: Final = (
    "reports.json",
    "chat.json",
    "incidents.json",
    "alerts.json",
    "geometry.geojson",
    "audit.jsonl",
    "checkpoint.json",
)
AUDIT_DOMAIN: Final = "lookout.audit.v1"
CHECKPOINT_DOMAIN: Final = "lookout.audit.checkpoint.v1"
GENESIS_HASH: Final = "0" * 64
HEX64: Final = re.compile(r"[0-9a-f]{64}")
#: a disclosure package's `kind`, and what a derived file's `operation` may be
DISCLOSURE: Final = "disclosure"
PARENT_MANIFEST: Final = "parent/manifest.json"
PARENT_SIGNATURE: Final = "parent/manifest.sig"
#: a disclosure's selection: subsets of the parent's, so not in the parent's manifest
SUBSETS: Final = ("reports.json", "chat.json", "incidents.json", "alerts.json", "geometry.geojson")
#: the entries every disclosure has (beside manifest.json and manifest.sig)
DISCLOSURE_REQUIRED: Final = (*SUBSETS, PARENT_MANIFEST, PARENT_SIGNATURE)
#: the parent's audit extract, which a disclosure carries unchanged or not at all
AUDIT_ENTRIES: Final = ("audit.jsonl", "checkpoint.json")
REDACT: Final = "redact"
REDACT_VIDEO: Final = "redact-video"
OPERATIONS: Final = (REDACT, REDACT_VIDEO)
MODES: Final = ("box", "pixelate")
#: what a video redaction did to the sound: silenced over its ranges, left as it was, or
#: there was none
AUDIO: Final = ("muted", "kept", "none")


#: the largest manifest.json (and parent/manifest.json) a verifier reads
MAX_MANIFEST_BYTES: Final = 64 << 20
#: the largest other JSON entry a verifier parses (reports.json, ..., checkpoint.json)
MAX_JSON_BYTES: Final = 256 << 20
#: the longest line of audit.jsonl, its newline included
MAX_AUDIT_LINE: Final = 1 << 20
#: the longest entry name, in UTF-8 bytes
MAX_NAME_BYTES: Final = 255
#: characters no entry name holds (beside control characters)
_NAME_FORBIDDEN: Final = frozenset('\\:*?"<>|')


def name_problem(name: str) -> str:
    """Why `name` is not an entry name of the allowed form ("" when it is): 1 to 255 UTF-8
    bytes, `/`-separated segments, none empty, `.` or `..`; no control character (U+0000
    to U+001F, U+007F), backslash, colon (so no drive letter) or any of `*?"<>|`; in
    Unicode normal form NFC."""
    if not name:
        return "an empty name"
    if len(name.encode("utf-8", errors="surrogatepass")) > MAX_NAME_BYTES:
        return f"a name longer than {MAX_NAME_BYTES} bytes"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "a control character (such as NUL) in its name"
    if bad := sorted(set(name) & _NAME_FORBIDDEN):
        return f"{' '.join(bad)} in its name (a path of another system)"
    if any(seg in ("", ".", "..") for seg in name.split("/")):
        return "an absolute name, an empty, '.' or '..' segment, or a directory entry"
    if unicodedata.normalize("NFC", name) != name:
        return "a name not in Unicode normal form NFC"
    return ""


def name_key(name: str) -> str:
    """What two entry names must not share: their NFC form, case-folded."""
    return unicodedata.normalize("NFC", name).casefold()


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"the key {k[:80]!r} appears twice in one object")
        out[k] = v
    return out


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large for a double")
    return value


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def loads(data: bytes) -> Any:
    """A package's JSON, strictly: UTF-8, no key twice in one object, no NaN or Infinity,
    every number a finite double or an integer. ValueError says what is wrong (a
    nesting too deep for the parser included)."""
    try:
        return json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicate_keys,
            parse_float=_finite,
            parse_constant=_no_constant,
        )
    except RecursionError:
        raise ValueError("nested too deeply") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leaf_data(path: str, sha256: str, size: int) -> bytes:
    """A manifest file entry as a Merkle leaf: `path \\n sha256hex \\n size`, UTF-8."""
    return f"{path}\n{sha256}\n{size}".encode()


def merkle_root(leaves: Sequence[bytes]) -> str:
    """RFC 9162 section 2.1.1 Merkle Tree Hash (lowercase hex) of `leaves` in order."""
    return _mth(list(leaves)).hex()


def _mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((n - 1).bit_length() - 1)  # the largest power of two smaller than n
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def signed_manifest(manifest_bytes: bytes) -> bytes:
    """The message manifest.sig signs: the domain line, then manifest.json exactly."""
    return SIGNATURE_DOMAIN + manifest_bytes


def audit_record_hash(
    prev_hash: str, seq: int, at: float, actor: str, action: str, subject: str, detail: str
) -> str:
    """The audit chain's record hash (docs/evidence.md, "Audit records"): SHA-256 of the
    compact ASCII JSON array `[domain, prev_hash, seq, repr(float(at)), actor, action,
    subject, detail]`. Raises ValueError or TypeError for fields that cannot be hashed."""
    if not isinstance(prev_hash, str) or not HEX64.fullmatch(prev_hash):
        raise ValueError("prev_hash is not 64 lowercase hex digits")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise ValueError(f"seq {seq!r} is not a positive integer")
    if not _finite_number(at):
        raise ValueError(f"at {at!r:.40} is not a finite number")
    for name, value in (
        ("actor", actor),
        ("action", action),
        ("subject", subject),
        ("detail", detail),
    ):
        if not isinstance(value, str):
            raise TypeError(f"{name} is not a string")
    message = json.dumps(
        [AUDIT_DOMAIN, prev_hash, seq, repr(float(at)), actor, action, subject, detail],
        ensure_ascii=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(message.encode("ascii")).hexdigest()


def checkpoint_message(seq: int, head: str, at: float, key: str) -> bytes:
    """What an audit checkpoint's Ed25519 signature covers: the compact ASCII JSON array
    `[domain, seq, head, repr(float(at)), key]`, `key` the signer's fingerprint."""
    if not _finite_number(at):
        raise ValueError("checkpoint time is not a finite number")
    if isinstance(seq, bool) or not isinstance(seq, int) or not isinstance(head, str):
        raise ValueError("checkpoint seq is not an integer or head not a string")
    if not isinstance(key, str):
        raise ValueError("checkpoint key is not a string")
    return json.dumps(
        [CHECKPOINT_DOMAIN, seq, head, repr(float(at)), key],
        ensure_ascii=True,
        separators=(",", ":"),
    ).encode("ascii")


def _finite_number(value: Any) -> bool:
    """A JSON number that is a finite double (an integer beyond a double's range is not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def fingerprint_of(raw_public_key: bytes) -> str:
    """A signer's fingerprint: SHA-256 hex of its raw 32-byte Ed25519 public key (the same
    as relay/checkpoints.py `fingerprint`)."""
    return hashlib.sha256(raw_public_key).hexdigest()


def normalise_fingerprint(text: str) -> str:
    """A fingerprint as typed or pasted: colons, spaces and case do not matter."""
    return re.sub(r"[\s:]", "", text).lower()


def check_operation(operation: Any) -> str:
    """Why `operation` is not a well-formed redaction ("" when it is): a photo's
    `{"type": "redact", "regions": [{"x", "y", "w", "h", "mode": "box" | "pixelate",
    "block" (pixelate)}]}`, or a video's `{"type": "redact-video", "ranges": [{"start_s",
    "end_s"}], "regions": [...] | "whole_frame": true, "audio": "muted" | "kept" | "none"}`."""
    if not isinstance(operation, dict) or operation.get("type") not in OPERATIONS:
        return f"operation must be an object with type one of {', '.join(OPERATIONS)}"
    if operation["type"] == REDACT_VIDEO:
        return _check_video(operation)
    return _check_regions(operation.get("regions"))


def _check_regions(regions: Any) -> str:
    if not isinstance(regions, list) or not regions:
        return "a redaction needs at least one region"
    for r in regions:
        if not isinstance(r, dict) or r.get("mode") not in MODES:
            return f"each region needs mode {' or '.join(MODES)}"
        for k in ("x", "y", "w", "h"):
            v = r.get(k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                return f"region {k} must be a whole number of pixels, 0 or more"
        if r["w"] < 1 or r["h"] < 1:
            return "a region is at least 1 x 1 pixels"
        if r["mode"] == "pixelate":
            b = r.get("block")
            if isinstance(b, bool) or not isinstance(b, int) or b < 2:
                return "a pixelated region names its block size (2 pixels or more)"
    return ""


def _check_video(op: dict[str, Any]) -> str:
    ranges = op.get("ranges")
    if not isinstance(ranges, list) or not ranges:
        return "a video redaction needs at least one time range"
    for r in ranges:
        if not isinstance(r, dict):
            return "each range is an object with start_s and end_s"
        a, b = r.get("start_s"), r.get("end_s")
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in (a, b)
        ):
            return "a range's start_s and end_s are finite numbers of seconds"
        assert isinstance(a, int | float) and isinstance(b, int | float)
        if a < 0 or b <= a:
            return "a range starts at 0 s or later and ends after it starts"
    if op.get("audio") not in AUDIO:
        return f"a video redaction's audio is one of {', '.join(AUDIO)}"
    whole = op.get("whole_frame", False)
    if whole is not True and "whole_frame" in op:
        return "whole_frame, when given, is true"
    if whole and "regions" in op:
        return "a video redaction has regions or whole_frame, not both"
    if whole:
        return ""
    regions = op.get("regions")
    if regions == [] and op["audio"] == "muted":
        return ""  # the sound only
    return _check_regions(regions)
