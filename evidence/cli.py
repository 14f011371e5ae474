"""`lookout-evidence verify FILE [--key PUBFILE | --fingerprint F]
[--parent-key PUBFILE | --parent-fingerprint F] [--json]`, `stats`, and `key` (the
analyst's own signing key for disclosure packages).

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
from evidence import stats
from evidence.container import ContainerError, EntryError
from evidence.verify import Result, load_public_key, verify


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
    parent = ver.add_mutually_exclusive_group()
    parent.add_argument(
        "--parent-key",
        type=Path,
        help="for a disclosure package: the relay's evidence public key that signed its parent",
    )
    parent.add_argument(
        "--parent-fingerprint",
        help="for a disclosure package: the fingerprint of the relay key that signed its parent",
    )
    ver.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    key = sub.add_parser(
        "key",
        help="the analyst's disclosure signing key: public key (PEM) on stdout, fingerprint "
        "on stderr; made on first use",
    )
    key.add_argument(
        "--path",
        type=Path,
        help="the private key file (default: $LOOKOUT_ANALYST_KEY, else "
        "$XDG_DATA_HOME/lookout/analyst-ed25519.pem)",
    )
    st = sub.add_parser(
        "stats",
        help="counts by category, area, hour and weekday, and first-response times",
    )
    st.add_argument("file", type=Path, help=f"the package ({f.SUFFIX})")
    st.add_argument(
        "--tz", default="UTC", help="time zone for hours and weekdays (e.g. Europe/London)"
    )
    st.add_argument(
        "--grid-m", type=float, default=500.0, help="grid cell size, metres (default 500)"
    )
    st.add_argument("--area", type=Path, help="a GeoJSON Polygon: also count the reports inside it")
    st.add_argument("--csv", type=Path, metavar="DIR", help="write each table as DIR/<name>.csv")
    return parser


def _stats(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        tz = ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"unknown time zone {args.tz!r} (e.g. UTC, Europe/London)", file=sys.stderr)
        return 2
    ring = None
    if args.area is not None:
        try:
            ring = _polygon(json.loads(args.area.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            print(f"cannot use --area {args.area}: {exc}", file=sys.stderr)
            return 2
    result = verify(args.file)
    print(
        "package verified (signer not pinned: run `verify` to pin it)"
        if result.ok
        else f"WARNING: the package does NOT verify ({len(result.failures)} checks failed): "
        "these figures are of unverified content"
    )
    unread = sorted(
        {c.file for c in result.failures if c.check in ("file", "missing", "entry", "extra")}
        & {"reports.json", "chat.json", "audit.jsonl", f.MANIFEST}
    )
    if unread or any(c.check in ("package", "container") for c in result.failures):
        print(
            f"cannot compute figures: {', '.join(unread) or 'the ZIP'} did not verify",
            file=sys.stderr,
        )
        return 1
    try:
        figures = stats.compute(stats.load(args.file), tz=tz, cell_m=args.grid_m, area=ring)
    except (ContainerError, EntryError) as exc:
        print(f"cannot read the package's reports: {exc}", file=sys.stderr)
        return 1
    except (KeyError, ValueError, TypeError, AttributeError) as exc:  # signed, but misshapen
        print(f"cannot read the package's reports: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"reports: {figures.reports}")
    if figures.in_area is not None:
        print(f"inside {args.area.name}: {figures.in_area}")
    for name, n in figures.by_category.most_common():
        print(f"  {name}: {n}")
    busiest = max(range(24), key=lambda h: figures.by_hour[h])
    print(f"busiest hour ({args.tz}): {busiest:02d}:00 ({figures.by_hour[busiest]} reports)")
    print("first response:", json.dumps(figures.response_summary()))
    if args.csv is not None:
        args.csv.mkdir(parents=True, exist_ok=True)
        for name, rows in stats.tables(figures).items():
            (args.csv / f"{name}.csv").write_text(
                stats.write_csv(rows), encoding="utf-8", newline=""
            )
        print(f"tables written to {args.csv}/")
    return 0 if result.ok else 1


def _polygon(doc: object) -> list[list[float]]:
    """The outer ring of a GeoJSON Polygon (a geometry, a Feature, or a collection of one)."""
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features") or []
        if len(features) != 1:
            raise ValueError("the collection must hold exactly one Feature")
        doc = features[0]
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = doc.get("geometry")
    if not (isinstance(doc, dict) and doc.get("type") == "Polygon"):
        raise ValueError("not a GeoJSON Polygon")
    ring = doc["coordinates"][0]
    if len(ring) < 3:
        raise ValueError("a polygon needs 3 corners or more")
    return [[float(x), float(y)] for x, y, *_ in ring]


def _key(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives import serialization

    from evidence import disclosure

    path = args.path or disclosure.key_path()
    try:
        key = disclosure.analyst_key(path)
    except (OSError, ValueError) as exc:
        print(f"cannot use the analyst key {path}: {exc}", file=sys.stderr)
        return 1
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sys.stdout.write(pem.decode("ascii"))
    print(f"analyst key fingerprint (Ed25519): {disclosure.fingerprint(key)}", file=sys.stderr)
    print(f"key file: {path}", file=sys.stderr)
    return 0


def _pin(path: Path | None, fp: str | None, option: str) -> tuple[int, bytes | None]:
    """A pinned key from the command line: (0, key) or (2, None) after saying why."""
    key = None
    if path is not None:
        try:
            key = load_public_key(path.read_bytes())
        except (OSError, ValueError) as exc:
            print(f"cannot use --{option}key {path}: {exc}", file=sys.stderr)
            return 2, None
    if fp is not None and not f.HEX64.fullmatch(f.normalise_fingerprint(fp)):
        print(f"--{option}fingerprint must be 64 hex digits (SHA-256)", file=sys.stderr)
        return 2, None
    return 0, key


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "stats":
        return _stats(args)
    if args.command == "key":
        return _key(args)
    code, key = _pin(args.key, args.fingerprint, "")
    if code:
        return code
    code, parent_key = _pin(args.parent_key, args.parent_fingerprint, "parent-")
    if code:
        return code
    result = verify(
        args.file,
        key=key,
        fingerprint=args.fingerprint,
        parent_key=parent_key,
        parent_fingerprint=args.parent_fingerprint,
    )
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
        whose = (
            "the analyst's key fingerprint (they give it to you; `lookout-evidence key` prints it)"
            if result.kind == f.DISCLOSURE
            else "the relay's evidence key fingerprint (`lookout-relay serve` prints it)"
        )
        print(
            f"SIGNER NOT PINNED: signed by key {result.fingerprint or '(none)'}; compare it "
            f"with {whose} or give --fingerprint or --key"
        )
    elif result.pinned:
        print(f"signer pinned: {result.fingerprint}")
    if result.kind == f.DISCLOSURE:
        _say_parent(result, parent_key is not None or args.parent_fingerprint is not None)
    return 0 if result.ok else 1


def _say_parent(result: Result, pin_given: bool) -> None:
    print(
        "DISCLOSURE: made and signed by an analyst from a relay's package; its originals "
        "are the parent's byte for byte, its derived files say what was done and why"
    )
    if result.parent_pinned:
        print(f"parent signer pinned: {result.parent_fingerprint}")
    elif not pin_given:
        print(
            f"PARENT SIGNER NOT PINNED: the parent was signed by key "
            f"{result.parent_fingerprint or '(none)'}; compare it with the relay's evidence "
            "key fingerprint or give --parent-fingerprint or --parent-key"
        )


if __name__ == "__main__":
    raise SystemExit(main())
