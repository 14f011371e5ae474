"""`lookout-pilot rehearse PLAN --speed N --out DIR [--seed S]`.

Writes `DIR/metrics.json` (the plan's metric names, `backend_client.pilots.METRICS`, and
the detail: reports per act and day, participants per group, every inject with its
lateness, time to first response per act, each expected action met or missed, alert
reach), `DIR/metrics.csv` (every metric as a row), `DIR/run.json` (what the runner did,
to compare), `DIR/report.pdf` (the after-action report: `console/pilots/report.py`, run
as a child process so this package needs no Qt; `--no-report` skips it) and keeps the
relay's data in `DIR/relay`. Exit status 2 for a plan that does not load, 1 if the
rehearsal or the report fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from backend_client.pilots import Plan, PlanError, dumps, expected_reports, load
from pilot import metrics
from pilot.rehearsal import pilot_slug, rehearse


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lookout-pilot", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("rehearse", help="run a plan in compressed time with simulated people")
    r.add_argument(
        "plan", type=Path, help="a pilot plan (TOML), e.g. resources/pilots/preston-2017.toml"
    )
    r.add_argument("--speed", type=float, default=600.0, help="times faster than real time")
    r.add_argument("--out", type=Path, required=True, help="a new (or empty) directory")
    r.add_argument("--seed", type=int, default=1, help="the same seed sends the same reports")
    r.add_argument("--no-report", action="store_true", help="skip DIR/report.pdf")
    r.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    if not args.verbose:
        for noisy in ("relay", "websockets", "backend_client"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    if not (args.speed > 0):
        print("lookout-pilot: --speed must be more than 0", file=sys.stderr)
        return 2
    try:
        plan = load(args.plan)
    except PlanError as exc:
        print(exc, file=sys.stderr)
        return 2
    out: Path = args.out
    if out.exists() and any(out.iterdir()):
        print(f"lookout-pilot: {out} is not empty: give a new directory", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    result = run(plan, out, args.speed, args.seed)
    if not args.no_report:
        try:
            write_report(plan, out)
        except ReportError as exc:
            print(f"lookout-pilot: {exc}", file=sys.stderr)
            return 1
    print(
        f"{plan.name}: {result['reports']} reports (about {expected_reports(plan):.0f} expected), "
        f"{result['participants']} participants, {result['injects_fired']}/"
        f"{result['injects_planned']} injects fired (p99 lateness "
        f"{result['inject_lateness_s']['p99']} plan s), {result['expected_actions_met']} "
        f"expected actions met, {result['expected_actions_missed']} missed; "
        f"wall {result['wall_s']} s -> {out / 'metrics.json'}"
        + ("" if args.no_report else f", {out / 'report.pdf'}")
    )
    return 0


def run(plan: Plan, out: Path, speed: float, seed: int) -> dict[str, Any]:
    """Rehearse, then read the metrics from the relay's records and write them to `out`."""
    log = asyncio.run(rehearse(plan, out, speed, seed))
    rec = metrics.read(out / "relay", plan, pilot_slug(plan), log.started_at, speed)
    result = metrics.compute(
        plan,
        rec,
        started_at=log.started_at,
        speed=speed,
        burst_reports=log.burst_reports,
        prompts=log.prompts,
    )
    result["seed"] = seed
    result["wall_s"] = log.wall_s
    (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    metrics.write_csv(result, out / "metrics.csv")
    (out / "run.json").write_text(json.dumps(asdict(log), indent=2) + "\n")
    return result


class ReportError(Exception):
    """The after-action report could not be written."""


def write_report(plan: Plan, out: Path, timeout_s: float = 300.0) -> Path:
    """`out/report.pdf` from `out/metrics.json`, by `python -m console.pilots.report` in a
    child process (Qt stays in the console; offscreen unless QT_QPA_PLATFORM says
    otherwise). The plan is saved beside the metrics as `out/<name>.toml` for it."""
    plan_file = out / f"{plan.name}.toml"
    plan_file.write_text(dumps(plan))
    pdf = out / "report.pdf"
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    cmd = [sys.executable, "-m", "console.pilots.report", str(plan_file), str(out / "metrics.json")]
    try:
        done = subprocess.run(
            [*cmd, str(pdf)], env=env, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired as exc:
        raise ReportError(f"the report took over {timeout_s:.0f} s") from exc
    if done.returncode != 0 or not pdf.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ReportError("the report failed: " + " | ".join(tail))
    return pdf
