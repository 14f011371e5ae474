"""relay/ratelimit.py on a fake clock: buckets refill at their rate, tables stay bounded."""

from __future__ import annotations

import pytest

from relay.ratelimit import (
    AddressCounts,
    KeyedBuckets,
    LogThrottle,
    Penalties,
    Rate,
    TokenBucket,
    address_key,
    parse_allowlist,
    retry_after,
)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_bucket_allows_the_burst_then_says_how_long_to_wait() -> None:
    rate = Rate(per_s=2.0, burst=3)
    b = TokenBucket.full(rate, 0.0)
    assert [b.take(rate, 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take(rate, 0.0) == pytest.approx(0.5)  # one token at 2/s
    assert b.take(rate, 0.25) == pytest.approx(0.25)  # half refilled, nothing taken
    assert b.take(rate, 0.5) == 0.0
    assert b.take(rate, 100.0, cost=3) == 0.0  # refill stops at the burst
    assert b.take(rate, 100.0) > 0


def test_a_cost_above_the_burst_is_slow_not_impossible() -> None:
    rate = Rate(per_s=10.0, burst=100)
    b = TokenBucket.full(rate, 0.0)
    assert b.take(rate, 0.0, cost=500) == 0.0  # charged as the whole burst
    assert b.take(rate, 0.0, cost=500) == pytest.approx(10.0)


def test_refund_and_switched_off() -> None:
    rate = Rate(per_s=1.0, burst=1)
    b = TokenBucket.full(rate, 0.0)
    assert b.take(rate, 0.0) == 0.0
    b.give(rate, 0.0)
    assert b.take(rate, 0.0) == 0.0
    off = Rate(per_s=0.0, burst=0)
    assert all(b.take(off, 0.0) == 0.0 for _ in range(1000))
    assert Rate.per_hour(30) == Rate(30 / 3600, 30)


def test_keyed_buckets_are_per_key_and_refill_on_the_clock() -> None:
    clock = Clock()
    table: KeyedBuckets[str] = KeyedBuckets(clock=clock)
    rate = Rate.per_hour(2)
    assert table.take("a", rate) == 0.0 and table.take("a", rate) == 0.0
    wait = table.take("a", rate)
    assert wait == pytest.approx(1800.0)
    assert table.take("b", rate) == 0.0  # another key has its own bucket
    clock.t += wait
    assert table.take("a", rate) == 0.0


def test_keyed_buckets_forget_refilled_keys_and_never_exceed_max_keys() -> None:
    clock = Clock()
    table: KeyedBuckets[int] = KeyedBuckets(max_keys=100, clock=clock)
    rate = Rate(per_s=1.0, burst=5)
    for k in range(10_000):
        table.take(k, rate)
        assert len(table) <= 100
    assert table.evicted > 0  # all drawn down within the same instant: the oldest go
    clock.t += 10  # every bucket has refilled: the next new key sweeps them out
    table.take(-1, rate)
    assert len(table) == 1


def test_refilled_buckets_go_before_drained_ones() -> None:
    clock = Clock()
    table: KeyedBuckets[str] = KeyedBuckets(max_keys=2, clock=clock)
    rate = Rate(per_s=1.0, burst=1)
    table.take("idle", rate)
    clock.t += 5  # "idle" refills
    table.take("attacker", rate)
    table.take("new", rate)  # sweeps "idle" (refilled), keeps the drained "attacker"
    assert table.evicted == 0
    assert table.take("attacker", rate) > 0


def test_address_counts_hold_only_open_addresses() -> None:
    counts = AddressCounts()
    assert all(counts.acquire("1.2.3.4", 2) for _ in range(2))
    assert not counts.acquire("1.2.3.4", 2)
    assert counts.acquire("5.6.7.8", 2)
    counts.release("1.2.3.4")
    assert counts.acquire("1.2.3.4", 2)
    for _ in range(2):
        counts.release("1.2.3.4")
    counts.release("5.6.7.8")
    assert counts.counts == {}
    assert all(counts.acquire("x", 0) for _ in range(100))  # 0: no limit


def test_address_keys_allowlist_and_ipv6_prefix() -> None:
    allow = ("100.64.0.0/10", "::1")
    assert address_key(("203.0.113.9", 443), allow) == "203.0.113.9"
    assert address_key(("100.64.1.2", 443), allow) is None  # carrier NAT, allowlisted
    assert address_key(("::1", 443, 0, 0), allow) is None
    assert address_key(("::ffff:203.0.113.9", 443, 0, 0), allow) == "203.0.113.9"
    a = address_key(("2001:db8:1:2:aaaa::1", 443, 0, 0), allow)
    b = address_key(("2001:db8:1:2:bbbb::7", 443, 0, 0), allow)
    assert a == b == "2001:db8:1:2::/64"  # one client's /64 is one key
    assert address_key(None, allow) is None and address_key("/tmp/sock", allow) is None
    assert address_key(("127.0.0.1", 1), ()) == "127.0.0.1"  # loopback is not exempt
    with pytest.raises(ValueError, match="not-an-address"):
        parse_allowlist(("not-an-address",))


def test_penalties_run_out_on_the_clock_and_stay_bounded() -> None:
    clock = Clock()
    p = Penalties(max_keys=3, clock=clock)
    p.add("a", 10.0)
    p.add("off", 0.0)  # a penalty of 0 s is none
    assert p.active("a") and not p.active("off") and not p.active("b")
    clock.t += 9.9
    assert p.active("a")
    clock.t += 0.2
    assert not p.active("a") and len(p) == 0  # an expired entry is forgotten
    for key in "bcd":
        p.add(key, 5.0)
    clock.t += 1.0
    p.add("b", 5.0)  # renewed: now the newest
    p.add("e", 5.0)  # the table is full: the oldest ("c") goes
    assert len(p) == 3
    assert [k for k in "bcde" if p.active(k)] == ["b", "d", "e"]
    clock.t += 4.5  # d has expired, b and e have not
    p.add("f", 5.0)
    assert [k for k in "bdef" if p.active(k)] == ["b", "e", "f"]


def test_log_throttle_one_line_per_interval_and_counts_the_rest() -> None:
    clock = Clock()
    throttle = LogThrottle(60.0, clock)
    assert throttle.due() == 0
    assert [throttle.due() for _ in range(5)] == [None] * 5
    clock.t += 60
    assert throttle.due() == 5


def test_retry_after_rounds_up() -> None:
    assert retry_after(0.01) == 0.1
    assert retry_after(1.21) == 1.3


def test_hash_workers_default_to_half_the_cores_and_never_none() -> None:
    from relay.signin import hash_workers

    assert [hash_workers(0, cores) for cores in (1, 2, 3, 8)] == [1, 1, 1, 4]
    assert hash_workers(3, cores=2) == 3  # an operator's number is kept
