"""`lookout --run-pilot PLAN`: a real pilot's live control, beside the officer's session.

The officer signs in through the login dialog to the force's relay, as with a plain
`lookout`; then this companion checks the account may run a pilot
(`backend_client.rules.PILOT_ROLES`, refused in words at the login otherwise), finds the
plan's pilot on the relay (its id is the plan's name) or offers to create it from the plan
through the same session, and starts the Qt-free runner (`pilot.live_run.LiveRun`) on the
console's loop: it gets the session's own events (`ConsoleSession.subscribe`) and asks the
relay through the session's client (invite codes for its scripted devices). The console
shows the run panel for its control, and each prompt in the status bar.

After every move of the run (Start, a pause, the end) and when it closes, the companion
saves the run's log (its running stretches and prompt times, `timemap.RunLog`) in the
console's data folder (`console.pilots.run_logs.runs_dir`), so the Pilots pane's Review…
can map the pilot's plan time afterwards.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from backend_client.pilots import Plan, RunControl, pilot_id_of
from backend_client.pilots.timemap import RunLog, run_log_name
from backend_client.state import State
from console.app import Ask, Refused

if TYPE_CHECKING:
    from console.session import ConsoleSession
    from pilot.live_run import LiveRun

log = logging.getLogger(__name__)


class PilotRunCompanion:
    """The plan's live run, attached to each session the officer signs in to."""

    def __init__(
        self, plan: Plan, *, simulated_traffic: bool = False, run_log_dir: Path | None = None
    ) -> None:
        self.plan = plan
        self.simulated_traffic = simulated_traffic
        self.run_log_dir = run_log_dir
        #: where this run's log was last saved
        self.run_log: Path | None = None
        self.run: LiveRun | None = None
        self._unsubscribe: list[object] = []

    async def attach(self, session: ConsoleSession, ask: Ask) -> RunControl:
        from pilot.live_run import (
            CitizenLink,
            LiveRun,
            PilotRefused,
            create_pilot,
            find_pilot,
            refusal,
        )

        client = session.client
        if client.status.state is not State.LIVE:
            raise Refused(
                "The relay cannot be reached right now: running a pilot needs a live link "
                "(to check the account and the pilot). Try again when it is reachable."
            )
        why = refusal(client.role)
        if why is not None:
            raise Refused(why)
        pid = pilot_id_of(self.plan)
        try:
            info = await find_pilot(client.request, self.plan)
            if info is None:
                groups = ", ".join(f"{g.name} ({g.count})" for g in self.plan.groups)
                create = await ask(
                    "Create the pilot?",
                    f"The relay has no pilot {pid!r} for the plan {self.plan.title!r}.\n\n"
                    f"Create it now from the plan (its title, area and groups: {groups})? "
                    "From then on its participants' traffic is exercise traffic.",
                )
                if not create:
                    raise Refused(
                        f"The pilot {pid!r} is not on this relay. Create it from the plan "
                        "(answer Yes, or the Pilots panel's Create from plan), then sign in "
                        "again."
                    )
                await create_pilot(client.request, self.plan)
                log.info("pilot %s created from its plan", pid)
        except PilotRefused as exc:
            raise Refused(str(exc)) from None
        run = LiveRun(
            self.plan,
            client.request,
            CitizenLink.of(client.config),
            simulated_traffic=self.simulated_traffic,
        )
        self._unsubscribe.append(session.subscribe(run.on_event))
        self._unsubscribe.append(run.control.watch(lambda: self.save_log(run)))
        run.start()
        self.run = run
        return run.control

    async def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            if callable(unsubscribe):
                unsubscribe()
        self._unsubscribe.clear()
        if self.run is not None:
            await self.run.close()
            self.save_log(self.run)
            self.run = None

    def save_log(self, run: LiveRun) -> Path | None:
        """The run's log, once it has started (a failure to save is logged, not raised:
        the run goes on)."""
        from console.pilots.run_logs import runs_dir

        segments = run.control.segments()
        if not segments:
            return None
        log_ = RunLog(
            self.plan.name,
            run.pid,
            tuple(segments),
            run.control.prompts_shown(),
            time.time(),
        )
        path = (self.run_log_dir or runs_dir()) / run_log_name(run.pid, segments[0].at)
        try:
            log_.save(path)
        except OSError as exc:
            log.warning("the run's log could not be saved: %s", exc.strerror)
            return None
        self.run_log = path
        return path
