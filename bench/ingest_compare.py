"""Ingest on SQLite and on PostgreSQL, one relay and several, in one run: medians of repeats.

    flock /work/notes/bench.lock python bench/ingest_compare.py --repeats 3

Runs bench/ingest.py once per setup and repeat, the setups interleaved (so a slow minute
on a shared machine hits every setup alike, not one): SQLite with one relay (the
baseline), PostgreSQL with one relay and with `--relays` relays (each run on a fresh
throwaway server with fsync and synchronous_commit on, bench/_pg.py). Each run's JSON goes to stderr as it ends;
the last line printed is one JSON object: per setup, the median of each figure and the
runs' reports_per_s, lost and duplicates.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: figures whose median is reported per setup
FIGURES = (
    "reports_per_s",
    "p50_ack_ms",
    "p99_ack_ms",
    "jobs_per_batch",
    "batch_ms_mean",
    "lock_wait_ms_per_batch",
    "lock_held_ms_per_batch",
    "writer_cpu_ms_per_report",
    "relay_cpu_ms_per_report",
    "postgres_cpu_ms_per_report",
    "client_cpu_ms_per_report",
    "follower_reads",
    "loadavg_1m",
)


def setups(relays: int) -> dict[str, list[str]]:
    return {
        "sqlite_1": [],
        "postgres_1": ["--postgres"],
        f"postgres_{relays}": ["--postgres", "--relays", str(relays), "--procs", "2"],
    }


def run_one(extra: list[str], args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / "ingest.py"), "--reports", str(args.reports), *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=330)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--reports", type=int, default=20000)
    ap.add_argument("--relays", type=int, default=3)
    args = ap.parse_args()
    plan = setups(args.relays)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in plan}
    for i in range(args.repeats):
        for name, extra in plan.items():
            result = run_one(extra, args)
            runs[name].append(result)
            print(f"[compare] {name} #{i + 1}: {json.dumps(result)}", file=sys.stderr, flush=True)
    summary: dict[str, Any] = {}
    for name, results in runs.items():
        med = {
            f: statistics.median(r[f] for r in results if r.get(f) is not None)
            for f in FIGURES
            if any(r.get(f) is not None for r in results)
        }
        summary[name] = {
            "median": med,
            "runs_reports_per_s": [r["reports_per_s"] for r in results],
            "lost": sum(r["lost"] for r in results),
            "duplicates": sum(r["duplicates"] for r in results),
            "event_seq_gaps": sum(r["event_seq_gaps"] for r in results),
            "settings": results[0]["settings"],
        }
    summary["reports_per_run"] = args.reports
    summary["repeats"] = args.repeats
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
