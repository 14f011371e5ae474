"""`lookout-evidence verify FILE [--key PUBFILE | --fingerprint F] [--json]`.

Exit status: 0 when every check passes, 1 when any fails, 2 for a usage error (a key
file that cannot be read). docs/evidence.md says what each check means.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from pathlib import Path

from evidence import format as f
from evidence.verify import load_public_key, verify


def _version() -> str:
    """Lookout's one version (as backend_client.version says it; the verifier imports
    only the standard library and cryptography, so it reads the metadata itself)."""
    try:
        return importlib.metadata.version("lookout")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lookout-evidence", description="Check a Lookout evidence package offline."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    ver = sub.add_parser(
        "verify",
        help="check the signature, every file's hash, the Merkle root and the audit extract",
    )
    ver.add_argument("file", type=Path, help=f"the package ({f.SUFFIX})")
    pin = ver.add_mutually_exclusive_group()
    pin.add_argument(
        "--key",
        type=Path,
        help="the relay's evidence public key (PEM, or base64 of the raw key) to pin",
    )
    pin.add_argument(
        "--fingerprint", help="the relay's evidence key fingerprint (SHA-256 hex) to pin"
    )
    ver.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    key = None
    if args.key is not None:
        try:
            key = load_public_key(args.key.read_bytes())
        except (OSError, ValueError) as exc:
            print(f"cannot use --key {args.key}: {exc}", file=sys.stderr)
            return 2
    if args.fingerprint is not None and not f.HEX64.fullmatch(
        f.normalise_fingerprint(args.fingerprint)
    ):
        print("--fingerprint must be 64 hex digits (SHA-256)", file=sys.stderr)
        return 2
    result = verify(args.file, key=key, fingerprint=args.fingerprint)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0 if result.ok else 1
    for check in result.checks:
        print(check.line())
    if result.sidecar is not None:  # the analyst's notes: reported, not part of the verdict
        print(f"{result.sidecar.line()} (the review's notes, not part of the package)")
    failed = len(result.failures)
    if result.ok:
        print(f"VERIFIED: all {len(result.checks)} checks passed")
    else:
        print(f"NOT VERIFIED: {failed} of {len(result.checks)} checks failed")
    if not result.pinned and key is None and args.fingerprint is None:
        print(
            f"SIGNER NOT PINNED: signed by key {result.fingerprint or '(none)'}; compare it "
            "with the relay's evidence key fingerprint (`lookout-relay serve` prints it) or "
            "give --fingerprint or --key"
        )
    elif result.pinned:
        print(f"signer pinned: {result.fingerprint}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
