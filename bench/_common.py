"""What the relay benchmarks share: limits, percentiles, a citizen request, logging.

Not a benchmark itself (`make bench` skips `bench/_*.py`). Imported by the scripts in this
folder, which run with it on `sys.path` as their own directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from backend_client import codec
from backend_client import messages as m

PRESTON = (53.7590, -2.6990)  # lat, lon
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
