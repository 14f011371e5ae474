"""Token buckets on a monotonic clock, alone or keyed, and the bits every limit shares.

One mechanism for every limit the relay enforces (messages and bytes per connection,
reports per device, registrations and connections per address), so each limit is a
`Rate` in the config and nothing else. No I/O and no asyncio: the clock is passed in, so
`tests/unit/test_ratelimit.py` drives it with a fake one. Everything here runs on the
event loop's thread only (no locks).

Memory is bounded on purpose: a keyed table an attacker can add keys to (new addresses,
new devices) holds at most `max_keys` buckets. A bucket that has refilled is the same as
no bucket, so those are forgotten first; past that the least recently used goes (the
attacker who churns that many keys gets a fresh bucket back, which is the price of not
letting them lock everyone else out).
"""

from __future__ import annotations

import functools
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
Clock = Callable[[], float]
#: an IPv6 client usually owns a whole /64: one key per /64, or every address is a new key
IPV6_PREFIX = 64


@dataclass(frozen=True, slots=True)
class Rate:
    """`per_s` tokens refill per second, up to `burst`. Zero (or less) switches it off."""

    per_s: float
    burst: float

    @classmethod
    def per_hour(cls, n: float) -> Rate:
        """`n` an hour, all of which may be used at once (a fresh bucket is full)."""
        return cls(n / 3600.0, n)

    @property
    def off(self) -> bool:
        return self.per_s <= 0 or self.burst <= 0


@dataclass(slots=True)
class TokenBucket:
    tokens: float
    stamp: float  # when `tokens` was last brought up to date

    @classmethod
    def full(cls, rate: Rate, now: float) -> TokenBucket:
        return cls(rate.burst, now)

    def _refill(self, rate: Rate, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(rate.burst, self.tokens + (now - self.stamp) * rate.per_s)
            self.stamp = now

    def take(self, rate: Rate, now: float, cost: float = 1.0) -> float:
        """Take `cost` tokens and return 0.0, or take nothing and return the seconds until
        they would be there. A cost above the burst is charged as the whole burst, so one
        big item is slow, never impossible."""
        if rate.off:
            return 0.0
        self._refill(rate, now)
        cost = min(cost, rate.burst)
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / rate.per_s

    def give(self, rate: Rate, now: float, cost: float = 1.0) -> None:
        """Refund a take that turned out not to count (e.g. a resubmitted report)."""
        self._refill(rate, now)
        self.tokens = min(rate.burst, self.tokens + cost)

    def is_full(self, rate: Rate, now: float) -> bool:
        self._refill(rate, now)
        return self.tokens >= rate.burst


class KeyedBuckets(Generic[K]):
    """One bucket per key (device, address), at most `max_keys` of them."""

    def __init__(self, max_keys: int = 100_000, clock: Clock = time.monotonic) -> None:
        self.max_keys = max(1, max_keys)
        self.clock = clock
        self.evicted = 0  # buckets dropped before they had refilled: a sign to raise max_keys
        self._buckets: OrderedDict[K, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: K, rate: Rate, cost: float = 1.0) -> float:
        """As `TokenBucket.take`, for `key`'s bucket (a new key starts full)."""
        if rate.off:
            return 0.0
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._add(key, rate, now)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(rate, now, cost)

    def give(self, key: K, rate: Rate, cost: float = 1.0) -> None:
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.give(rate, self.clock(), cost)

    def _add(self, key: K, rate: Rate, now: float) -> TokenBucket:
        while self._buckets:  # forget refilled buckets, oldest first
            oldest = next(iter(self._buckets.values()))
            if not oldest.is_full(rate, now):
                break
            self._buckets.popitem(last=False)
        if len(self._buckets) >= self.max_keys:
            self._buckets.popitem(last=False)
            self.evicted += 1
        bucket = self._buckets[key] = TokenBucket.full(rate, now)
        return bucket


@dataclass
class AddressCounts:
    """Open connections per address key; an entry lives only while its count is above 0,
    so the table is never bigger than the number of open connections."""

    counts: dict[str, int] = field(default_factory=dict)

    def acquire(self, key: str, limit: int) -> bool:
        n = self.counts.get(key, 0)
        if limit > 0 and n >= limit:
            return False
        self.counts[key] = n + 1
        return True

    def release(self, key: str) -> None:
        n = self.counts.get(key, 0) - 1
        if n > 0:
            self.counts[key] = n
        else:
            self.counts.pop(key, None)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def parse_allowlist(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """Addresses and CIDRs from the config (`"100.64.0.0/10"`, `"::1"`); a bad entry raises
    ValueError naming it, at start-up rather than at the first connection."""
    out: list[Network] = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"address_allowlist: {entry!r} is not an address or CIDR") from None
    return tuple(out)


def address_key(remote: Any, allowlist: tuple[str, ...]) -> str | None:
    """The key per-address limits count under, or None when none apply: the address is on
    the allowlist (carrier NAT, a load balancer, a test) or unknown (not an IP socket).

    IPv4-mapped IPv6 counts as its IPv4 address; other IPv6 addresses count per /64."""
    host = remote[0] if isinstance(remote, tuple) and remote else remote
    if not isinstance(host, str):
        return None
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
            host.split("%", 1)[0]
        )
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in parse_allowlist(allowlist)):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


