"""The team model on its own: the relay's list in, words for the dock and the picker out."""

from __future__ import annotations

from backend_client import messages as m
from console.team.model import TeamModel, holding_words, picker_line, since_words

T = 1_767_262_200.0


def _o(name: str, holds: list[str], role: str = "dispatcher") -> m.OnlineOfficer:
    return m.OnlineOfficer(name, role, T, holds[:20], len(holds))  # type: ignore[arg-type]


def test_replace_sorts_by_name_and_says_whether_anything_changed() -> None:
    team = TeamModel()
    assert not team.known
    assert team.replace([]) is True and team.known  # "nobody" is news the first time
    assert team.replace([]) is False
    assert team.replace([_o("sam", []), _o("Dana", ["R-1"])]) is True
    assert team.names() == ["Dana", "sam"]
    assert team.replace([_o("Dana", ["R-1"]), _o("sam", [])]) is False
    got = team.get("Dana")
    assert got is not None and got.holding == 1 and team.get("nobody") is None
    team.forget()
    assert not team.known and team.names() == []


def test_words() -> None:
    assert holding_words(_o("a", [])) == "nothing"
    assert holding_words(_o("a", ["R-1", "R-2"])) == "2: R-1, R-2"
    assert holding_words(_o("a", [f"R-{i}" for i in range(25)])) == "25: R-0, R-1, R-2 and 22 more"
    assert since_words(T, T + 59) == "0 min" and since_words(T, T + 12 * 60) == "12 min"
    assert since_words(T, T + 3 * 3600 + 5 * 60) == "3 h 05 min"
    assert picker_line(_o("dana", ["R-1"])) == "dana — dispatcher, holds 1"
