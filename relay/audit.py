"""The audit log's hash chain: how a record's hash is made, and how a chain is verified.

Every audit record carries the hash of the record before it, and its own hash covers that
link and all of its fields. Editing, deleting, inserting or reordering records therefore
breaks the chain at the first record touched, unless the forger recomputes every later
hash. Two things a bare chain cannot show on its own, so a reader must be given them from
somewhere the forger cannot write (a signed evidence package, a published head):
records cut off the end, and a tail rewritten with fresh hashes. `verify_chain` takes that
known head as `expected_head`.

Pure functions only: storage lives elsewhere, and anything with the `AuditRecord`
attributes (an ORM row, a dataclass) can be verified.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

GENESIS_HASH = "0" * 64
#: Names the encoding inside every hashed message, so no hash made for another purpose,
#: or by a later version of this encoding, can be mistaken for one of ours.
HASH_DOMAIN = "lookout.audit.v1"

_HEX64 = re.compile(r"[0-9a-f]{64}")


class AuditRecord(Protocol):
    """What verification reads from a record (read-only, so frozen records fit)."""

    @property
    def seq(self) -> int: ...
    @property
    def at(self) -> float: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


@dataclass(frozen=True)
class Verdict:
    """The outcome of `verify_chain`.

    `checked` counts the records that verified before the first failure (all of them when
    `ok`). `first_bad_seq` is the sequence number at which the chain stops being
    trustworthy: the position of the first failing record, which is the seq it should
    carry (for a deleted record, the missing seq). `reason` says what is wrong, in words
    an analyst can act on.
    """

    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str


def canonical_detail(detail: Mapping[str, object]) -> str:
    """The one JSON text for `detail`: sorted keys, no spaces, non-ASCII kept as is.

    Raises TypeError for values JSON cannot carry and ValueError for NaN or infinity,
    so a record can never hold a detail that would not read back the same.
    """
    return json.dumps(
        detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def record_hash(
    prev_hash: str, seq: int, at: float, actor: str, action: str, subject: str, detail: str
) -> str:
    """SHA-256 (lowercase hex) of one record and its link to the previous record.

    The hashed bytes are the compact JSON array
    `[HASH_DOMAIN, prev_hash, seq, repr(float(at)), actor, action, subject, detail]`,
    ASCII-only (`ensure_ascii`). That encoding is unambiguous, so two different records
    can never hash the same message:

    - the array has a fixed number of elements in a fixed order, and JSON quotes every
      string and escapes `"` and `\\` inside it, so no field's content can end the field
      early or spill into its neighbour (unlike joining fields with a separator);
    - `seq` is a JSON integer, one decimal text per value;
    - `at` is a string holding Python's `repr` of the float, the shortest text that
      reads back to exactly that float: one text per value, no platform or locale
      formatting, and never JSON's number parsing;
    - with `ensure_ascii`, the bytes depend only on the code points of each string, so
      any Python string (even a lone surrogate) hashes, and the same way everywhere.

    Raises ValueError for a prev_hash that is not 64 lowercase hex digits, a seq that is
    not a positive int, or an `at` that is not finite; TypeError for non-string fields.
    """
    if not isinstance(prev_hash, str) or not _HEX64.fullmatch(prev_hash):
        raise ValueError("prev_hash must be 64 lowercase hex digits")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise ValueError(f"seq must be a positive integer, not {seq!r}")
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
        raise ValueError(f"at must be a finite unix time, not {at!r}")
    for name, value in (("actor", actor), ("action", action), ("subject", subject)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not isinstance(detail, str):
        raise TypeError(f"detail must be a str, not {type(detail).__name__}")
    message = json.dumps(
        [HASH_DOMAIN, prev_hash, seq, repr(float(at)), actor, action, subject, detail],
        ensure_ascii=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(message.encode("ascii")).hexdigest()


def verify_chain(
    records: Iterable[AuditRecord], *, expected_head: tuple[int, str] | None = None
) -> Verdict:
    """Check a chain read in seq order, stopping at the first record that fails.

    Streams: it keeps only the previous record's hash, so a cursor over millions of rows
    verifies in constant memory. Detects an edited field (hash mismatch), a deleted,
    inserted or reordered record (seq out of step, or prev_hash not linking to the record
    before), and a tampered first record (it must link to `GENESIS_HASH`).

    `expected_head` is `(seq, hash)` of the last record as known from elsewhere (a signed
    evidence package, a published checkpoint); the chain must end exactly there (to check
    a live log against an older checkpoint, pass only the records up to it). Give it
    whenever you have it: without it, records removed from the end, or a tail rewritten
    with recomputed hashes, go unseen.
    """
    expected_seq = 1
    prev = GENESIS_HASH
    for record in records:
        reason = _record_problem(record, expected_seq, prev)
        if reason is not None:
            return Verdict(False, expected_seq - 1, expected_seq, reason)
        prev = record.hash
        expected_seq += 1
    last_seq = expected_seq - 1
    if expected_head is not None:
        head_seq, head_hash = expected_head
        if last_seq < head_seq:
            return Verdict(
                False,
                last_seq,
                last_seq + 1,
                f"chain ends at seq {last_seq} but its known head is seq {head_seq}: "
                "records are missing from the end",
            )
        if last_seq > head_seq:
            return Verdict(
                False,
                last_seq,
                head_seq + 1,
                f"chain runs on to seq {last_seq} past its known head, seq {head_seq}: "
                "records were added after it",
            )
        if prev != head_hash:
            return Verdict(
                False,
                last_seq,
                last_seq,
                f"record {last_seq} does not match the known head hash: the chain was "
                "rewritten at or before it",
            )
    return Verdict(True, last_seq, None, f"{last_seq} records verified")


def _record_problem(record: AuditRecord, expected_seq: int, prev: str) -> str | None:
    seq = record.seq
    if seq != expected_seq:
        if isinstance(seq, int) and seq > expected_seq:
            return f"expected seq {expected_seq}, found {seq}: records deleted or reordered"
        return f"expected seq {expected_seq}, found {seq!r}: records inserted or reordered"
    if record.prev_hash != prev:
        what = "the genesis hash" if expected_seq == 1 else f"record {expected_seq - 1}"
        return f"record {seq} does not link to {what}: records deleted, inserted or reordered"
    try:
        computed = record_hash(
            record.prev_hash,
            seq,
            record.at,
            record.actor,
            record.action,
            record.subject,
            record.detail,
        )
    except (TypeError, ValueError) as exc:
        return f"record {seq} cannot be hashed: {exc}"
    if computed != record.hash:
        return f"record {seq} does not match its hash: it was edited"
    return None


def verify_through(records: Iterable[AuditRecord], anchor: tuple[int, str]) -> Verdict:
    """Check a chain read in seq order that must still pass through `anchor`.

    `anchor` is `(seq, hash)` from a signed checkpoint: records may have been appended
    since (they are checked link by link as usual), but the chain must reach `seq` and
    its record there must carry `hash`. So records deleted from the end, or a tail
    rewritten with recomputed hashes, at or before the checkpoint, fail.
    """
    anchor_seq, anchor_hash = anchor
    found: list[str] = []

    def tap() -> Iterable[AuditRecord]:
        for record in records:
            if record.seq == anchor_seq:
                found.append(record.hash)
            yield record

    verdict = verify_chain(tap())
    if not verdict.ok:
        return verdict
    last = verdict.checked
    if last < anchor_seq:
        return Verdict(
            False,
            last,
            last + 1,
            f"chain ends at seq {last} but the signed checkpoint covers seq {anchor_seq}: "
            "records were deleted from the end",
        )
    if found != [anchor_hash]:
        return Verdict(
            False,
            anchor_seq - 1,
            anchor_seq,
            f"record {anchor_seq} does not match the signed checkpoint: the chain was "
            "rewritten at or before it",
        )
    return Verdict(
        True,
        last,
        None,
        f"{last} records verified, through the signed checkpoint at seq {anchor_seq}",
    )
