"""`lookout-pilot rehearse PLAN --speed N --out DIR [--seed S]`, and `lookout-pilot invites`.

Writes `DIR/metrics.json` (the plan's metric names, `backend_client.pilots.METRICS`, and
the detail: reports per act and day, participants per group, every inject with its
lateness, time to first response per act, each expected action met or missed, alert
reach), `DIR/metrics.csv` (every metric as a row), `DIR/run.json` (what the runner did,
to compare) and keeps the relay's data in `DIR/relay`. Exit status 2 for a plan that
does not load, 1 if the rehearsal fails.

`lookout-pilot invites --codes FILE --title T --portal-url URL --out DIR` prints the
invitations (`pilot.invites`): FILE holds one `pilot.invites` reply (JSON) or a list of
them, as an officer's client received them; DIR gets a QR code per code (`<CODE>.png`)
and `invites.pdf`, the cards to cut out. Exit status 2 for a file that is not that.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from backend_client.pilots import Plan, PlanError, expected_reports, load
from pilot import invites, metrics
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
    r.add_argument("-v", "--verbose", action="store_true")
    i = sub.add_parser("invites", help="QR codes and a printable sheet for issued invite codes")
    i.add_argument(
        "--codes",
        type=Path,
        required=True,
        help="a pilot.invites reply (JSON), or a list of them, as the relay sent them",
    )
    i.add_argument("--title", required=True, help="the pilot's title, printed on every card")
    i.add_argument(
        "--portal-url",
        required=True,
        help="the citizens' portal, e.g. https://lookout.example.org (the QR codes open it)",
    )
    i.add_argument("--out", type=Path, required=True, help="a new (or empty) directory")
    return p


def _invites(args: argparse.Namespace) -> int:
    if not str(args.portal_url).startswith("https://"):
        print("lookout-pilot: --portal-url must start with https://", file=sys.stderr)
        return 2
    try:
        data = json.loads(Path(args.codes).read_text())
        replies = data if isinstance(data, list) else [data]
        batches = [invites.Invites.from_reply(r) for r in replies if isinstance(r, dict)]
        if len(batches) != len(replies):
            raise ValueError("every entry must be a pilot.invites reply (a JSON object)")
    except (OSError, ValueError) as exc:
        print(f"lookout-pilot: {args.codes}: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out
    if out.exists() and any(out.iterdir()):
        print(f"lookout-pilot: {out} is not empty: give a new directory", file=sys.stderr)
        return 2
    count = invites.write_all(batches, args.title, args.portal_url, out)
    print(f"{count} invitations -> {out / 'invites.pdf'} and {count} PNGs")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "invites":
        return _invites(args)
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
    print(
        f"{plan.name}: {result['reports']} reports (about {expected_reports(plan):.0f} expected), "
        f"{result['participants']} participants, {result['injects_fired']}/"
        f"{result['injects_planned']} injects fired (p99 lateness "
        f"{result['inject_lateness_s']['p99']} plan s), {result['expected_actions_met']} "
        f"expected actions met, {result['expected_actions_missed']} missed; "
        f"wall {result['wall_s']} s -> {out / 'metrics.json'}"
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
