"""Sign-in rules without a relay: single-use TOTP steps, the login limiter's bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay import accounts
from relay.config import RelayConfig
from relay.secret_box import SecretBox, SecretKeyError
from relay.signin import LoginLimiter

SECRET = accounts.new_totp_secret()


def test_a_code_matches_its_step_once_and_older_codes_never() -> None:
    t = 1_767_262_500.0
    step = accounts.time_step(t)
    code = accounts.totp_at_step(SECRET, step)
    assert accounts.match_totp(SECRET, code, None, t) == step
    assert accounts.match_totp(SECRET, code, step, t) is None  # replayed
    older = accounts.totp_at_step(SECRET, step - 1)
    assert accounts.match_totp(SECRET, older, step, t) is None
    newer = accounts.totp_at_step(SECRET, step + 1)  # clock drift: one step ahead
    assert accounts.match_totp(SECRET, newer, step, t) == step + 1
    assert accounts.match_totp(SECRET, accounts.totp_at_step(SECRET, step + 2), None, t) is None


def test_the_dummy_hash_is_a_real_scrypt_hash() -> None:
    assert accounts.DUMMY_HASH.startswith("scrypt$16384$8$1$")
    assert not accounts.check_password("", accounts.DUMMY_HASH)


def limiter() -> LoginLimiter:
    return LoginLimiter(RelayConfig(data_dir=Path("unused")))


def test_delays_grow_per_pair_and_stay_bounded() -> None:
    lim, t = limiter(), 1000.0
    for _ in range(3):
        assert lim.failed("dana", "10.0.0.9", t) == []
    waits = []
    for i in range(20):
        locks = {x.scope: x for x in lim.failed("dana", "10.0.0.9", t + i)}
        waits.append(locks["pair"].seconds)
    assert waits[:4] == [1.0, 2.0, 4.0, 8.0] and max(waits) == 900.0
    assert lim.retry_after("dana", "10.0.0.9", t + 20) > 0
    assert lim.retry_after("dana", "10.0.0.10", t + 20) == 0  # another address: free


def test_a_user_lockout_spares_addresses_that_have_not_failed() -> None:
    lim, t = limiter(), 1000.0
    locks = [x for i in range(30) for x in lim.failed("dana", f"10.1.{i}.1", t)]
    assert [x.scope for x in locks] == ["user"] and locks[0].seconds == 60.0
    assert lim.retry_after("dana", "10.1.0.1", t) == pytest.approx(60.0)  # a guessing address
    assert lim.retry_after("dana", "192.0.2.7", t) == 0  # the officer's own console
    assert lim.retry_after("dana", "10.1.0.1", t + 61) == 0  # short and bounded


def test_success_clears_the_pair() -> None:
    lim = limiter()
    for _ in range(5):
        lim.failed("dana", "10.0.0.9", 1000.0)
    lim.succeeded("dana", "10.0.0.9")
    assert lim.retry_after("dana", "10.0.0.9", 1000.0) == 0


def test_a_sealed_secret_opens_only_for_its_officer(tmp_path: Path) -> None:
    box = SecretBox.load_or_create(tmp_path / "k")
    sealed = box.seal(SECRET, "dana")
    assert SECRET not in sealed and box.open(sealed, "dana") == SECRET
    with pytest.raises(SecretKeyError):
        box.open(sealed, "mallory")
    with pytest.raises(SecretKeyError):
        SecretBox.load_or_create(tmp_path / "other").open(sealed, "dana")
