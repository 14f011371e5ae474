"""`lookout`: the console, with `--demo` for an embedded relay and simulated citizens.

The console may not import the relay or the simulator, so it has no `--demo` of its own.
It takes an `Extension` instead (see `console.app`), and this module is that extension:
it adds `--demo`, `--devices` and `--scenario`, checks them (the scenario against the
simulator's scenario files, so a typo fails before any window opens), and for `--demo`
gives the console a session source that starts the embedded relay and signs in as its demo
dispatcher. `--rehearse PLAN [--speed N] [--stand-ins]` does the same for a pilot plan
(`demo.rehearsal`): the plan's rehearsal, live, with a run panel. `--run-pilot PLAN
[--simulated-traffic]` runs a real pilot on the force's relay: the usual login, then the
plan's live run beside the session (`demo.pilot_run`), with the same run panel. The rest of `lookout` (its other options and messages, the session, the window,
the screenshot, the shutdown) is the console's own composition root, unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from console import app as console_app
from demo.rehearsal import DEFAULT_SPEED

if TYPE_CHECKING:
    from backend_client.pilots import Plan
    from console.login.dialog import LoginResult
    from demo.embedded import EmbeddedRelay
    from demo.pilot_run import PilotRunCompanion
    from demo.rehearsal import RehearsalSource

DEFAULT_DEVICES = 60
DEFAULT_SCENARIO = "mixed"
#: --demo-role: the demo relay's officer of each role
DEMO_ROLES = ("dispatcher", "supervisor", "inspector")


class DemoExtension:
    """Adds the demo's options to `lookout`."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--demo",
            action="store_true",
            help="start an embedded relay with simulated citizens and log in by itself",
        )
        parser.add_argument(
            "--devices", type=int, default=DEFAULT_DEVICES, help="simulated citizens in demo mode"
        )
        parser.add_argument(
            "--scenario", default=DEFAULT_SCENARIO, help="pilot scenario the demo citizens follow"
        )
        parser.add_argument(
            "--demo-role",
            choices=DEMO_ROLES,
            default="dispatcher",
            help="with --demo: sign in as the demo's dispatcher (default), supervisor or "
            "inspector (who runs pilots: the Pilots pane)",
        )
        parser.add_argument(
            "--demo-evidence",
            type=Path,
            metavar="DIR",
            help="build the demo evidence case (three weeks of a burglary series) in the new "
            "directory DIR and open its package in the analyst's workspace, pinned",
        )
        parser.add_argument(
            "--rehearse",
            type=Path,
            metavar="PLAN",
            help="practise a pilot plan live: an embedded relay with the plan's simulated "
            "participants, the console signed in, and a Run panel to start, pause, skip or "
            "fire injects and watch the expected actions (a plan file, or a shipped plan's "
            "name: preston-2017)",
        )
        parser.add_argument(
            "--speed",
            type=float,
            default=None,
            help=f"with --rehearse: times faster than real time (default {DEFAULT_SPEED:g})",
        )
        parser.add_argument(
            "--stand-ins",
            action="store_true",
            help="with --rehearse: the plan's scripted officers respond too (default: you do)",
        )

        parser.add_argument(
            "--run-pilot",
            type=Path,
            metavar="PLAN",
            help="run a real pilot live on the force's relay: sign in (an inspector, "
            "supervisor or admin), then a Run panel to start, pause, skip or fire the plan's "
            "injects and watch the expected actions (a plan file, or a shipped plan's name); "
            "the pilot is the plan's, created from it if the relay has none",
        )
        parser.add_argument(
            "--simulated-traffic",
            action="store_true",
            help="with --run-pilot: also send the plan's bursts and scenario reports from "
            "scripted devices (default: only its scripted reports; the volunteers report)",
        )

    def session_source(
        self, parser: argparse.ArgumentParser, args: argparse.Namespace
    ) -> DemoSource | RehearsalSource | PilotRunCompanion | None:
        if args.run_pilot is None and args.simulated_traffic:
            parser.error("--simulated-traffic only applies with --run-pilot")
        if args.run_pilot is not None:
            return _pilot_run(parser, args)
        if args.rehearse is None and (args.speed is not None or args.stand_ins):
            parser.error("--speed and --stand-ins only apply with --rehearse")
        if args.rehearse is not None:
            return _rehearsal(parser, args)
        if args.demo_evidence is not None:
            if args.demo or args.evidence:
                parser.error(
                    "--demo-evidence builds and opens its own package: not with "
                    "--demo or --evidence"
                )
            args.evidence, args.fingerprint = _demo_case(parser, args.demo_evidence)
        if not args.demo and (args.devices != DEFAULT_DEVICES or args.scenario != DEFAULT_SCENARIO):
            parser.error("--devices and --scenario only apply with --demo")
        if not args.demo and args.demo_role != "dispatcher":
            parser.error("--demo-role only applies with --demo")
        if args.devices < 1:
            parser.error("--devices must be at least 1")
        if not args.demo:
            return None
        from simulator.scenarios import ScenarioError, load

        try:
            load(args.scenario)
        except ScenarioError as exc:
            parser.error(str(exc))
        return DemoSource(args.devices, args.scenario, args.data_dir, args.demo_role)


