"""Benchmark evidence packages: export time, and the verifier's hashing beside sha256sum.

    python bench/evidence.py                                # the target: 10,000 reports, ~1 GB
    python bench/evidence.py --reports 2000 --media-mb 100  # quick check

The case is written straight into a temporary data dir with the relay's models and audit
chain (over the wire it would take longer than the export) by
`tests/support/evidence_scale.py`: one device, one incident, `--reports` reports linked
to it (every one with an audit record, `report.link`), a chat message on every tenth, an
alert sent and updated, and `--media-files` random media files totalling about
`--media-mb` MiB attached to the first reports, stored where the relay's media store keeps
them. Then, in this process and run:

- `export_s`: `relay.evidence.export` of the incident (the CLI's path: one read
  transaction, every media file copied and re-hashed, the manifest signed, the export
  audited), and the package's size;
- `verify_s`: `evidence.verify.verify` of the package, pinned to the relay's key (every
  entry hashed, the signature, the Merkle root, the audit chain), and
  `verifier_mb_per_s` = package MiB / verify_s;
- `sha256sum_mb_per_s`: coreutils `sha256sum` over the same media files (stored copies,
  warm in the page cache as the package is), media MiB / its wall time; `ratio` =
  verifier / sha256sum (target >= 0.8).

- `workspace_first_paint_s`: `lookout --evidence PKG --screenshot` run offscreen with
  `LOOKOUT_TIMING=1`, three times: the median of the workspace's own mark, from its
  process's start (the kernel's start time) to the timeline's first finished paint with
  the package's events (target <= 2 s);
- `workspace_open_s`: the median wall time of those runs to the screenshot written (every
  pane painted and the map settled): an upper bound of the first.

Progress goes to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This file's name would shadow the `evidence` package (the verifier) for a script run
# from here: take bench/ off the path until the project's packages are imported.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))  # the checkout: the case builder is tests/support's

from evidence.verify import verify  # noqa: E402
from relay import admin, checkpoints, evidence  # noqa: E402
from tests.support.evidence_scale import INCIDENT, MIB, make_case  # noqa: E402

sys.path.append(str(_HERE))
from _common import make_log  # noqa: E402

log = make_log("evidence")
RUNS = 3  # workspace opens; the median is reported


def _workspace_open_s(package: Path, fingerprint: str, work: Path) -> tuple[float, float]:
    """Wall time of `lookout --evidence PKG --screenshot`, offscreen, to its screenshot
    (the program's start, verifying the package, loading it, and painting every pane),
    and the workspace's own mark of its first painted timeline (`LOOKOUT_TIMING`)."""
    lookout = Path(sys.executable).with_name("lookout")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(work), LOOKOUT_TIMING="1")
    shot = work / "workspace.png"
    cmd = [str(lookout), "--evidence", str(package), "--fingerprint", fingerprint]
    t = time.perf_counter()
    done = subprocess.run(
        [*cmd, "--screenshot", str(shot), "--quit-after", "0.01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    took = time.perf_counter() - t
    if done.returncode != 0 or not shot.exists():
        raise SystemExit(f"the workspace did not open the package: {done.stderr[-2000:]}")
    marks = re.findall(r"^timeline painted after ([0-9.]+) s$", done.stderr, re.MULTILINE)
    if not marks:
        raise SystemExit(f"the workspace printed no first-paint mark: {done.stderr[-2000:]}")
    return took, float(marks[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reports", type=int, default=10_000)
    ap.add_argument("--media-mb", type=float, default=1024.0, help="total media, MiB")
    ap.add_argument("--media-files", type=int, default=205, help="~5 MiB each by default")
    ap.add_argument("--dir", type=Path, default=None, help="work here (default: a temp dir)")
    args = ap.parse_args()
    if args.reports < 1 or args.media_files > args.reports * 8:
        ap.error("need at least one report, and at most 8 media files per report")
    sha256sum = shutil.which("sha256sum")
    if sha256sum is None:
        ap.error("sha256sum (coreutils) is not on PATH")
    work = Path(tempfile.mkdtemp(prefix="lookout-bench-evidence-", dir=args.dir))
    try:
        data_dir = work / "relay"
        log(f"writing {args.reports} reports and {args.media_files} files, {args.media_mb} MiB")
        t = time.perf_counter()
        files = list(
            make_case(
                data_dir,
                args.reports,
                media_files=args.media_files,
                media_mb=args.media_mb,
            ).media
        )
        setup_s = time.perf_counter() - t
        media_bytes = sum(p.stat().st_size for p in files)

        log("exporting")
        engine = admin.open_engine(data_dir)
        out = work / "bench.lookout-evidence"
        t = time.perf_counter()
        try:
            done = evidence.export(
                engine,
                data_dir,
                out,
                reason="bench",
                selectors=evidence.Selectors(incidents=(INCIDENT,)),
            )
        finally:
            engine.dispose()
        export_s = time.perf_counter() - t
        package_bytes = out.stat().st_size

        log("sha256sum over the media files")
        t = time.perf_counter()
        for at in range(0, len(files), 256):  # one process per 256 files (argv length)
            subprocess.run(
                [sha256sum, *map(str, files[at : at + 256])],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        sum_s = time.perf_counter() - t

        log("verifying")
        fp = checkpoints.fingerprint(checkpoints.relay_key(data_dir).public_key())
        t = time.perf_counter()
        result = verify(out, fingerprint=fp)
        verify_s = time.perf_counter() - t
        if not result.ok:
            raise SystemExit(f"the package did not verify: {result.failures[:3]}")

        log("opening it in the analyst's workspace (lookout --evidence --screenshot)")
        opens = [_workspace_open_s(out, fp, work) for _ in range(RUNS)]
        workspace_s = statistics.median(t for t, _ in opens)
        first_paint_s = statistics.median(p for _, p in opens)

        verifier = package_bytes / MIB / verify_s
        coreutils = media_bytes / MIB / sum_s if sum_s > 0 else None
        print(
            json.dumps(
                {
                    "bench": "evidence",
                    "reports": args.reports,
                    "media_files": len(files),
                    "media_mb": round(media_bytes / MIB, 1),
                    "package_mb": round(package_bytes / MIB, 1),
                    "audit_records": done.counts["audit_records"],
                    "setup_s": round(setup_s, 2),
                    "export_s": round(export_s, 2),
                    "verify_s": round(verify_s, 2),
                    "verifier_mb_per_s": round(verifier, 1),
                    "sha256sum_mb_per_s": None if coreutils is None else round(coreutils, 1),
                    "ratio": None if coreutils is None else round(verifier / coreutils, 3),
                    "ratio_target": 0.8,
                    "workspace_first_paint_s": round(first_paint_s, 3),
                    "workspace_first_paint_runs_s": [round(p, 3) for _, p in opens],
                    "workspace_open_s": round(workspace_s, 2),
                    "workspace_target_s": 2.0,
                    "workspace_note": "first_paint: the workspace's own mark, from its "
                    "process's start to the timeline's first paint with the package's events "
                    f"(median of {RUNS}); open: start of `lookout --evidence` to its "
                    "screenshot written (every pane painted, the map settled), an upper bound",
                    "cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(),
                }
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
