"""How the detail pane words sizes, times and places (its Qt-free model)."""

from __future__ import annotations

import pytest

from console.detail.model import (
    STATUS_WORDS,
    coordinates,
    human_size,
    play_clock,
    relative_time,
    words,
)

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KB"),
        (5 * 1024**2, "5.0 MB"),
        (3 * 1024**4, "3072.0 GB"),
    ],
)
def test_sizes_read_in_binary_units(n: int, text: str) -> None:
    assert human_size(n) == text


@pytest.mark.parametrize(
    ("ago", "text"),
    [
        (-120, "in the future (clock skew)"),
        (-30, "just now"),  # a little skew is not worth a word
        (10, "just now"),
        (150, "2 min ago"),
        (3 * 3600, "3 h ago"),
        (int(1.5 * 3600), "1.5 h ago"),
        (12 * 3600, "12 h ago"),
        (86400, "1 day ago"),
        (3 * 86400, "3 days ago"),
    ],
)
def test_relative_times_read_as_a_dispatcher_says_them(ago: int, text: str) -> None:
    assert relative_time(NOW - ago, now=NOW) == text


def test_coordinates_give_hemispheres_and_the_raw_numbers() -> None:
    assert coordinates(53.759, -2.699) == "53.75900° N, 2.69900° W  (53.75900, -2.69900)"
    assert coordinates(-33.9, 18.4).startswith("33.90000° S, 18.40000° E")


def test_machine_words_read_as_words() -> None:
    assert words("in_progress") == "In progress" == STATUS_WORDS["in_progress"]
    assert words("high") == "High"


def test_player_positions_read_as_minutes_and_seconds() -> None:
    assert play_clock(0) == "0:00"
    assert play_clock(-5) == "0:00"  # before the player knows its position
    assert play_clock(61_999) == "1:01"
    assert play_clock(3_725_000) == "62:05"
