"""`lookout-sim`: rehearse a pilot against a relay with simulated citizens.

    lookout-sim --relay wss://127.0.0.1:8765 --ca data/tls/ca.pem --devices 50 \\
        --scenario burglary --duration 120

Prints one JSON line with the run's counters when the duration ends or on Ctrl-C.

    lookout-sim --check resources/pilots/preston-2017.toml

checks a scenario file or a pilot plan (told apart by content: a plan has `days` or
`acts`) and prints every problem, naming the field, or one line saying what it holds;
exit status 2 if anything is wrong. Running a plan's acts in time is `lookout-pilot
rehearse`'s job, not this command's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from backend_client import pilots
from backend_client import scenarios as scenario_files
from backend_client.version import lookout_version
from simulator import scenarios
from simulator.runner import Summary, run_scenario


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lookout-sim",
        description="Simulated citizen phones that register, report (with photos and video), "
        "chat and acknowledge alerts, following a pilot scenario.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {lookout_version()}")
    p.add_argument("--relay", metavar="URL", help="relay address, e.g. wss://127.0.0.1:8765")
    p.add_argument("--ca", metavar="FILE", type=Path, help="the relay's CA certificate (PEM)")
    p.add_argument(
        "--devices", metavar="N", type=int, default=10, help="simulated phones (default 10)"
    )
    p.add_argument(
        "--scenario", metavar="NAME", default="mixed", help="scenario name (default mixed)"
    )
    p.add_argument(
        "--duration",
        metavar="S",
        type=float,
        default=None,
        help="seconds to run (default: until Ctrl-C)",
    )
    p.add_argument(
        "--rate",
        metavar="PER_MIN",
        type=float,
        default=None,
        help="reports per device per minute (default: the scenario's)",
    )
    p.add_argument(
        "--media-probability",
        metavar="P",
        type=float,
        default=None,
        help="chance a report carries media (default: the scenario's)",
    )
    p.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable run")
    p.add_argument(
        "--scenario-dir", metavar="DIR", type=Path, default=None, help="where scenario files live"
    )
    p.add_argument("--list-scenarios", action="store_true", help="list the scenarios and exit")
    p.add_argument(
        "--check",
        metavar="FILE",
        type=Path,
        help="check a scenario file or a pilot plan, print its problems and exit",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list_scenarios:
        return _list(args.scenario_dir)
    if args.check:
        return check_file(args.check, args.scenario_dir)
    if not args.relay or not args.ca:
        parser.error("--relay and --ca are required (or use --list-scenarios or --check)")
    if args.devices < 1:
        parser.error("--devices must be at least 1")
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be positive")
    if not args.ca.is_file():
        parser.error(f"--ca {args.ca}: no such file; use the CA the relay printed at start-up")
    if args.media_probability is not None and not 0.0 <= args.media_probability <= 1.0:
        parser.error("--media-probability must be between 0 and 1")
    try:
        summary = asyncio.run(_run(args))
    except scenarios.ScenarioError as exc:
        print(f"lookout-sim: {exc}", file=sys.stderr)
        return 2
    print(summary.to_json(), flush=True)
    if summary.connected == 0:
        print(
            f"lookout-sim: no device could connect to {args.relay}: is the relay running, and is --ca its CA?",
            file=sys.stderr,
        )
        return 1
    return 0


async def _run(args: argparse.Namespace) -> Summary:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Windows has no add_signal_handler: there Ctrl-C raises KeyboardInterrupt instead.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    ends = f"for {args.duration:g} s" if args.duration else "until Ctrl-C"
    print(
        f"lookout-sim: {args.devices} devices, scenario {args.scenario}, against {args.relay} "
        f"{ends}; a status line every 30 s, a JSON summary at the end",
        file=sys.stderr,
        flush=True,
    )
    return await run_scenario(
        args.relay,
        args.ca,
        args.devices,
        args.scenario,
        args.duration,
        stop,
        report_rate_per_min=args.rate,
        media_probability=args.media_probability,
        seed=args.seed,
        scenario_dir=args.scenario_dir,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )


def _list(directory: Path | None) -> int:
    status = 0
    for name in scenarios.available(directory):
        try:
            s = scenarios.load(name, directory)
        except scenarios.ScenarioError as exc:
            print(f"{name:16} BROKEN: {exc}")
            status = 2
            continue
        cats = ", ".join(sorted({k.category for k in s.kinds}))
        print(f"{name:16} {s.title} ({cats}; {len(s.hotspots)} places)")
    return status


def check_file(path: Path, scenario_dir: Path | None = None) -> int:
    """Print what is wrong with a scenario file or a plan (or what it holds); 0 if fine."""
    try:
        is_plan = bool({"days", "acts"} & set(tomllib.loads(path.read_text("utf-8"))))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        is_plan = path.parent.name == "pilots"  # let the loader word the error
    try:
        if is_plan:
            plan = pilots.load(path, scenario_dir)
            people = sum(g.count for g in plan.groups)
            print(
                f"{path}: plan {plan.name}: {len(plan.days)} days, {len(plan.acts)} acts, "
                f"{people} participants in {len(plan.groups)} groups, "
                f"{len(pilots.timeline(plan))} timeline entries, "
                f"about {pilots.expected_reports(plan, scenario_dir):.0f} reports expected"
            )
        else:
            spec = scenario_files.read(path)
            resolved = scenario_files.resolve_spec(
                spec, scenario_dir or path.parent, where=str(path)
            )
            cats = ", ".join(sorted(resolved.categories))
            print(f"{path}: scenario {spec.name} ({cats}; {len(resolved.hotspots())} places)")
    except pilots.PlanError as exc:
        for problem in exc.problems:
            print(f"{exc.source}: {problem}")
        return 2
    except scenario_files.ScenarioError as exc:
        print(exc)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
