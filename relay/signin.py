"""Login attempt limits, shared by every relay on the database, and password hashing that
never runs on the database writer.

Three limits (`LoginLimiter` holds their rules):

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

The failures live in the database (`login_failures`, `SharedFailures`), so several relays
on one PostgreSQL count them together and a burst spread over nodes gets no more tries
than one relay gives; on SQLite (one relay) it is the same code. A relay restart no
longer forgets a lockout (rows are kept for an hour). A lockout is a brake on guessing,
not a record: the audit log keeps that.

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
from typing import Literal, TypeVar

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from relay import accounts
from relay.config import RelayConfig
from relay.db import models as db
from relay.db.uow import Database, Tx
from relay.secret_box import SecretBox

T = TypeVar("T")

#: records untouched this long are forgotten (the longest lockout, with room to spare)
_FORGET_AFTER_S = 3600.0
_PRUNE_EVERY = 1024
#: the newest failures read per decision (a user or an address with more in an hour is
#: locked long before: these are enough to decide)
_REPLAY_ROWS = 5000
#: how often a relay deletes failures older than `_FORGET_AFTER_S` (at a claim)
_PRUNE_S = 60.0
#: lockouts this relay knows of, at most (a cache: the database decides)
_KNOWN_MAX = 10_000


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

    def address_wait(self, address: str, now: float) -> float:
        """Seconds until `address` may try again for any user (0: not locked)."""
        addr = self._addresses.get(address)
        return max(0.0, addr.locked_until - now) if addr is not None else 0.0

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


Settle = Literal["ok", "failed", "void"]


@dataclass(frozen=True)
class Claim:
    """The answer to `SharedFailures.claim`: wait `wait` seconds, or go ahead (`row` is the
    attempt's failure row, until `settled` says how it ended)."""

    username: str
    address: str
    wait: float
    row: int | None = None


class SharedFailures:
    """The login limits of every relay on this database, decided from `login_failures`.

    Why this way (and not a poll every 0.25 s, or a read before the hash): the decision
    and the record of the attempt are one write job, `claim`, and every write batch of
    every node takes the audit lock first and holds it to COMMIT (relay/db/uow.py). So
    the claims of all nodes are serial: each sees every attempt claimed before it,
    including those whose password is still being hashed (an attempt counts as a failure
    from its claim until it is known to be right). A burst of guesses spread over nodes,
    or over connections to one node, gets exactly the tries one sequential guesser gets,
    not one more per node or per attempt in flight. A poll leaves a window of the poll
    interval times the nodes; a read before the hash leaves every attempt in flight. The
    price is one small write per attempt that is let through, which pays for a scrypt
    hash anyway; a refused attempt costs no I/O when this relay already knows the
    lockout (`retry_after`, from the last decision here), one job otherwise.

    The rules are `LoginLimiter`'s: a decision replays the last hour's rows for the user
    and for the address through a fresh one, so one relay on SQLite behaves as before.
    A relay that dies while a hash runs leaves that attempt counted: it fails closed."""

    def __init__(self, config: RelayConfig) -> None:
        self.cfg = config
        #: (user, address) -> until when this relay knows the pair is refused
        self._known: dict[tuple[str, str], float] = {}
        #: address -> until when this relay knows the address is refused for every user
        self._known_addresses: dict[str, float] = {}
        self._pruned_at = 0.0  # written on the writer thread only

    def retry_after(self, username: str, address: str, now: float | None = None) -> float:
        """Seconds this relay already knows the attempt must wait (no I/O; 0 means ask
        the database, `claim`)."""
        now = time.time() if now is None else now
        pair = self._known.get((_user_key(username), _address_key(address)), 0.0)
        addr = self._known_addresses.get(_address_key(address), 0.0)
        return max(0.0, pair - now, addr - now)

    async def claim(self, database: Database, username: str, address: str) -> Claim:
        """Decide an attempt: a `Claim` to wait, or one whose row counts it from now."""
        claim = await database.write(self._claim_job(username, address))
        if claim.wait > 0:
            self._remember(claim.username, claim.address, claim.wait, None)
        return claim

    async def release(self, database: Database, claim: Claim) -> None:
        """The attempt was never checked (the relay was busy): it does not count."""
        if claim.row is not None:
            await database.write(lambda tx: self._drop(tx.s, claim.row))

    def settled(
        self, claim: Claim, job: Callable[[Tx], T], outcome: Callable[[T], Settle]
    ) -> Callable[[Tx], tuple[T, list[Lockout]]]:
        """`job` (the login's own write), then in the same transaction the claim's end as
        `outcome` tells it from the job's result: "ok" clears the pair, "failed" keeps the
        failure and audits the lockouts it started, "void" (a disabled account's right
        password) forgets the attempt. Returns the job's result and those lockouts."""

        def run(tx: Tx) -> tuple[T, list[Lockout]]:
            result = job(tx)
            end = outcome(result)
            locks: list[Lockout] = []
            if end == "failed":
                locks = self._failed(tx, claim)
            elif claim.row is not None:
                self._drop(tx.s, claim.row)
                if end == "ok":
                    self._succeeded(tx, claim)
            return result, locks

        return run

    # ---------------------------------------------------------- writer thread

    def _claim_job(self, username: str, address: str) -> Callable[[Tx], Claim]:
        user, addr = _user_key(username), _address_key(address)

        def job(tx: Tx) -> Claim:
            self._prune(tx)
            limiter = self._replay(tx.s, user, addr, tx.now, None)[0]
            wait = limiter.retry_after(user, addr, tx.now)
            if wait > 0:
                return Claim(user, addr, wait)
            row = db.LoginFailure(username=user, address=addr, at=tx.now)
            tx.s.add(row)
            tx.s.flush()
            return Claim(user, addr, 0.0, row.id)

        return job

    def _failed(self, tx: Tx, claim: Claim) -> list[Lockout]:
        limiter, locks = self._replay(tx.s, claim.username, claim.address, tx.now, claim.row)
        for lock in locks:
            tx.audit(
                lock.username,
                "login.locked",
                lock.username,
                scope=lock.scope,
                at=lock.address,
                seconds=lock.seconds,
            )
        wait = limiter.retry_after(claim.username, claim.address, tx.now)
        addr_wait = limiter.address_wait(claim.address, tx.now)
        if wait > 0 or addr_wait > 0:
            tx.after_commit(lambda: self._remember(claim.username, claim.address, wait, addr_wait))
        return locks

    def _succeeded(self, tx: Tx, claim: Claim) -> None:
        tx.s.execute(
            update(db.LoginFailure)
            .where(
                db.LoginFailure.username == claim.username,
                db.LoginFailure.address == claim.address,
                db.LoginFailure.cleared_at.is_(None),
            )
            .values(cleared_at=tx.now)
        )
        key = (claim.username, claim.address)
        tx.after_commit(lambda: self._known.pop(key, None))

    def _replay(
        self, s: Session, user: str, addr: str, now: float, watch: int | None
    ) -> tuple[LoginLimiter, list[Lockout]]:
        """A limiter fed the last hour's failures of `user` (any address) and of `addr`
        (any user), in order, with each pair's clearing success; and the lockouts the
        row `watch` started."""
        f = db.LoginFailure
        rows = s.execute(
            select(f.id, f.username, f.address, f.at, f.cleared_at)
            .where(f.at > now - _FORGET_AFTER_S, or_(f.username == user, f.address == addr))
            .order_by(f.at.desc(), f.id.desc())
            .limit(_REPLAY_ROWS)
        ).all()
        steps: list[tuple[float, int, str, str, int | None]] = []
        cleared: set[tuple[float, str, str]] = set()
        for rid, u, a, at, done in rows:
            steps.append((float(at), 0, u, a, int(rid)))
            if done is not None:
                cleared.add((float(done), u, a))
        steps += [(at, 1, u, a, None) for at, u, a in cleared]
        steps.sort(key=lambda x: (x[0], x[1], x[4] or 0))
        limiter, started = LoginLimiter(self.cfg), list[Lockout]()
        for when, kind, name, where, row_id in steps:
            if kind:
                limiter.succeeded(name, where)
                continue
            locks = limiter.failed(name, where, when)
            if row_id == watch:
                started = locks
        return limiter, started

    @staticmethod
    def _drop(s: Session, row: int | None) -> None:
        s.execute(delete(db.LoginFailure).where(db.LoginFailure.id == row))

    def _prune(self, tx: Tx) -> None:
        """At most once a minute per relay, at a claim (the only time rows are added)."""
        if tx.now - self._pruned_at < _PRUNE_S:
            return
        self._pruned_at = tx.now
        tx.s.execute(delete(db.LoginFailure).where(db.LoginFailure.at < tx.now - _FORGET_AFTER_S))

    # ---------------------------------------------------------- event loop

    def _remember(self, user: str, addr: str, wait: float, addr_wait: float | None) -> None:
        now = time.time()
        if len(self._known) + len(self._known_addresses) > _KNOWN_MAX:
            self._known = {k: t for k, t in self._known.items() if t > now}
            self._known_addresses = {k: t for k, t in self._known_addresses.items() if t > now}
            if len(self._known) + len(self._known_addresses) > _KNOWN_MAX:
                self._known.clear()  # only a cache: the next claims ask the database
                self._known_addresses.clear()
        if wait > 0:
            self._known[(user, addr)] = now + wait
        if addr_wait:
            self._known_addresses[addr] = now + addr_wait


def _user_key(username: str) -> str:
    """As the audit log names a user: its first 200 characters (the column's width)."""
    return username[:200]


def _address_key(address: str) -> str:
    return address[:64]


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

    limiter: SharedFailures
    passwords: PasswordChecker
    box: SecretBox
    #: token digest -> the one open connection that uses it (a token is bound to it)
    bound: dict[str, object] = field(default_factory=dict)

    @classmethod
    def for_config(cls, config: RelayConfig, box: SecretBox) -> SignIn:
        return cls(
            SharedFailures(config),
            PasswordChecker(hash_workers(config.login_hash_workers), config.login_hash_queue),
            box,
        )
