"""What the relay benchmarks share: limits, percentiles, a citizen request, logging, the
benchmark fence and its alert, and a bare officer console.

Not a benchmark itself (`make bench` skips `bench/_*.py`). Imported by the scripts in this
folder, which run with it on `sys.path` as their own directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import resource
import ssl
import sys
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from backend_client import codec
from backend_client import messages as m

PRESTON = (53.7590, -2.6990)  # lat, lon
FENCE = (0.020, 0.032)  # half-height (deg lat), half-width (deg lon): about 4.4 km x 4.2 km
HARD_DEADLINE_S = 290.0  # a whole run, including set-up and tear-down
#: The load benches put thousands of clients on one loopback address, each far busier than
#: a phone: exempt loopback from the per-address limits and lift the per-connection and
#: per-device ones, as an operator would for a load test (bench/abuse.py measures limits).
BENCH_LIMITS: dict[str, Any] = {
    "address_allowlist": ("127.0.0.0/8", "::1/128"),
    "citizen_messages_per_s": 0.0,
    "reports_per_device_per_hour": 0.0,
}


def make_log(name: str) -> Callable[..., None]:
    """Progress to stderr (stdout's last line is the benchmark's JSON)."""

    def log(*parts: object) -> None:
        print(f"[{name} {time.strftime('%H:%M:%S')}]", *parts, file=sys.stderr, flush=True)

    return log


def raise_nofile() -> int:
    """Thousands of sockets per process: raise the descriptor limit to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1_048_576
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


async def citizen_request(ws: Any, msg: Any, timeout: float = 30.0) -> m.Msg:
    """Send a citizen request and return its reply (frames for others are skipped)."""
    await ws.send(codec.encode_text(msg))
    async with asyncio.timeout(timeout):
        while True:
            reply = codec.citizen_outbound.decode(await ws.recv())
            if getattr(reply, "re", None) == msg.id:
                return reply


def fence_ring() -> list[tuple[float, float]]:
    """The fence around Preston (lon, lat corners) that the fan-out benches' phones sit in."""
    lat0, lon0 = PRESTON
    dlat, dlon = FENCE
    return [
        (lon0 - dlon, lat0 - dlat),
        (lon0 + dlon, lat0 - dlat),
        (lon0 + dlon, lat0 + dlat),
        (lon0 - dlon, lat0 + dlat),
    ]


def round_info(area: m.Polygon, r: int) -> m.AlertInfo:
    """The alert of round `r`: every round's frame has one shape (only the headline's
    round number differs), so rounds and baselines compare like with like."""
    return m.AlertInfo(
        categories=["burglary"],
        area=area,
        area_desc="Preston centre (benchmark fence)",
        headline=f"Burglaries reported nearby (round {r + 1})",
        description="Several homes broken into this evening. Lock doors and windows.",
        instruction="Report anything suspicious through the app; call 999 in an emergency.",
        contact="Preston neighbourhood team, 101",
        incident_ref="INC-BENCH",
        expires_at=time.time() + 3600,
    )


_officer_ids = itertools.count(1)


class Officer:
    """An officer console reduced to what the benchmarks need: login and requests."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def login(
        cls, url: str, ctx: ssl.SSLContext, username: str, password: str, totp: str
    ) -> Officer:
        ws = await connect(url, ssl=ctx, compression=None, max_size=2**20, open_timeout=30)
        me = cls(ws)
        ok = await me.request(
            m.Login(id=me.next_id(), username=username, password=password, totp=totp)
        )
        if not isinstance(ok, m.AuthOk):
            raise RuntimeError(f"officer login failed: {ok}")
        return me

    @staticmethod
    def next_id() -> str:
        return f"o{next(_officer_ids)}"

    async def send(self, msg: Any) -> None:
        await self.ws.send(codec.encode_text(msg))

    async def reply_to(self, rid: str, timeout: float = 60.0) -> m.Msg:
        """The reply to request `rid`; frames before it (events) are skipped."""
        async with asyncio.timeout(timeout):
            while True:
                reply = codec.officer_outbound.decode(await self.ws.recv())
                if getattr(reply, "re", None) == rid:
                    return reply

    async def request(self, msg: Any, timeout: float = 60.0) -> m.Msg:
        await self.send(msg)
        return await self.reply_to(msg.id, timeout)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 5)
