"""Run a scenario: N simulated citizens around its area, reporting at its rate, for S seconds.

Used by `lookout-sim` and by the console's demo mode (`run_scenario`). Connects are
staggered (a few hundred TLS handshakes at once would starve the relay and this process
alike); reports arrive per device as a Poisson process at the scenario's rate. Stops when
the duration ends or `stop` is set, closes every link, and returns the counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from backend_client import CITIZEN_PATH
from simulator import media, scenarios
from simulator.device import (
    Behaviour,
    DeviceError,
    DeviceGone,
    SimDevice,
    Stats,
    client_ssl_context,
)

__all__ = ["Summary", "run_scenario"]

#: Connection attempts started per second; the first report waits for its device anyway.
CONNECTS_PER_S = 50.0


@dataclass
class Summary:
    scenario: str
    devices: int
    duration_s: float
    reports_sent: int
    reports_accepted: int
    media_uploaded: int
    alerts_received: int
    chats_received: int
    chats_replied: int
    connected: int
    reconnects: int
    errors: int
    error_codes: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=False)


async def run_scenario(
    url: str,
    ca_file: Path,
    devices: int,
    scenario: str,
    duration: float | None,
    stop: asyncio.Event | None = None,
    *,
    report_rate_per_min: float | None = None,
    media_probability: float | None = None,
    read_delay_s: tuple[float, float] = (0.5, 4.0),
    seed: int | None = None,
    scenario_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    progress_every_s: float = 30.0,
) -> Summary:
    """Run `devices` citizens of `scenario` against the relay at `url` (its base wss:// URL
    or the full `/v1/citizen` URL) until `duration` seconds pass or `stop` is set.

    `report_rate_per_min` and `media_probability` override the scenario's values (a demo
    or a test wants reports now, not in five minutes). `progress`, if given, receives a
    one-line status every `progress_every_s` seconds. Raises ScenarioError for a bad name.
    """
    scen = scenarios.load(scenario, scenario_dir)
    stop = stop or asyncio.Event()
    citizen_url = url if url.rstrip("/").endswith(CITIZEN_PATH) else url.rstrip("/") + CITIZEN_PATH
    ctx = client_ssl_context(str(ca_file))
    rng = random.Random(seed)
    stats = Stats(devices=devices)
    rate = scen.report_rate_per_min if report_rate_per_min is None else report_rate_per_min
    loop = asyncio.get_running_loop()
    started = loop.time()
    timer = loop.call_later(duration, stop.set) if duration is not None else None
    runs: list[asyncio.Task[None]] = []
    reporters: list[asyncio.Task[None]] = []
    if progress is not None:
        reporters.append(
            asyncio.create_task(_progress(progress, progress_every_s, stats, stop, started))
        )
    try:
        for i in range(devices):
            if stop.is_set():
                break
            lat, lon, place = scen.place_device(rng)
            behaviour = Behaviour(
                categories=scen.subscribe, lat=lat, lon=lon, read_delay_s=read_delay_s
            )
            device = SimDevice(
                citizen_url, ctx, behaviour, stats, random.Random(rng.getrandbits(64))
            )
            runs.append(asyncio.create_task(device.run(stop), name=f"sim-device-{i}"))
            reporters.append(
                asyncio.create_task(
                    _report_loop(device, scen, place, rate, media_probability, stop, stats),
                    name=f"sim-reporter-{i}",
                )
            )
            if i + 1 < devices:
                await _wait(stop, 1.0 / CONNECTS_PER_S)
        await stop.wait()
    finally:
        if timer is not None:
            timer.cancel()
        stop.set()
        for t in reporters:
            t.cancel()
        if reporters:
            await asyncio.wait(reporters, timeout=10.0)
        # Devices close their links themselves once `stop` is set; bound how long that takes.
        if runs:
            _done, pending = await asyncio.wait(runs, timeout=10.0)
            for t in pending:
                t.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
    return Summary(
        scenario=scen.name,
        devices=devices,
        duration_s=round(loop.time() - started, 2),
        reports_sent=stats.reports_sent,
        reports_accepted=stats.reports_accepted,
        media_uploaded=stats.media_uploaded,
        alerts_received=stats.alerts_received,
        chats_received=stats.chats_received,
        chats_replied=stats.chats_replied,
        connected=stats.connected,
        reconnects=stats.reconnects,
        errors=stats.errors,
        error_codes=dict(sorted(stats.error_codes.items())),
    )


async def _report_loop(
    device: SimDevice,
    scen: scenarios.Scenario,
    place: str,
    rate_per_min: float,
    media_probability: float | None,
    stop: asyncio.Event,
    stats: Stats,
) -> None:
    """Poisson arrivals at `rate_per_min`; each report near the device's home."""
    if rate_per_min <= 0:
        return
    rng = device.rng
    b = device.behaviour
    while not stop.is_set():
        await _wait(stop, rng.expovariate(rate_per_min / 60.0))
        if stop.is_set():
            return
        kind = scen.draw_kind(rng, place)
        lat, lon = scen.near(rng, b.lat, b.lon, 40.0)  # walked up to see better
        chance = kind.media_probability if media_probability is None else media_probability
        files: list[media.GeneratedMedia] = []
        if rng.random() < chance:
            seed = rng.getrandbits(64)
            make = media.video if rng.random() < kind.video_share else media.photo
            files.append(await asyncio.to_thread(make, random.Random(seed)))
        try:
            await device.submit_report(
                kind.category, kind.text(rng, place), lat, lon, files,
                replies=kind.chat_replies, reply_probability=kind.chat_reply_probability,
            )  # fmt: skip
        except DeviceError as exc:
            stats.error(exc.code)
        except DeviceGone:
            stats.error("connection_lost")
        except TimeoutError:
            stats.error("timeout")


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds` or until `stop` is set, whichever is first."""
    if stop.is_set():
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()


async def _progress(
    say: Callable[[str], None], every: float, stats: Stats, stop: asyncio.Event, started: float
) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await _wait(stop, every)
        if stop.is_set():
            return
        say(
            f"{loop.time() - started:5.0f} s: {stats.connected}/{stats.devices} connected, "
            f"{stats.reports_accepted} reports accepted ({stats.media_uploaded} media), "
            f"{stats.alerts_received} alerts and {stats.chats_received} chat messages received, "
            f"{stats.errors} errors"
        )
