"""The gazetteer (the scenarios' named places) and typed coordinates, without Qt."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend_client.places import (
    CoordinateError,
    Gazetteer,
    Place,
    PlaceError,
    load_gazetteer,
    parse_coordinates,
    resolve,
)
from backend_client.scenarios import DEFAULT_DIR


def test_the_shipped_scenarios_name_preston_places() -> None:
    g = load_gazetteer()
    names = g.names()
    assert "UCLan Foster Building" in names and "the Flag Market" in names
    assert "Preston city centre" in names
    assert len(names) == len({n.casefold() for n in names})  # one entry per place
    for p in g.places:  # all around Preston
        assert 53.70 < p.lat < 53.82 and -2.80 < p.lon < -2.60, p


def test_a_broken_scenario_file_is_left_out_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "burglary.toml").write_bytes((DEFAULT_DIR / "burglary.toml").read_bytes())
    (tmp_path / "broken.toml").write_text("name = [unterminated\n")
    names = load_gazetteer(tmp_path).names()
    assert "UCLan Foster Building" in names
    assert len(names) > 2


def test_search_by_prefix_or_a_words_start_in_any_case() -> None:
    g = Gazetteer([Place("UCLan Foster Building", 1, 2), Place("the Flag Market", 3, 4)])
    assert [p.name for p in g.search("ucl")] == ["UCLan Foster Building"]
    assert [p.name for p in g.search("FOSTER b")] == ["UCLan Foster Building"]
    assert g.find("flag market") == Place("the Flag Market", 3, 4)
    assert g.find("") is None and g.search("   ") == []
    assert g.find("zz") is None


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("53.76, -2.70", (53.76, -2.70)),
        ("53.76 -2.70", (53.76, -2.70)),
        ("53.76;-2.7", (53.76, -2.70)),
        ("53,76, -2,70", (53.76, -2.70)),
        ("53.76N 2.70W", (53.76, -2.70)),
        ("53°45'36\"N 2°42'0\"W", (53.76, -2.70)),
        ("53 45 36 N, 2 42 0 W", (53.76, -2.70)),
        ("2°42'W 53°45'36\"N", (53.76, -2.70)),  # longitude first, said by its letter
        ("-33.87, 151.21", (-33.87, 151.21)),
    ],
)
def test_coordinates_in_the_usual_forms(text: str, want: tuple[float, float]) -> None:
    lat, lon = parse_coordinates(text)
    assert lat == pytest.approx(want[0], abs=1e-6) and lon == pytest.approx(want[1], abs=1e-6)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("91, 0", "Latitude 91 is out of range"),
        ("53.7, 200", "Longitude 200 is out of range"),
        ("53.7", "is not a position"),
        ("53.7, -2.7, 4", "is not a position"),
        ("-53.7S 2W", "not both"),
        ("53°70'N 2°42'W", "below 60"),
        ("53°N 54°N", "two latitudes"),
        ("", "is not a position"),
    ],
)
def test_bad_coordinates_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(CoordinateError, match=says):
        parse_coordinates(text)


def test_resolve_goes_to_coordinates_or_a_place_or_says_why_not() -> None:
    g = Gazetteer([Place("Preston bus station", 1, 2), Place("Preston bus station car park", 3, 4)])
    assert resolve("53.76, -2.70", g) == Place("53.76000, -2.70000", 53.76, -2.70)
    assert resolve("preston bus station", g).lat == 1  # an exact name wins over prefixes
    with pytest.raises(PlaceError, match="several places"):
        resolve("preston bus", g)
    with pytest.raises(PlaceError, match="No place called 'Narnia'"):
        resolve("Narnia", g)
    with pytest.raises(PlaceError, match="Type a place name"):
        resolve("  ", g)
    with pytest.raises(CoordinateError, match="out of range"):
        resolve("95, 3", g)  # meant as coordinates: a clear error, not "no such place"