def _rehearsal(parser: argparse.ArgumentParser, args: argparse.Namespace) -> RehearsalSource:
    """The plan checked before any window opens; with --screenshot or --quit-after nobody
    is there to press Start, so the run starts by itself."""
    from backend_client.pilots import PlanError, find, load
    from demo.rehearsal import RehearsalSource

    if args.demo or args.demo_evidence is not None or args.evidence is not None:
        parser.error("--rehearse runs its own relay: not with --demo or --evidence")
    speed = DEFAULT_SPEED if args.speed is None else args.speed
    if not (speed > 0 and math.isfinite(speed)):
        parser.error("--speed must be a number more than 0")
    try:
        plan = load(find(args.rehearse))
    except PlanError as exc:
        parser.error(str(exc))
    except OSError as exc:
        parser.error(f"--rehearse: cannot read {args.rehearse}: {exc.strerror or exc}")
    unattended = args.screenshot is not None or args.quit_after is not None
    return RehearsalSource(
        plan, speed, stand_ins=args.stand_ins, autostart=unattended, data_dir=args.data_dir
    )


def _pilot_run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> PilotRunCompanion:
    """The plan checked before the login dialog opens; the relay is the login's."""
    from demo.pilot_run import PilotRunCompanion

    others = (args.demo, args.rehearse, args.demo_evidence, args.evidence, args.plan)
    if any(x for x in others) or args.speed is not None or args.stand_ins:
        parser.error(
            "--run-pilot runs on the relay you sign in to, at real speed: not with --demo, "
            "--rehearse, --speed, --stand-ins, --evidence or --plan"
        )
    plan = _plan(parser, args.run_pilot, "--run-pilot")
    return PilotRunCompanion(plan, simulated_traffic=args.simulated_traffic)


def _plan(parser: argparse.ArgumentParser, where: Path, option: str) -> Plan:
    from backend_client.pilots import PlanError, find, load

    try:
        return load(find(where))
    except PlanError as exc:
        parser.error(str(exc))
    except OSError as exc:
        parser.error(f"{option}: cannot read {where}: {exc.strerror or exc}")


def _demo_case(parser: argparse.ArgumentParser, out: Path) -> tuple[Path, str]:
    """Build the demo case (demo/evidence_case.py) in `out`: its package and fingerprint."""
    from demo import evidence_case

    print(f"building the demo evidence case in {out} (a few seconds)…", file=sys.stderr)
    try:
        case = evidence_case.build(out)
    except SystemExit as exc:  # a directory that is not new
        parser.error(f"--demo-evidence: {exc}")
    print(f"evidence package: {case.package}")
    print(f"evidence key fingerprint (pinned): {case.fingerprint}", flush=True)
    return case.package, case.fingerprint


class DemoSource:
    """The embedded relay as the console's session source: started on `open`, stopped on
    `close`, off the GUI thread both times (starting it takes a few seconds)."""

    def __init__(
        self, devices: int, scenario: str, data_dir: Path | None, role: str = "dispatcher"
    ) -> None:
        self.devices = devices
        self.role = role
        self.scenario = scenario
        self.data_dir = data_dir
        self.embedded: EmbeddedRelay | None = None

    async def open(self) -> LoginResult:
        from console.login.dialog import LoginResult
        from demo.embedded import DEMO_INSPECTOR, DEMO_SUPERVISOR, DEMO_USER, EmbeddedRelay

        for noisy in ("relay.db", "simulator"):  # the console's own log stays readable
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self.embedded = EmbeddedRelay(devices=self.devices, scenario=self.scenario)
        try:
            info = await asyncio.to_thread(self.embedded.start)
        except BaseException:
            await self.close()  # its thread and data directory, whatever got started
            raise
        # a fresh console home each run: its cache would only hold a relay that is gone
        home = self.data_dir or Path(tempfile.mkdtemp(prefix="lookout-console-"))
        user = {"supervisor": DEMO_SUPERVISOR, "inspector": DEMO_INSPECTOR}.get(
            self.role, DEMO_USER
        )
        return LoginResult(info.client_config(), info.credentials(user), home)

    async def close(self) -> None:
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)


def main(argv: list[str] | None = None) -> int:
    return console_app.main(argv, DemoExtension())


if __name__ == "__main__":
    raise SystemExit(main())
