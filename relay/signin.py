"""Login attempt limits, and password hashing that never runs on the database writer.

Three counters, all in memory (a relay restart forgets them; a lockout is a brake on
guessing, not a record: the audit log keeps that):

- per (user, address): the first `login_free_failures` failures are free; each further
  one locks that pair for `login_delay_s`, doubled per failure, up to
  `login_lockout_max_s` (15 min). This is what stops one attacker guessing one account,
  and it locks out only the attacker's own address: the officer at the console, on
  another address, is untouched.
- per address (across user names): the same growth after `login_address_free_failures`,
  so one address cannot spray every account.
- per user (across addresses): `login_user_cap` failures within `login_user_window_s`
  lock the user for `login_user_lockout_s` (a minute: short and bounded), and only for
  addresses that have failed for that user. A distributed guesser gets one try per fresh
  address; a correct password + TOTP from an address that has not been failing still
  works, so no attacker can keep a real officer out, however many addresses they use.

A refused attempt costs no hash. A lockout that starts is audited (`login.locked`), a
refused attempt is counted in metrics only (auditing each would let a flood fill the log).
A success clears its pair's record.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from relay import accounts
from relay.config import RelayConfig
from relay.secret_box import SecretBox

T = TypeVar("T")

#: records untouched this long are forgotten (the longest lockout, with room to spare)
_FORGET_AFTER_S = 3600.0
_PRUNE_EVERY = 1024


@dataclass
class _Strikes:
    failures: int = 0
    locked_until: float = 0.0
    last: float = 0.0


@dataclass
class _UserStrikes:
    times: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


@dataclass(frozen=True)
class Lockout:
    """A lockout that has just started (to audit): who, from where, for how long."""

    scope: str  # "pair" | "address" | "user"
    username: str
    address: str
    seconds: float


class LoginLimiter:
    def __init__(self, config: RelayConfig) -> None:
        self.cfg = config
        self._pairs: dict[tuple[str, str], _Strikes] = {}
        self._addresses: dict[str, _Strikes] = {}
        self._users: dict[str, _UserStrikes] = {}
        self._calls = 0

    def retry_after(self, username: str, address: str, now: float | None = None) -> float:
        """Seconds until this user may try again from this address (0: go ahead)."""
        now = time.time() if now is None else now
        waits = [0.0]
        pair = self._pairs.get((username, address))
        if pair is not None:
            waits.append(pair.locked_until - now)
        addr = self._addresses.get(address)
        if addr is not None:
            waits.append(addr.locked_until - now)
        user = self._users.get(username)
        if user is not None and pair is not None and pair.failures > 0:
            waits.append(user.locked_until - now)
        return max(waits)

    def failed(self, username: str, address: str, now: float | None = None) -> list[Lockout]:
        """Count a failure; returns the lockouts it started."""
        now = time.time() if now is None else now
        self._prune(now)
        cfg = self.cfg
        started: list[Lockout] = []
        pair = self._pairs.setdefault((username, address), _Strikes())
        secs = _strike(pair, now, cfg.login_free_failures, cfg)
        if secs:
            started.append(Lockout("pair", username, address, secs))
        addr = self._addresses.setdefault(address, _Strikes())
        secs = _strike(addr, now, cfg.login_address_free_failures, cfg)
        if secs:
            started.append(Lockout("address", username, address, secs))
        user = self._users.setdefault(username, _UserStrikes())
        user.times.append(now)
        while user.times and user.times[0] < now - cfg.login_user_window_s:
            user.times.popleft()
        if len(user.times) >= cfg.login_user_cap and user.locked_until <= now:
            user.locked_until = now + cfg.login_user_lockout_s
            user.times.clear()
            started.append(Lockout("user", username, address, cfg.login_user_lockout_s))
        return started

    def succeeded(self, username: str, address: str) -> None:
        self._pairs.pop((username, address), None)

    def _prune(self, now: float) -> None:
        """Bound memory under a flood of made-up user names and addresses."""
        self._calls += 1
        if self._calls % _PRUNE_EVERY:
            return
        old = now - _FORGET_AFTER_S
        self._pairs = {k: v for k, v in self._pairs.items() if v.last > old}
        self._addresses = {k: v for k, v in self._addresses.items() if v.last > old}
        self._users = {
            k: v
            for k, v in self._users.items()
            if v.locked_until > now or (v.times and v.times[-1] > old)
        }


def _strike(s: _Strikes, now: float, free: int, cfg: RelayConfig) -> float:
    """One more failure on `s`; the lockout it starts in seconds, or 0."""
    if s.last and now - s.last > _FORGET_AFTER_S:
        s.failures = 0
    s.failures += 1
    s.last = now
    over = s.failures - free
    if over <= 0:
        return 0.0
    secs = min(cfg.login_delay_s * 2.0 ** min(over - 1, 30), cfg.login_lockout_max_s)
    s.locked_until = now + secs
    return secs


class Busy(Exception):
    """Too many logins are already waiting for a password hash."""


class PasswordChecker:
    """scrypt in worker threads, at most `workers` at once and `queue` more waiting.

    hashlib.scrypt releases the GIL, so hashes run beside the event loop and the writer;
    the bound keeps a login flood from taking every core (and ~16 MiB per hash)."""

    def __init__(self, workers: int, queue: int) -> None:
        self._slots = asyncio.Semaphore(workers)
        self._room = workers + queue
        self._inflight = 0

    async def check(self, password: str, stored: str | None) -> bool:
        return await self._run(accounts.check_password, password, stored or accounts.DUMMY_HASH)

    async def hash(self, password: str) -> str:
        """A new password's scrypt hash, under the same bound as checks."""
        return await self._run(accounts.hash_password, password)

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        if self._inflight >= self._room:
            raise Busy
        self._inflight += 1
        try:
            async with self._slots:
                return await asyncio.to_thread(fn, *args)
        finally:
            self._inflight -= 1


def hash_workers(configured: int, cores: int | None = None) -> int:
    """`login_hash_workers`, with 0 meaning half the cores (at least one)."""
    if configured > 0:
        return configured
    return max(1, (cores if cores is not None else os.cpu_count() or 2) // 2)


@dataclass
class SignIn:
    """The sign-in state one relay shares across its officer connections."""

    limiter: LoginLimiter
    passwords: PasswordChecker
    box: SecretBox
    #: token digest -> the one open connection that uses it (a token is bound to it)
    bound: dict[str, object] = field(default_factory=dict)

    @classmethod
    def for_config(cls, config: RelayConfig, box: SecretBox) -> SignIn:
        return cls(
            LoginLimiter(config),
            PasswordChecker(hash_workers(config.login_hash_workers), config.login_hash_queue),
            box,
        )
