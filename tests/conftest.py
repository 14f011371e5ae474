"""Fixtures: a real relay on TLS loopback with officer accounts, and peers to talk to it."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

PASSWORD = "correct horse battery"
LOOPBACK = ("127.0.0.0/8", "::1/128")
#: the CAP sender of every test relay (a relay refuses to send or export CAP without one)
TEST_CAP_SENDER = "lookout@test.lookout.example"
#: Every test client is on loopback: exempt it from the per-address limits, as an operator
#: would a carrier NAT, and let one test device file more than a phone would.
#: tests/integration/test_abuse.py sets its own small limits instead.
TEST_LIMITS: dict[str, object] = {
    "address_allowlist": LOOPBACK,
    "reports_per_device_per_hour": 100_000.0,
    "citizen_message_burst": 10_000.0,  # some tests fire 60 reports from one device at once
}


@dataclass
class RunningRelay:
    relay: object  # relay.server.Relay
    data_dir: Path
    ssl: ssl.SSLContext
    totp: dict[str, str]  # username -> TOTP secret

    @property
    def officer_url(self) -> str:
        return f"{self.relay.url}/v1/officer"  # type: ignore[attr-defined]

    @property
    def citizen_url(self) -> str:
        return f"{self.relay.url}/v1/citizen"  # type: ignore[attr-defined]


def _accounts(engine: object) -> dict[str, str]:
    from relay import admin

    out = {}
    for name, role in [
        ("dana", "dispatcher"),
        ("dev", "dispatcher"),
        ("sam", "supervisor"),
        ("sue", "supervisor"),
        ("ann", "analyst"),
    ]:
        out[name] = admin.add_officer(engine, name, role, PASSWORD).totp_secret  # type: ignore[arg-type]
    return out


async def start_relay(data_dir: Path, **config: object) -> RunningRelay:
    from relay import admin, tls
    from relay.config import RelayConfig
    from relay.server import Relay

    engine = admin.open_engine(data_dir)
    totp = _accounts(engine) if not admin.list_officers(engine) else {}
    engine.dispose()
    config.setdefault("port", 0)
    # Flow tests assert exact small counts and poll previews: their relay counts from 1 and
    # does not rate-limit previews. tests/integration/test_location_oracle.py runs the
    # defaults (fewer than 5, a burst of 30) and passes them explicitly.
    config.setdefault("cap_sender", TEST_CAP_SENDER)  # a relay sends CAP only with one
    config.setdefault("min_count_shown", 1)
    config.setdefault("preview_burst", 1_000_000)
    for name, value in TEST_LIMITS.items():
        config.setdefault(name, value)
    relay = Relay(RelayConfig(data_dir=data_dir, **config))  # type: ignore[arg-type]
    await relay.start()
    assert relay.ca_path is not None
    return RunningRelay(relay, data_dir, tls.client_ssl_context(relay.ca_path), totp)


@asynccontextmanager
async def relays(
    tmp_path: Path, **defaults: object
) -> AsyncIterator[Callable[..., Awaitable[RunningRelay]]]:
    """`start(**config)` for several relays in one test, each in its own folder under
    `tmp_path` with `defaults` under `config`; all stopped on the way out."""
    started: list[RunningRelay] = []

    async def start(**config: object) -> RunningRelay:
        running = await start_relay(tmp_path / f"relay{len(started)}", **(defaults | config))
        started.append(running)
        return running

    try:
        yield start
    finally:
        for running in started:
            await running.relay.stop()  # type: ignore[attr-defined]


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RunningRelay]:
    running = await start_relay(tmp_path / "relay", counts_interval_s=0.1)
    try:
        yield running
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]
