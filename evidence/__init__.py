"""Lookout evidence packages: the format and a standalone verifier.

Depends on `cryptography` and the standard library only (an import-linter contract and
tests/unit/test_evidence_format.py prove it), so an analyst, a court or a defence expert can
run `lookout-evidence verify` without the relay, and the workspace can call `verify` as a
library. docs/evidence.md specifies everything here byte by byte.
"""