class LogThrottle:
    """At most one log line per `every_s`: `due()` says whether to write one now, and how
    many were held back since the last (so the line can say so)."""

    def __init__(self, every_s: float = 60.0, clock: Clock = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self._last = -math.inf
        self._held = 0

    def due(self) -> int | None:
        now = self.clock()
        if now - self._last >= self.every_s:
            held, self._held, self._last = self._held, 0, now
            return held
        self._held += 1
        return None


class Penalties:
    """Address keys refused at accept until a moment: each was closed for flooding.

    A connection closed for ignoring `rate_limited` costs the relay little once it is gone,
    but a flooder reconnects at once and pays (and makes the relay pay) a TLS handshake, a
    sign-in and a few hundred refusals again. While its address is penalised each new
    socket is reset at accept instead (relay/listener.py), which costs the relay a few
    microseconds. At most `max_keys` entries: the expired go first, then the oldest."""

    def __init__(self, max_keys: int = 100_000, clock: Clock = time.monotonic) -> None:
        self.max_keys = max(1, max_keys)
        self.clock = clock
        self._until: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._until)

    def add(self, key: str, seconds: float) -> None:
        if seconds <= 0:
            return
        now = self.clock()
        self._until.pop(key, None)  # re-inserted last: oldest first
        if len(self._until) >= self.max_keys:
            self._until = {k: t for k, t in self._until.items() if t > now}
            while len(self._until) >= self.max_keys:
                del self._until[next(iter(self._until))]
        self._until[key] = now + seconds

    def active(self, key: str) -> bool:
        until = self._until.get(key)
        if until is None:
            return False
        if until > self.clock():
            return True
        del self._until[key]
        return False


@dataclass
class SharedLimits:
    """The tables limits share across connections (keyed by device or by address)."""

    reports: KeyedBuckets[int] = field(default_factory=KeyedBuckets)
    registrations: KeyedBuckets[str] = field(default_factory=KeyedBuckets)
    #: subject-access exports started per device (relay/citizen.py)
    privacy: KeyedBuckets[int] = field(default_factory=KeyedBuckets)
    #: pilot invite codes tried per device and per address (relay/citizen.py)
    pilot_joins: KeyedBuckets[int] = field(default_factory=KeyedBuckets)
    pilot_joins_by_address: KeyedBuckets[str] = field(default_factory=KeyedBuckets)
    #: addresses closed for flooding, refused at accept for `abuse_penalty_s`
    penalties: Penalties = field(default_factory=Penalties)


def retry_after(seconds: float) -> float:
    """A retry time for the wire: rounded up to a tenth of a second, at least 0.1 s."""
    return max(0.1, math.ceil(seconds * 10) / 10)
