"""An embedded relay and simulated citizens, on a thread of their own.

The relay and the simulator run on their own asyncio loop in a background thread so the
GUI loop only carries the console's own traffic, exactly as with a remote relay.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from backend_client.client import ClientConfig, Credentials
from relay import admin
from relay.accounts import totp_now
from relay.config import RelayConfig
from relay.server import Relay
from simulator.runner import run_scenario

log = logging.getLogger(__name__)

DEMO_USER = "demo"
DEMO_SUPERVISOR = "supervisor"
DEMO_INSPECTOR = "inspector"  # runs pilots (`lookout --demo --demo-role inspector`)


@dataclass(frozen=True)
class DemoRelay:
    url: str
    ca_path: Path
    fingerprint: str
    username: str
    password: str
    totp_secret: str
    supervisor_totp_secret: str
    data_dir: Path
    inspector_totp_secret: str = ""

    def client_config(self) -> ClientConfig:
        """Pinned to the certificate the relay just made: nothing for anyone to confirm."""
        return ClientConfig(url=self.url, pin_sha256=self.fingerprint)

    def credentials(self, username: str = DEMO_USER) -> Credentials:
        """The demo dispatcher's sign-in (or the supervisor's, for the two-person rule); a
        code is worked out at each login, so the demo signs in by itself, again after a
        lapsed session too."""
        secrets_by_user = {
            DEMO_USER: self.totp_secret,
            DEMO_SUPERVISOR: self.supervisor_totp_secret,
            DEMO_INSPECTOR: self.inspector_totp_secret,
        }
        secret = secrets_by_user[username]
        return Credentials(username, self.password, lambda: totp_now(secret))


class EmbeddedRelay:
    """Start with `start()` (blocks until the relay listens); `stop()` ends everything."""

    def __init__(
        self,
        devices: int = 60,
        scenario: str = "mixed",
        report_rate_per_min: float = 1.5,
        data_dir: Path | None = None,
    ) -> None:
        self.devices = devices
        self.scenario = scenario
        self.report_rate_per_min = report_rate_per_min
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="lookout-demo-"))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.info: DemoRelay | None = None
        self.relay: Relay | None = None

    def start(self, timeout: float = 60.0) -> DemoRelay:
        self._thread = threading.Thread(target=self._main, name="lookout-demo", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the embedded relay did not start in time")
        if self._error is not None:
            raise RuntimeError(
                f"the embedded relay failed to start: {self._error}"
            ) from self._error
        assert self.info is not None
        return self.info

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=20)
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        password = secrets.token_urlsafe(12)
        engine = admin.open_engine(self.data_dir)
        user = admin.add_officer(engine, DEMO_USER, "dispatcher", password)
        sup = admin.add_officer(engine, DEMO_SUPERVISOR, "supervisor", password)
        ins = admin.add_officer(engine, DEMO_INSPECTOR, "inspector", password)
        engine.dispose()
        # the simulated citizens all connect from loopback: exempt it from the per-address
        # limits, as an operator would a carrier NAT
        relay = Relay(
            RelayConfig(
                data_dir=self.data_dir,
                port=0,
                approval_threshold=25,
                cap_sender="lookout@demo.lookout.example",
                address_allowlist=("127.0.0.0/8", "::1/128"),
            )
        )
        await relay.start()
        # its CAP <web> links lead to its own alert pages (/alerts/{id}), on the port it
        # was given: known only now (port 0), read by the relay per message
        relay.config.cap_web_base = relay.url.replace("wss://", "https://", 1)
        self.relay = relay
        assert relay.ca_path is not None
        self.info = DemoRelay(
            relay.url,
            relay.ca_path,
            relay.fingerprint,
            DEMO_USER,
            password,
            user.totp_secret,
            sup.totp_secret,
            self.data_dir,
            ins.totp_secret,
        )
        self._ready.set()
        sim = asyncio.create_task(
            run_scenario(
                relay.url,
                relay.ca_path,
                self.devices,
                self.scenario,
                None,
                self._stop,
                report_rate_per_min=self.report_rate_per_min,
                seed=7,
            )
        )
        try:
            await self._stop.wait()
        finally:
            try:
                await asyncio.wait_for(sim, 15)
            except Exception:
                log.exception("simulator did not stop cleanly")
            await relay.stop()
