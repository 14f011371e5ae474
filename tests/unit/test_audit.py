"""The audit hash chain: a clean chain verifies, and every kind of tampering is caught."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.audit import GENESIS_HASH, Verdict, canonical_detail, record_hash, verify_chain


@dataclass(frozen=True)
class Rec:
    seq: int
    at: float
    actor: str
    action: str
    subject: str
    detail: str
    prev_hash: str
    hash: str


def build_chain(n: int, start_at: float = 1_795_000_000.125) -> list[Rec]:
    chain: list[Rec] = []
    prev = GENESIS_HASH
    for i in range(1, n + 1):
        rec = seal(
            prev,
            i,
            start_at + i * 1.5,
            f"officer{i % 3}",
            ("report.claim", "alert.send", "chat.reply")[i % 3],
            f"R-{i:04d}",
            canonical_detail({"n": i, "note": "café ☕", "nested": {"b": 2, "a": [1, 2]}}),
        )
        chain.append(rec)
        prev = rec.hash
    return chain


def seal(prev: str, seq: int, at: float, actor: str, action: str, subject: str, detail: str) -> Rec:
    digest = record_hash(prev, seq, at, actor, action, subject, detail)
    return Rec(seq, at, actor, action, subject, detail, prev, digest)


def rechain(records: list[Rec]) -> list[Rec]:
    """Recompute every hash as a forger with write access would (seq kept as given)."""
    out: list[Rec] = []
    prev = GENESIS_HASH
    for r in records:
        rec = seal(prev, r.seq, r.at, r.actor, r.action, r.subject, r.detail)
        out.append(rec)
        prev = rec.hash
    return out


def bad(verdict: Verdict, seq: int, words: str) -> None:
    assert not verdict.ok
    assert verdict.first_bad_seq == seq
    assert verdict.checked == seq - 1 or words == "head"
    assert words in verdict.reason or words == "head", verdict.reason


# ---------------------------------------------------------------- clean chains


def test_clean_chain_verifies() -> None:
    chain = build_chain(50)
    assert verify_chain(chain) == Verdict(True, 50, None, "50 records verified")
    assert verify_chain(chain, expected_head=(50, chain[-1].hash)).ok


def test_empty_chain_verifies_unless_a_head_is_expected() -> None:
    assert verify_chain([]) == Verdict(True, 0, None, "0 records verified")
    assert not verify_chain([], expected_head=(1, "a" * 64)).ok


def test_verification_streams() -> None:
    """A generator is consumed once, and verification stops at the first bad record."""
    chain = build_chain(10)
    chain[3] = dataclasses.replace(chain[3], actor="mallory")
    pulled: list[int] = []

    def rows() -> Iterator[Rec]:
        for r in chain:
            pulled.append(r.seq)
            yield r

    bad(verify_chain(rows()), 4, "edited")
    assert pulled == [1, 2, 3, 4]


def test_genesis_and_first_hash_are_pinned() -> None:
    """Pin the encoding: changing it silently would orphan every stored chain."""
    assert GENESIS_HASH == "0" * 64
    digest = record_hash(GENESIS_HASH, 1, 1.5, "a", "b", "c", "{}")
    message = '["lookout.audit.v1","' + "0" * 64 + '",1,"1.5","a","b","c","{}"]'
    assert digest == hashlib.sha256(message.encode()).hexdigest()


# ---------------------------------------------------------------- tampering


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("at", 1_795_000_000.0),
        ("actor", "mallory"),
        ("action", "report.delete"),
        ("subject", "R-9999"),
        ("detail", canonical_detail({"n": 5})),
        ("hash", "f" * 64),
    ],
)
def test_edited_field_is_detected(field: str, value: Any) -> None:
    chain = build_chain(10)
    chain[4] = dataclasses.replace(chain[4], **{field: value})
    bad(verify_chain(chain), 5, "record 5")


def test_edited_record_with_recomputed_hash_breaks_the_next_link() -> None:
    chain = build_chain(10)
    r = chain[4]
    chain[4] = seal(r.prev_hash, 5, r.at, "mallory", r.action, r.subject, r.detail)
    bad(verify_chain(chain), 6, "does not link to record 5")


def test_edited_prev_hash_is_detected() -> None:
    chain = build_chain(10)
    chain[6] = dataclasses.replace(chain[6], prev_hash=chain[4].hash)
    bad(verify_chain(chain), 7, "does not link to record 6")


def test_deleted_record_is_detected() -> None:
    chain = build_chain(10)
    del chain[3]
    bad(verify_chain(chain), 4, "expected seq 4, found 5")


def test_deleted_and_renumbered_record_is_detected() -> None:
    chain = build_chain(10)
    del chain[3]
    renumbered = [dataclasses.replace(r, seq=i) for i, r in enumerate(chain, start=1)]
    bad(verify_chain(renumbered), 4, "record 4")


def test_deleted_first_record_is_detected() -> None:
    chain = build_chain(5)
    bad(verify_chain(chain[1:]), 1, "expected seq 1, found 2")
    renumbered = [dataclasses.replace(r, seq=r.seq - 1) for r in chain[1:]]
    bad(verify_chain(renumbered), 1, "does not link to the genesis hash")


def test_tampered_first_record_is_detected() -> None:
    chain = build_chain(5)
    chain[0] = dataclasses.replace(chain[0], detail=canonical_detail({"forged": True}))
    bad(verify_chain(chain), 1, "record 1 does not match its hash")
    chain = build_chain(5)
    r = chain[0]
    chain[0] = seal(r.prev_hash, 1, r.at, "mallory", r.action, r.subject, r.detail)
    bad(verify_chain(chain), 2, "does not link to record 1")
    chain = build_chain(5)
    chain[0] = seal("1" * 64, 1, r.at, r.actor, r.action, r.subject, r.detail)
    bad(verify_chain(chain), 1, "does not link to the genesis hash")


def test_reordered_records_are_detected() -> None:
    chain = build_chain(10)
    chain[3], chain[4] = chain[4], chain[3]
    bad(verify_chain(chain), 4, "expected seq 4, found 5")
    chain = build_chain(10)
    chain[3], chain[4] = (
        dataclasses.replace(chain[4], seq=4),
        dataclasses.replace(chain[3], seq=5),
    )
    bad(verify_chain(chain), 4, "does not link to record 3")


def test_inserted_record_is_detected() -> None:
    chain = build_chain(10)
    forged = seal(chain[2].hash, 4, chain[2].at + 0.1, "mallory", "report.close", "R-1", "{}")
    bad(verify_chain([*chain[:3], forged, *chain[3:]]), 5, "expected seq 5, found 4")
    renumbered = [*chain[:3], forged, *(dataclasses.replace(r, seq=r.seq + 1) for r in chain[3:])]
    bad(verify_chain(renumbered), 5, "does not link to record 4")


def test_duplicated_record_is_detected() -> None:
    chain = build_chain(5)
    bad(verify_chain([*chain[:3], chain[2], *chain[3:]]), 4, "expected seq 4, found 3")


def test_truncation_and_rewrite_need_the_known_head() -> None:
    chain = build_chain(10)
    head = (10, chain[-1].hash)
    # Without a head, a cut-off tail or a wholly recomputed chain looks fine...
    assert verify_chain(chain[:7]).ok
    forged = rechain([dataclasses.replace(r, actor="mallory") for r in chain])
    assert verify_chain(forged).ok
    # ...with it, both are caught.
    truncated = verify_chain(chain[:7], expected_head=head)
    bad(truncated, 8, "head")
    assert truncated.checked == 7 and "missing from the end" in truncated.reason
    rewritten = verify_chain(forged, expected_head=head)
    bad(rewritten, 10, "head")
    assert "rewritten" in rewritten.reason
    extended = verify_chain(build_chain(12), expected_head=head)
    bad(extended, 11, "head")
    assert "added after" in extended.reason


@pytest.mark.parametrize(
    ("field", "value"),
    [("at", float("nan")), ("at", "1.5"), ("seq", True), ("actor", None), ("detail", b"{}")],
)
def test_unhashable_values_fail_verification_instead_of_raising(field: str, value: Any) -> None:
    chain = build_chain(3)
    chain[1] = dataclasses.replace(chain[1], **{field: value})
    verdict = verify_chain(chain)
    assert not verdict.ok
    assert verdict.first_bad_seq == 2


# ---------------------------------------------------------------- the encoding


def test_field_boundaries_cannot_be_shifted() -> None:
    """Moving text from one field into its neighbour changes the hash."""
    base = record_hash(GENESIS_HASH, 1, 1.0, "ab", "c", "d", "{}")
    assert base != record_hash(GENESIS_HASH, 1, 1.0, "a", "bc", "d", "{}")
    assert base != record_hash(GENESIS_HASH, 1, 1.0, 'ab","c', "", "d", "{}")
    assert record_hash(GENESIS_HASH, 1, 1.0, "a\\", "b", "", "") != record_hash(
        GENESIS_HASH, 1, 1.0, "a", "\\b", "", ""
    )


def test_at_is_hashed_by_value() -> None:
    assert record_hash(GENESIS_HASH, 1, 2, "a", "b", "c", "") == record_hash(
        GENESIS_HASH, 1, 2.0, "a", "b", "c", ""
    )
    assert record_hash(GENESIS_HASH, 1, 0.1 + 0.2, "a", "b", "c", "") != record_hash(
        GENESIS_HASH, 1, 0.3, "a", "b", "c", ""
    )


def test_record_hash_refuses_bad_inputs() -> None:
    with pytest.raises(ValueError, match="prev_hash"):
        record_hash("A" * 64, 1, 1.0, "a", "b", "c", "")
    with pytest.raises(ValueError, match="seq"):
        record_hash(GENESIS_HASH, 0, 1.0, "a", "b", "c", "")
    with pytest.raises(ValueError, match="at"):
        record_hash(GENESIS_HASH, 1, float("inf"), "a", "b", "c", "")


def test_canonical_detail() -> None:
    assert canonical_detail({"b": 1, "a": {"d": [1, 2], "c": "é"}}) == (
        '{"a":{"c":"é","d":[1,2]},"b":1}'
    )
    with pytest.raises(ValueError):
        canonical_detail({"x": float("nan")})
    with pytest.raises(TypeError):
        canonical_detail({"x": object()})


# ---------------------------------------------------------------- any single edit


texts = st.text(max_size=30)
EDITS: dict[str, st.SearchStrategy[Any]] = {
    "seq": st.integers(min_value=-5, max_value=100),
    "at": st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=4e9),
    "actor": texts,
    "action": texts,
    "subject": texts,
    "detail": st.dictionaries(st.text(max_size=5), st.integers()).map(canonical_detail),
    "prev_hash": st.text("0123456789abcdef", min_size=64, max_size=64),
    "hash": st.text("0123456789abcdef", min_size=64, max_size=64),
}


@st.composite
def single_edit(draw: st.DrawFn) -> tuple[int, int, str, Any]:
    n = draw(st.integers(min_value=1, max_value=12))
    index = draw(st.integers(min_value=0, max_value=n - 1))
    field = draw(st.sampled_from(sorted(EDITS)))
    value = draw(EDITS[field])
    return n, index, field, value


@given(single_edit())
def test_any_single_field_edit_is_detected(edit: tuple[int, int, str, Any]) -> None:
    n, index, field, value = edit
    chain = build_chain(n)
    original = chain[index]
    if getattr(original, field) == value:
        value = _different(field, value)
    chain[index] = dataclasses.replace(original, **{field: value})
    verdict = verify_chain(chain, expected_head=(n, build_chain(n)[-1].hash))
    assert not verdict.ok
    # The edit is caught at the edited record, or (hash edits) at the very next link.
    assert verdict.first_bad_seq in (index + 1, index + 2)
    # Even without the known head, an edit anywhere but the last record's hash is caught.
    if not (field == "hash" and index == n - 1):
        assert not verify_chain(chain).ok


def _different(field: str, value: Any) -> Any:
    if field in ("seq", "at"):
        return value + 1
    if field in ("prev_hash", "hash"):
        return ("1" if value[0] == "0" else "0") + value[1:]
    if field == "detail":
        return canonical_detail({"different": True})
    return value + "x"


# ---------------------------------------------------------------- anchored at a checkpoint


def test_verify_through_accepts_a_chain_that_grew_past_its_checkpoint() -> None:
    from relay.audit import verify_through

    chain = build_chain(10)
    verdict = verify_through(chain, (7, chain[6].hash))
    assert verdict.ok and verdict.checked == 10 and "seq 7" in verdict.reason


def test_verify_through_catches_records_deleted_from_the_end() -> None:
    from relay.audit import verify_through

    chain = build_chain(10)
    assert verify_chain(chain[:6]).ok  # the bare chain cannot tell
    verdict = verify_through(chain[:6], (7, chain[6].hash))
    assert not verdict.ok and verdict.first_bad_seq == 7
    assert "deleted from the end" in verdict.reason


def test_verify_through_catches_a_rewritten_tail() -> None:
    from relay.audit import verify_through

    chain = build_chain(10)
    forged = chain[:5]
    prev = forged[-1].hash
    for rec in chain[5:]:  # the forger recomputes every hash from record 6 on
        rec = seal(prev, rec.seq, rec.at, "mallory", rec.action, rec.subject, rec.detail)
        forged.append(rec)
        prev = rec.hash
    assert verify_chain(forged).ok  # the bare chain cannot tell
    verdict = verify_through(forged, (7, chain[6].hash))
    assert not verdict.ok and verdict.first_bad_seq == 7 and "rewritten" in verdict.reason


def test_verify_through_still_reports_a_broken_link() -> None:
    from relay.audit import verify_through

    chain = build_chain(5)
    del chain[2]
    verdict = verify_through(chain, (5, "f" * 64))
    assert not verdict.ok and verdict.first_bad_seq == 3


def test_checkpoints_are_signed_and_tampering_with_them_is_caught(tmp_path: Any) -> None:
    import json
    import stat

    from relay import checkpoints as cps

    key = cps.relay_key(tmp_path)
    path = tmp_path / cps.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert cps.relay_key(tmp_path).public_key() == key.public_key()  # made once, then reused
    file = tmp_path / cps.CHECKPOINT_FILE
    assert cps.latest(file) is None
    cps.append(file, cps.sign(key, 3, "a" * 64, 1_795_000_000.5))
    cps.append(file, cps.sign(key, 9, "b" * 64, 1_795_000_060.5))
    last = cps.latest(file)
    assert last is not None and (last.seq, last.head) == (9, "b" * 64)
    cps.check_signature(last, key.public_key())
    data = json.loads(last.to_line())
    data["seq"] = 12
    with pytest.raises(cps.CheckpointError, match="does not verify"):
        cps.check_signature(cps.parse(json.dumps(data), "x"), key.public_key())
    other = cps.relay_key(tmp_path / "other")
    with pytest.raises(cps.CheckpointError, match="not by this relay's key"):
        cps.check_signature(last, other.public_key())
    with pytest.raises(cps.CheckpointError, match="not a checkpoint"):
        cps.parse("{not json", "x")
