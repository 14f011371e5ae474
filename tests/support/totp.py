"""TOTP codes the relay accepts in tests: codes are single-use, so each login needs its own.

The relay accepts the current time step and one either side, each once per officer. This
hands out, per secret (one secret per officer account, so per relay too), the oldest step
that is still accepted and not handed out yet: up to three logins of one officer in 30 s.
Every test login must come from here (or a step after it), or the two would collide.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from relay import accounts

#: a previous step is only offered with this much of the current step left (the relay
#: must still see the same "now" when the login reaches it)
_MARGIN_S = 5.0
_last: dict[str, int] = {}  # secret -> the newest step handed out


def fresh_code(secret: str) -> str:
    t = time.time()
    now = accounts.time_step(t)
    left = (now + 1) * accounts.TOTP_STEP - t
    first = now - 1 if left > _MARGIN_S else now
    step = max(first, _last.get(secret, first - 1) + 1)
    if step > now + 1 and left <= _MARGIN_S + 1:
        # near a step's end only two steps are offered: wait (a few seconds at most) for
        # the clock to enter the next step, which offers a new one
        opened = threading.Event()
        while accounts.time_step() <= now:
            opened.wait(0.05)
        return fresh_code(secret)
    if step > now + 1:
        raise RuntimeError(
            "this test logs one officer in more than three times in 30 s: codes are "
            "single-use, so resume a session (auth.resume) or use another officer"
        )
    _last[secret] = step
    return accounts.totp_at_step(secret, step)


def coder(secret: str) -> Callable[[], str]:
    """For `Credentials(totp=...)`: a fresh code at each login."""
    return lambda: fresh_code(secret)
