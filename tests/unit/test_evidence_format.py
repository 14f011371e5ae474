"""The evidence format's byte-level rules: the verifier's own copies of the audit hash and
the checkpoint message agree with the relay's, the Merkle tree is RFC 9162's, and the
verifier imports nothing but `cryptography` and the standard library."""

from __future__ import annotations

import ast
import hashlib
import sys
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence import format as fmt
from relay import admin, audit, checkpoints
from relay.db import models as db

ROOT = Path(__file__).resolve().parents[2]


def test_the_audit_hash_agrees_with_the_relays_on_real_records(tmp_path):
    engine = admin.open_engine(tmp_path)
    try:
        admin.add_officer(engine, "dana", "dispatcher", "correct horse battery staple 9")
        admin.add_officer(engine, "zoë «ann»", "analyst", "correct horse battery staple 9")
        admin.disable_officer(engine, "dana")
        with Session(engine) as s:
            rows = list(s.scalars(select(db.AuditLog).order_by(db.AuditLog.seq)))
    finally:
        engine.dispose()
    assert len(rows) == 3
    for r in rows:
        fields = (r.prev_hash, r.seq, r.at, r.actor, r.action, r.subject, r.detail)
        assert fmt.audit_record_hash(*fields) == r.hash == audit.record_hash(*fields)


@given(
    st.integers(min_value=1, max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.text(),
    st.text(),
    st.text(),
)
def test_the_audit_hash_agrees_on_any_fields(seq, at, actor, action, subject, detail):
    prev = hashlib.sha256(actor.encode("utf-8", "surrogatepass")).hexdigest()
    assert fmt.audit_record_hash(prev, seq, at, actor, action, subject, detail) == (
        audit.record_hash(prev, seq, at, actor, action, subject, detail)
    )


def test_the_checkpoint_message_and_fingerprint_agree_with_the_relays(tmp_path):
    key = checkpoints.relay_key(tmp_path)
    cp = checkpoints.sign(key, 7, "ab" * 32, time.time())
    assert fmt.checkpoint_message(cp.seq, cp.head, cp.at, cp.key) == cp.message()
    raw = checkpoints.trusted_key(tmp_path)
    assert raw is not None
    import base64

    assert fmt.fingerprint_of(base64.b64decode(cp.public_key)) == checkpoints.fingerprint(raw)


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_the_merkle_tree_is_rfc_9162s():
    leaves = [b"a", b"b", b"c", b"d", b"e"]
    lh = [_h(b"\x00" + x) for x in leaves]

    def node(a: bytes, b: bytes) -> bytes:
        return _h(b"\x01" + a + b)

    assert fmt.merkle_root([]) == hashlib.sha256(b"").hexdigest()
    assert fmt.merkle_root(leaves[:1]) == lh[0].hex()
    assert fmt.merkle_root(leaves[:2]) == node(lh[0], lh[1]).hex()
    # n = 3 splits at 2: ((a b) c); n = 5 splits at 4: (((a b)(c d)) e)
    assert fmt.merkle_root(leaves[:3]) == node(node(lh[0], lh[1]), lh[2]).hex()
    four = node(node(lh[0], lh[1]), node(lh[2], lh[3]))
    assert fmt.merkle_root(leaves[:4]) == four.hex()
    assert fmt.merkle_root(leaves) == node(four, lh[4]).hex()


def test_a_leaf_is_path_hash_and_size_on_three_lines():
    assert fmt.leaf_data("media/ab", "cd" * 32, 12) == ("media/ab\n" + "cd" * 32 + "\n12").encode()


def test_the_signed_message_cannot_be_a_checkpoints():
    msg = fmt.signed_manifest(b"{}")
    assert msg == b"lookout.evidence.v1\n{}"
    assert not msg.startswith(b'["lookout.audit')


def _third_party_imports(package: Path) -> set[str]:
    found = set()
    for path in package.rglob("*.py"):
        for n in ast.walk(ast.parse(path.read_text())):
            if isinstance(n, ast.Import):
                found |= {a.name.split(".")[0] for a in n.names}
            elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
                found.add(n.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {package.name, "__future__"}


def test_the_check_finds_a_package_that_imports_more():
    assert {"sqlalchemy", "msgspec", "backend_client"} <= _third_party_imports(ROOT / "relay")


def test_the_verifier_needs_only_cryptography_and_the_standard_library():
    assert _third_party_imports(ROOT / "evidence") == {"cryptography"}
