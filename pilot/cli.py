"""`lookout-pilot rehearse PLAN --speed N --out DIR [--seed S]`, `invites` and `review`.

Writes `DIR/metrics.json` (the plan's metric names, `backend_client.pilots.METRICS`, and
the detail: reports per act and day, participants per group, every inject with its
lateness, time to first response per act, each expected action met or missed, alert
reach), `DIR/metrics.csv` (every metric as a row), `DIR/run.json` (what the runner did,
to compare), `DIR/report.pdf` (the after-action report: `console/pilots/report.py`, run
as a child process so this package needs no Qt; `--no-report` skips it) and keeps the
relay's data in `DIR/relay`. Exit status 2 for a plan that does not load, 1 if the
rehearsal or the report fails.

`lookout-pilot invites --relay URL --ca FILE --user NAME --pilot ID --group G --count N
--portal-url URL --out DIR` issues the codes (`pilot.invite`, as an inspector: password
and TOTP code are asked for) and prints the invitations: DIR gets a QR code per code
(`<CODE>.png`), `invites.pdf`, the cards to cut out, and `codes.json`, the replies (owner
only: the relay shows codes once). `--codes FILE --title T` instead of the relay options
prints codes already issued: one `pilot.invites` reply (JSON) or a list of them. `--plan
PLAN.toml` names each group on the cards by its title in the plan (else by its short name,
all a reply holds) and gives the title when --title is left out. Exit
status 2 for options or a file that are not right, 1 if the relay refuses.

`lookout-pilot review PLAN --relay URL --ca FILE --user NAME (--from-dates | --started-at
ISO-8601 | --run-log FILE) --out DIR [--pilot ID]` reviews a real pilot (running or
ended): the relay computes its metrics from its own records (`pilot.review`, as an
inspector, supervisor or admin: password and TOTP code are asked for, as for `invites`)
with the plan it ran (PLAN: a file or a shipped plan's name; the pilot id is the plan's
unless --pilot) and how plan time maps: the plan's dates, a start time (plan time 0 then,
never paused; without an offset it is read in the plan's time zone) or the run log
`lookout --run-pilot` saved (its pauses left out, its prompts' times). DIR (new or empty)
gets `metrics.json` (the relay's `pilot.reviewed` object as it came), `metrics.csv` and
`report.pdf`, as `rehearse` writes them. Exit status 2 for options, a plan or a run log
that are not right, 1 if the relay refuses (its reason on one line) or the report fails.
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

from backend_client import messages as m
from backend_client.pilots import (
    Plan,
    PlanError,
    available,
    dumps,
    expected_reports,
    find,
    load,
    pilot_id_of,
)
from backend_client.pilots.timemap import RunLog, RunLogError
from pilot import invites, metrics, review, signin
from pilot.printing import PrintError, run_console_tool
from pilot.rehearsal import RunLog as RehearsalLog
from pilot.rehearsal import pilot_slug, rehearse


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lookout-pilot", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("rehearse", help="run a plan in compressed time with simulated people")
    r.add_argument(
        "plan",
        type=Path,
        help="a pilot plan (TOML), or the name of a shipped one: " + ", ".join(available()),
    )
    r.add_argument("--speed", type=float, default=600.0, help="times faster than real time")
    r.add_argument("--out", type=Path, required=True, help="a new (or empty) directory")
    r.add_argument("--seed", type=int, default=1, help="the same seed sends the same reports")
    r.add_argument("--no-report", action="store_true", help="skip DIR/report.pdf")
    r.add_argument("-v", "--verbose", action="store_true")
    i = sub.add_parser("invites", help="QR codes and a printable sheet of invite codes")
    i.add_argument("--relay", help="the relay, wss://host:port (issue the codes there)")
    i.add_argument("--ca", type=Path, help="the relay's CA certificate (PEM)")
    i.add_argument("--user", help="an inspector's (or supervisor's, admin's) user name")
    i.add_argument("--pilot", help="the pilot's id, e.g. preston-2017")
    i.add_argument("--group", help="the participant group the codes are for")
    i.add_argument("--count", type=int, help="how many codes (one per participant)")
    i.add_argument("--valid-days", type=float, default=14.0, help="how long the codes work")
    i.add_argument(
        "--codes",
        type=Path,
        help="instead of --relay: pilot.invites replies (JSON) already received",
    )
    i.add_argument("--title", help="the pilot's title on the cards (default: the relay's)")
    i.add_argument(
        "--plan",
        type=Path,
        help="the pilot's plan (TOML): its groups' titles on the cards, its title by default",
    )
    i.add_argument(
        "--portal-url",
        required=True,
        help="the citizens' portal, e.g. https://lookout.example.org (the QR codes open it)",
    )
    i.add_argument("--out", type=Path, required=True, help="a new (or empty) directory")
    v = sub.add_parser("review", help="a real pilot's metrics and report, from the relay")
    v.add_argument(
        "plan",
        type=Path,
        help="the plan the pilot ran (TOML), or the name of a shipped one: "
        + ", ".join(available()),
    )
    v.add_argument("--relay", required=True, metavar="URL", help="the relay, wss://host:port")
    v.add_argument(
        "--ca", type=Path, required=True, metavar="FILE", help="the relay's CA certificate (PEM)"
    )
    v.add_argument(
        "--user",
        required=True,
        metavar="NAME",
        help="an inspector's (or supervisor's, admin's) user name",
    )
    v.add_argument(
        "--pilot", metavar="ID", help="the pilot's id on the relay (default: the plan's)"
    )
    how = v.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--from-dates", action="store_true", help="plan time at the plan's dates and times"
    )
    how.add_argument(
        "--started-at",
        metavar="ISO-8601",
        help="plan time 0 then, never paused (no offset: the plan's time zone)",
    )
    how.add_argument(
        "--run-log",
        type=Path,
        metavar="FILE",
        help="a run's log as lookout --run-pilot saves it (its pauses, its prompts' times)",
    )
    v.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="a new (or empty) directory"
    )
    return p


def _invites(args: argparse.Namespace) -> int:
    def fail(why: str) -> int:
        print(f"lookout-pilot: {why}", file=sys.stderr)
        return 2

    if not str(args.portal_url).startswith("https://"):
        return fail("--portal-url must start with https://")
    out: Path = args.out
    if out.exists() and any(out.iterdir()):
        return fail(f"{out} is not empty: give a new directory")
    plan: Plan | None = None
    if args.plan is not None:
        try:
            plan = load(args.plan)
        except PlanError as exc:
            return fail(str(exc))
    titles = invites.group_titles(plan) if plan is not None else None
    if args.codes is not None:
        if not args.title and plan is not None:
            args.title = plan.title
        if not args.title:
            return fail("--codes needs --title (or --plan)")
        try:
            data = json.loads(Path(args.codes).read_text())
            replies = data if isinstance(data, list) else [data]
            batches = [invites.Invites.from_reply(r) for r in replies if isinstance(r, dict)]
            if len(batches) != len(replies):
                raise ValueError("every entry must be a pilot.invites reply (a JSON object)")
        except (OSError, ValueError) as exc:
            return fail(f"{args.codes}: {exc}")
        title: str = args.title
    else:
        needed = ("relay", "ca", "user", "pilot", "group", "count")
        missing = [f"--{n}" for n in needed if getattr(args, n) is None]
        if missing:
            return fail(f"give --codes, or {', '.join(missing)}")
        if not (1 <= args.count <= 10_000) or not (0 < args.valid_days <= 366):
            return fail("--count is 1 to 10000, --valid-days more than 0")
        who = signin.ask(args.relay, args.ca, args.user)
        out.mkdir(parents=True, exist_ok=True)
        try:
            got, batches = asyncio.run(_issue(args, who))
        except signin.REFUSALS as exc:
            print(f"lookout-pilot: the relay refused: {signin.one_line(exc)}", file=sys.stderr)
            return 1
        title = args.title or got
    out.mkdir(parents=True, exist_ok=True)
    codes = out / "codes.json"
    codes.touch(mode=0o600)
    codes.write_text(json.dumps([invites.to_reply(b) for b in batches], indent=2) + "\n")
    try:
        count = invites.write_all(batches, title, args.portal_url, out, titles)
    except PrintError as exc:  # the codes are kept in codes.json: print them again later
        print(f"lookout-pilot: {exc}; the codes are in {codes}", file=sys.stderr)
        return 1
    print(f"{count} invitations -> {out / 'invites.pdf'} and {count} PNGs")
    return 0


async def _issue(args: argparse.Namespace, who: signin.SignIn) -> tuple[str, list[invites.Invites]]:
    async with signin.signed_in(who) as client:
        return await invites.issue(
            client, args.pilot, args.group, args.count, args.valid_days * 86400.0
        )


def _review(args: argparse.Namespace) -> int:
    def fail(why: str) -> int:
        print(f"lookout-pilot: {why}", file=sys.stderr)
        return 2

    try:
        plan = load(find(args.plan))
    except PlanError as exc:
        return fail(str(exc))  # a plan's problems, one per line, as rehearse shows them
    pilot_id: str = args.pilot or pilot_id_of(plan)
    out: Path = args.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        return fail(f"{out} is not empty: give a new directory")
    try:
        if args.run_log is not None:
            how = review.from_run_log(RunLog.load(args.run_log), pilot_id, args.run_log)
        elif args.started_at is not None:
            how = review.from_start(review.started_at(args.started_at, plan))
        else:
            how = review.from_dates()
    except (RunLogError, review.ClockError) as exc:
        return fail(str(exc))
    who = signin.ask(args.relay, args.ca, args.user)
    try:
        got = asyncio.run(_fetch_review(who, review.request(pilot_id, plan, how)))
    except signin.REFUSALS as exc:
        print(f"lookout-pilot: the relay refused: {signin.one_line(exc)}", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(got, indent=2) + "\n")
    metrics.write_csv(got, out / "metrics.csv")
    try:
        write_report(plan, out)
    except ReportError as exc:
        print(f"lookout-pilot: {exc}; the metrics are in {out}", file=sys.stderr)
        return 1
    print(
        f"{pilot_id}: {got.get('reports')} reports, {got.get('participants')} participants, "
        f"{got.get('expected_actions_met')} expected actions met, "
        f"{got.get('expected_actions_missed')} missed -> {out / 'metrics.json'}, "
        f"{out / 'metrics.csv'}, {out / 'report.pdf'}"
    )
    return 0


async def _fetch_review(who: signin.SignIn, msg: m.PilotReview) -> dict[str, Any]:
    async with signin.signed_in(who) as client:
        return await review.review(client, msg)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "invites":
        return _invites(args)
    if args.command == "review":
        return _review(args)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    if not args.verbose:
        for noisy in ("relay", "websockets", "backend_client"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    if not (args.speed > 0):
        print("lookout-pilot: --speed must be more than 0", file=sys.stderr)
        return 2
    try:
        plan = load(find(args.plan))
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
    result = metrics_of(plan, out, log, speed)
    result["seed"] = seed
    result["wall_s"] = log.wall_s
    (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    metrics.write_csv(result, out / "metrics.csv")
    (out / "run.json").write_text(json.dumps(asdict(log), indent=2) + "\n")
    return result


def metrics_of(plan: Plan, out: Path, log: RehearsalLog, speed: float) -> dict[str, Any]:
    """A finished rehearsal's metrics, from the relay's records in `out/relay`."""
    rec = metrics.read(out / "relay", plan, pilot_slug(plan), log.started_at, speed)
    return metrics.compute(
        plan,
        rec,
        started_at=log.started_at,
        speed=speed,
        burst_reports=log.burst_reports,
        prompts=log.prompts,
    )


class ReportError(Exception):
    """The after-action report could not be written."""


def write_report(plan: Plan, out: Path, timeout_s: float = 300.0) -> Path:
    """`out/report.pdf` from `out/metrics.json`, by `python -m console.pilots.report` in a
    child process (Qt stays in the console; offscreen unless QT_QPA_PLATFORM says
    otherwise). The plan is saved beside the metrics as `out/<name>.toml` for it."""
    plan_file = out / f"{plan.name}.toml"
    plan_file.write_text(dumps(plan))
    pdf = out / "report.pdf"
    try:
        run_console_tool(
            "console.pilots.report",
            [str(plan_file), str(out / "metrics.json"), str(pdf)],
            pdf,
            "the report",
            timeout_s,
        )
    except PrintError as exc:
        raise ReportError(str(exc)) from exc
    return pdf
