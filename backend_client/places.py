"""Where "go to" on the map goes: named places (a gazetteer) and typed coordinates.

The first gazetteer is the places the pilot scenarios name (each hotspot in
`resources/scenarios/*.toml` has a name and a position), plus the city centre, so a
dispatcher can type "Foster Building" or "53.76, -2.70" and the map moves there. Pure:
the file system and strings, no Qt; the map widget calls `resolve`.

What an officer types is untrusted input in the plain sense: a typo gives a sentence
saying what was wrong and what to type instead, never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from backend_client.scenarios import DEFAULT_DIR, PRESTON_CENTRE, ScenarioError, available, read

__all__ = [
    "CoordinateError",
    "Gazetteer",
    "Place",
    "PlaceError",
    "load_gazetteer",
    "parse_coordinates",
    "resolve",
]


class PlaceError(ValueError):
    """Nothing matches what was typed; the message says what to type instead."""


class CoordinateError(PlaceError):
    """The text looks like coordinates but is not a valid position."""


@dataclass(frozen=True)
class Place:
    name: str
    lat: float
    lon: float


class Gazetteer:
    """Named places, found by name regardless of case, by prefix or any word's start."""

    def __init__(self, places: Iterable[Place]) -> None:
        by_key: dict[str, Place] = {}
        for place in places:
            by_key.setdefault(_key(place.name), place)  # the first file naming it wins
        self._places = sorted(by_key.values(), key=lambda p: p.name.casefold())
        self._by_key = by_key

    def __len__(self) -> int:
        return len(self._places)

    @property
    def places(self) -> list[Place]:
        return list(self._places)

    def names(self) -> list[str]:
        return [p.name for p in self._places]

    def find(self, text: str) -> Place | None:
        """The place of exactly this name (any case), or the only one it starts."""
        key = _key(text)
        if not key:
            return None
        if key in self._by_key:
            return self._by_key[key]
        found = self.search(text)
        return found[0] if len(found) == 1 else None

    def search(self, text: str, limit: int = 20) -> list[Place]:
        """Places whose name starts with the text, then those with a word starting so."""
        key = _key(text)
        if not key:
            return []
        starts = [p for p in self._places if _key(p.name).startswith(key)]
        words = [
            p
            for p in self._places
            if p not in starts and any(w.startswith(key) for w in _tails(p.name))
        ]
        return (starts + words)[:limit]


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def _tails(name: str) -> list[str]:
    """The name from each of its words on (so "foster bu" finds "UCLan Foster Building")."""
    parts = _key(name).split()
    return [" ".join(parts[i:]) for i in range(1, len(parts))]


def load_gazetteer(directory: Path | None = None) -> Gazetteer:
    """The places named in the scenario files in `directory` (default: the shipped ones).

    A file that does not read is left out (the simulator reports it when it is run);
    the city centre is always there.
    """
    d = directory or DEFAULT_DIR
    places = [Place("Preston city centre", *PRESTON_CENTRE)]
    for name in available(d):
        try:
            spec = read(d / f"{name}.toml")
        except ScenarioError:
            continue
        places += [Place(h.name, h.lat, h.lon) for h in spec.area.hotspots]
    return Gazetteer(places)


# ---------------------------------------------------------------- coordinates

_NUMBER = r"[+-]?\d+(?:[.,]\d+)?"
_DECIMAL = re.compile(rf"^\s*({_NUMBER})\s*([NS])?\s*[,; ]\s*({_NUMBER})\s*([EW])?\s*$", re.I)
_DMS_PART = (
    r"(\d+(?:\.\d+)?)\s*[°d:\s]\s*(?:(\d+(?:\.\d+)?)\s*['′m:\s]\s*)?"
    r"(?:(\d+(?:\.\d+)?)\s*(?:\"|″|''|s)?\s*)?([NSEW])"
)
_DMS = re.compile(rf"^\s*{_DMS_PART}\s*[,; ]?\s*{_DMS_PART}\s*$", re.I)
EXAMPLE = "53.76, -2.70 or 53°45'36\"N 2°42'W"


def looks_like_coordinates(text: str) -> bool:
    """Mostly digits and signs: meant as coordinates, so a bad one is an error, not a name."""
    return bool(re.match(r"^\s*[+-]?\d", text))


def parse_coordinates(text: str) -> tuple[float, float]:
    """(lat, lon) from "53.76, -2.70", "53.76 -2.70", "53.76N 2.70W" or degrees, minutes
    and seconds ("53°45'36"N 2°42'0"W"); CoordinateError says what is wrong."""
    decimal = _DECIMAL.match(text)
    if decimal:
        lat = _signed(float(decimal.group(1).replace(",", ".")), decimal.group(2), "S")
        lon = _signed(float(decimal.group(3).replace(",", ".")), decimal.group(4), "W")
        return _checked(lat, lon)
    dms = _DMS.match(text)
    if dms:
        first = _dms(dms.group(1), dms.group(2), dms.group(3), dms.group(4))
        second = _dms(dms.group(5), dms.group(6), dms.group(7), dms.group(8))
        hemis = (dms.group(4).upper(), dms.group(8).upper())
        if hemis[0] in "EW" and hemis[1] in "NS":
            first, second = second, first
        elif not (hemis[0] in "NS" and hemis[1] in "EW"):
            raise CoordinateError(
                f"{text.strip()!r} gives two {'latitudes' if hemis[0] in 'NS' else 'longitudes'}:"
                f" give one N or S and one E or W, e.g. {EXAMPLE}."
            )
        return _checked(first, second)
    raise CoordinateError(
        f"{text.strip()!r} is not a position: type latitude and longitude, e.g. {EXAMPLE}."
    )


def _signed(value: float, hemisphere: str | None, negative: str) -> float:
    if hemisphere is None:
        return value
    if value < 0:
        raise CoordinateError("Give either a minus sign or N/S/E/W, not both.")
    return -value if hemisphere.upper() == negative else value


def _dms(deg: str, minutes: str | None, seconds: str | None, hemisphere: str) -> float:
    m = float(minutes or 0)
    s = float(seconds or 0)
    if m >= 60 or s >= 60:
        raise CoordinateError("Minutes and seconds must be below 60.")
    value = float(deg) + m / 60 + s / 3600
    return -value if hemisphere.upper() in "SW" else value


def _checked(lat: float, lon: float) -> tuple[float, float]:
    if not -90 <= lat <= 90:
        raise CoordinateError(
            f"Latitude {lat:g} is out of range (-90 to 90): latitude comes first, e.g. {EXAMPLE}."
        )
    if not -180 <= lon <= 180:
        raise CoordinateError(f"Longitude {lon:g} is out of range (-180 to 180).")
    return lat, lon


def resolve(text: str, gazetteer: Gazetteer) -> Place:
    """Where the typed text points: coordinates, or a place of the gazetteer."""
    if not text.strip():
        raise PlaceError(f"Type a place name or coordinates, e.g. {EXAMPLE}.")
    if looks_like_coordinates(text):
        lat, lon = parse_coordinates(text)
        return Place(f"{lat:.5f}, {lon:.5f}", lat, lon)
    place = gazetteer.find(text)
    if place is not None:
        return place
    matches = gazetteer.search(text, limit=4)
    if matches:
        names = "; ".join(p.name for p in matches)
        raise PlaceError(f"{text.strip()!r} matches several places: {names}. Pick one.")
    raise PlaceError(
        f"No place called {text.strip()!r} is known: pick one from the list, "
        f"or type coordinates, e.g. {EXAMPLE}."
    )
