"""Reconnection policy: `classify` (retry or give up, and why, in the user's words) and
`Backoff` (capped exponential, full jitter). No network: exceptions are built by hand."""

from __future__ import annotations

import random
import ssl

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI
from websockets.http11 import Response

from backend_client.errors import ErrorCode, ProtocolError
from backend_client.policy import FATAL_CODES, Backoff, CertificateChanged, LinkLost, classify


def untrusted() -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED]")
    exc.verify_message = "self-signed certificate in certificate chain"
    return exc


def http(status: int) -> InvalidStatus:
    return InvalidStatus(Response(status, "x", Headers()))


# (exception, retry?, words the user must read in the reason)
CASES: list[tuple[BaseException, bool, tuple[str, ...]]] = [
    (CertificateChanged("AA:BB", "CC:DD"), False, ("certificate has changed", "AA:BB", "CC:DD")),
    (untrusted(), False, ("not trusted", "self-signed certificate", "CA file")),
    (InvalidURI("http://relay", "scheme isn't ws"), False, ("address is not valid",)),
    (http(404), False, ("not a Lookout relay", "404")),
    (http(426), False, ("not a Lookout relay", "426")),
    (http(503), True, ("HTTP 503", "retrying")),
    (LinkLost("no answer to a ping for 8 s"), True, ("lost", "no answer to a ping", "reconnect")),
    (ConnectionRefusedError(111, "refused"), True, ("refused", "is it running", "retrying")),
    (TimeoutError(), True, ("did not answer in time", "retrying")),
    (ConnectionResetError(104, "reset"), True, ("ConnectionResetError", "retrying")),
    (EOFError(), True, ("EOFError", "retrying")),
    (ConnectionClosed(None, None), True, ("lost", "reconnecting")),
    (ConnectionError("the relay closed the connection"), True, ("ConnectionError", "retrying")),
    (ValueError("boom"), True, ("Unexpected error", "ValueError", "boom", "retrying")),
]


@pytest.mark.parametrize(("exc", "retry", "words"), CASES, ids=lambda x: type(x).__name__)
def test_each_kind_of_failure_is_retryable_or_fatal_and_says_why(
    exc: BaseException, retry: bool, words: tuple[str, ...]
) -> None:
    verdict = classify(exc)
    assert verdict.retry is retry
    for word in words:
        assert word in verdict.reason
    assert "Traceback" not in verdict.reason and verdict.reason[0].isupper()


@pytest.mark.parametrize("code", list(ErrorCode), ids=str)
def test_a_refusal_from_the_relay_is_fatal_only_when_a_person_must_act(code: ErrorCode) -> None:
    message = f"the relay said {code.value}"
    verdict = classify(ProtocolError(code, message))
    assert verdict.retry is (code not in FATAL_CODES)
    assert verdict.reason == message  # the relay's words reach the user unchanged


def test_the_fatal_codes_are_the_ones_no_retry_can_fix() -> None:
    assert {
        ErrorCode.BAD_CREDENTIALS,
        ErrorCode.ACCOUNT_DISABLED,
        ErrorCode.FORBIDDEN,
        ErrorCode.UNSUPPORTED_VERSION,
    } == FATAL_CODES
    assert classify(ProtocolError(ErrorCode.RATE_LIMITED, "wait")).retry  # waiting helps


class _Top(random.Random):
    """Always draws the top of the range, to read the ceiling off `next_delay`."""

    def uniform(self, a: float, b: float) -> float:
        return b


class _Bottom(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return a


def test_the_ceiling_doubles_from_base_and_stops_at_cap() -> None:
    b = Backoff(base=0.5, cap=30.0, rng=_Top())
    assert [b.next_delay() for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert b.attempt == 9


def test_full_jitter_can_wait_no_time_at_all() -> None:
    b = Backoff(base=0.5, cap=30.0, rng=_Bottom())
    assert [b.next_delay() for _ in range(4)] == [0, 0, 0, 0]


@pytest.mark.parametrize("seed", range(5))
def test_every_delay_is_within_zero_and_the_attempts_ceiling(seed: int) -> None:
    base, cap = 0.25, 10.0
    b = Backoff(base=base, cap=cap, rng=random.Random(seed))
    for attempt in range(40):
        assert b.attempt == attempt
        delay = b.next_delay()
        assert 0.0 <= delay <= min(cap, base * 2**attempt)


def test_delays_are_spread_not_synchronised() -> None:
    """A thousand consoles after a relay restart must not all come back at once."""
    delays = [
        Backoff(base=1.0, cap=8.0, attempt=3, rng=random.Random(i)).next_delay() for i in range(500)
    ]
    assert min(delays) < 1.0 and max(delays) > 7.0
    assert len({round(d, 3) for d in delays}) > 400


def test_a_seeded_source_repeats_and_reset_starts_over() -> None:
    one = Backoff(rng=random.Random(42))
    two = Backoff(rng=random.Random(42))
    first = [one.next_delay() for _ in range(6)]
    assert first == [two.next_delay() for _ in range(6)]
    one.reset()
    assert one.attempt == 0
    assert 0.0 <= one.next_delay() <= one.base  # back to the first, shortest ceiling
    assert one.attempt == 1


def test_without_a_seeded_source_the_bounds_still_hold() -> None:
    b = Backoff(base=0.5, cap=2.0)
    assert all(0.0 <= b.next_delay() <= 2.0 for _ in range(20))
