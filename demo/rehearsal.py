"""`lookout --rehearse PLAN`: practise a pilot plan live, at the console, on its own relay.

The same runner as `lookout-pilot rehearse` (`pilot.rehearsal.Rehearsal`): an embedded
relay, one simulated phone per participant of the plan, the plan's injects on a clock at
`--speed`. Only here the stand-ins do not respond (unless `--stand-ins`): the officer at
the console does, signed in by itself as `OFFICER`, and the run panel (the console's
`console.pilots.run_panel`, given this source's `run_control`) starts, pauses and resumes
the run, skips or fires an inject, and ticks the expected actions off as the officer does
them. The rehearsal runs on a thread of its own, with its own asyncio loop, so the GUI
loop carries only the console's traffic, as with a real relay.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from backend_client.pilots import Plan, RunControl, RunState

if TYPE_CHECKING:
    from console.login.dialog import LoginResult
    from pilot.rehearsal import Rehearsal

log = logging.getLogger(__name__)

#: the account of the officer practising at the console
OFFICER = "officer"
#: an 8-hour pilot day in 8 minutes
DEFAULT_SPEED = 60.0


class RehearsalSource:
    """A live rehearsal as the console's session source; `run_control` once open."""

    def __init__(
        self,
        plan: Plan,
        speed: float = DEFAULT_SPEED,
        *,
        stand_ins: bool = False,
        autostart: bool = False,
        data_dir: Path | None = None,
    ) -> None:
        self.plan = plan
        self.speed = speed
        self.stand_ins = stand_ins
        self.autostart = autostart
        self.data_dir = data_dir
        self.run_control: RunControl | None = None
        self.rehearsal: Rehearsal | None = None
        self._work = Path(tempfile.mkdtemp(prefix="lookout-rehearsal-"))
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    async def open(self) -> LoginResult:
        from console.login.dialog import LoginResult

        for noisy in ("relay.db", "simulator", "pilot"):  # the console's own log stays readable
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self._thread = threading.Thread(target=self._main, name="lookout-rehearsal", daemon=True)
        self._thread.start()
        ready = await asyncio.to_thread(self._ready.wait, 120.0)
        if not ready or self._error is not None or self.rehearsal is None:
            await self.close()
            why = self._error or "it did not get ready in 2 minutes"
            raise RuntimeError(f"the rehearsal could not start: {why}") from self._error
        config, credentials = self.rehearsal.login(OFFICER)
        home = self.data_dir or self._work / "console"
        return LoginResult(config, credentials, home)

    async def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30.0)
        shutil.rmtree(self._work, ignore_errors=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to open()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        from pilot.rehearsal import Rehearsal

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        rehearsal = Rehearsal(
            self.plan,
            self._work / "run",
            self.speed,
            stand_ins=self.stand_ins,
            officers=(OFFICER,),
        )
        try:
            await rehearsal.prepare()
            self.rehearsal = rehearsal
            self.run_control = rehearsal.control
            if self.autostart:
                rehearsal.control.start()
            self._ready.set()
            runner = asyncio.create_task(rehearsal.run())
            await self._stop.wait()
            if rehearsal.control.state() is not RunState.ENDED:
                rehearsal.control.end()
            try:
                await asyncio.wait_for(runner, 40)
            except Exception:
                log.exception("the rehearsal did not end cleanly")
        finally:
            await rehearsal.close()
