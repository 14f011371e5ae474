"""Benchmark the data exports: `lookout-relay export` of 10,000 reports in each format.

    python bench/exports.py                  # 10,000 reports, 3 runs of each format
    python bench/exports.py --reports 2000   # quick check

The case is the evidence bench's (`tests/support/evidence_scale.py`): one incident with
`--reports` reports linked to it, written straight into a temporary data dir with the
relay's models. Then, in this process, for each kind (reports, incidents) and format
(geojson, kml, csv), `--runs` times, alternating the formats so the machine's noise falls
on all of them:

- `<kind>_<format>_s`: the median wall time of `relay.exports.export` (the CLI's path: one
  read transaction, the pure writer, the file hashed and audited, then put in place);
- `<kind>_<format>_mb`: the file's size in MiB;
- `peak_rss_mb`: this process's peak resident memory after all the runs (the writers build
  the file in memory: this is the bound an operator sees).

Progress goes to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# the checkout's packages first (the case builder is tests/support's), then this folder
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from backend_client import exports as ex  # noqa: E402
from relay import admin, evidence, exports  # noqa: E402
from tests.support.evidence_scale import INCIDENT, make_case  # noqa: E402

sys.path.append(str(_HERE))
from _common import make_log  # noqa: E402

log = make_log("exports")
MIB = 1024 * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reports", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None, help="work here (default: a temp dir)")
    args = ap.parse_args()
    if args.reports < 1 or args.runs < 1:
        ap.error("need at least one report and one run")
    work = Path(tempfile.mkdtemp(prefix="lookout-bench-exports-", dir=args.dir))
    try:
        data_dir = work / "relay"
        log(f"writing {args.reports} reports")
        t = time.perf_counter()
        make_case(data_dir, args.reports)
        setup_s = time.perf_counter() - t
        engine = admin.open_engine(data_dir)
        times: dict[str, list[float]] = {}
        sizes: dict[str, float] = {}
        try:
            for run in range(args.runs):
                for kind in ("reports", "incidents"):
                    for fmt in ex.FORMATS:
                        key = f"{kind}_{fmt}"
                        out = work / f"{key}{ex.SUFFIXES[fmt]}"
                        sel = evidence.Selectors(incidents=(INCIDENT,))
                        t = time.perf_counter()
                        done = exports.export(engine, out, kind=kind, fmt=fmt, selectors=sel)
                        times.setdefault(f"{key}_s", []).append(time.perf_counter() - t)
                        sizes[f"{key}_mb"] = round(out.stat().st_size / MIB, 2)
                        if kind == "reports" and done.count != args.reports:
                            raise SystemExit(f"{key}: {done.count} items, not {args.reports}")
                log(f"run {run + 1}/{args.runs} done")
        finally:
            engine.dispose()
        result: dict[str, object] = {
            "bench": "exports",
            "reports": args.reports,
            "runs": args.runs,
            "setup_s": round(setup_s, 2),
            **{k: round(statistics.median(v), 3) for k, v in times.items()},
            **sizes,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "python": platform.python_version(),
        }
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
