"""Pilot scenarios as data files: what simulated citizens report, where, how often.

An inspector rehearses a pilot with scenarios like those of the Preston INSPEC2T pilot
(burglary at student accommodation, theft from vehicles, drug dealing, a missing or
vulnerable person, fly tipping, anti-social behaviour). Each is one TOML file in
`resources/scenarios/`, so a new scenario needs no code. Files are untrusted input in the
sense that a typo must give a clear error naming the file and the field, never a traceback
from deep inside the simulator.

A scenario with `mix` (like `mixed`) has no templates of its own: each report draws one of
the named scenarios (weighted by their `weight`) and uses its category, texts and replies.
"""

from __future__ import annotations

import math
import random
import string
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta

from backend_client import messages as m
from backend_client.limits import MAX_RADIUS_M, MAX_TEXT_CHARS

__all__ = [
    "DEFAULT_DIR",
    "PRESTON_CENTRE",
    "Hotspot",
    "ReportKind",
    "Scenario",
    "ScenarioError",
    "available",
    "load",
    "load_all",
]

#: Where the shipped scenario files live (next to the package in a source checkout).
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "resources" / "scenarios"
#: Preston city centre (the Flag Market), the default area of a scenario.
PRESTON_CENTRE = (53.7590, -2.6990)
_METRES_PER_DEGREE = 111_320.0

Prob = Annotated[float, Meta(ge=0.0, le=1.0)]
Positive = Annotated[float, Meta(gt=0.0)]
Name = Annotated[str, Meta(pattern="^[a-z0-9][a-z0-9_-]{0,63}$")]
Line = Annotated[str, Meta(min_length=1, max_length=200)]
Template = Annotated[str, Meta(min_length=1, max_length=MAX_TEXT_CHARS)]


class ScenarioError(Exception):
    """A scenario is missing or its file is wrong; the message says which and how to fix it."""


# ---------------------------------------------------------------- the file format


class _HotspotSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: Line
    lat: m.Lat
    lon: m.Lon
    weight: Positive = 1.0
    spread_m: Positive = 150.0  # standard deviation of devices around it


class _AreaSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    lat: m.Lat = PRESTON_CENTRE[0]
    lon: m.Lon = PRESTON_CENTRE[1]
    radius_m: Annotated[float, Meta(gt=0.0, le=MAX_RADIUS_M)] = 2000.0
    hotspots: list[_HotspotSpec] = []


class _ScenarioSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    title: Line
    description: Annotated[str, Meta(max_length=2000)] = ""
    category: m.Category | None = None
    subscribe: list[m.Category] = []
    area: _AreaSpec = _AreaSpec()
    report_rate_per_min: Annotated[float, Meta(ge=0.0, le=600.0)] = 0.2  # per device
    media_probability: Prob = 0.3
    video_share: Prob = 0.25  # of the reports with media, how many carry a video
    templates: list[Template] = []
    placeholders: dict[str, Annotated[list[Line], Meta(min_length=1)]] = {}
    chat_replies: list[Template] = []
    chat_reply_probability: Prob = 0.5
    weight: Positive = 1.0  # how often a mixing scenario draws this one
    mix: list[Name] = []  # names of scenarios to draw from; ["*"] is not allowed, list them


# ---------------------------------------------------------------- what the runner uses


@dataclass(frozen=True)
class Hotspot:
    name: str
    lat: float
    lon: float
    weight: float
    spread_m: float
    scenarios: frozenset[str]  # whose file names this place (several may share one)


@dataclass(frozen=True)
class ReportKind:
    """One kind of report: its category, texts, media habits and chat replies."""

    scenario: str
    category: m.Category
    templates: tuple[str, ...]
    placeholders: dict[str, tuple[str, ...]]
    media_probability: float
    video_share: float
    chat_replies: tuple[str, ...]
    chat_reply_probability: float
    weight: float

    def text(self, rng: random.Random, place: str) -> str:
        values = {k: rng.choice(v) for k, v in self.placeholders.items()}
        values.setdefault("place", place)
        text = rng.choice(self.templates).format_map(values)
        return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    description: str
    lat: float
    lon: float
    radius_m: float
    hotspots: tuple[Hotspot, ...]
    kinds: tuple[ReportKind, ...]
    subscribe: tuple[m.Category, ...]
    report_rate_per_min: float

    def draw_kind(self, rng: random.Random, place: str | None = None) -> ReportKind:
        """A kind of report, favouring those that happen at the reporter's `place`."""
        owners = next((h.scenarios for h in self.hotspots if h.name == place), frozenset())
        weights = [
            k.weight * (1.0 if not owners or k.scenario in owners else 0.1) for k in self.kinds
        ]
        return rng.choices(self.kinds, weights=weights)[0]

    def place_device(self, rng: random.Random) -> tuple[float, float, str]:
        """A home for one device: gaussian around a weighted hotspot, inside the area."""
        if not self.hotspots:
            r = self.radius_m * math.sqrt(rng.random())
            a = rng.uniform(0, 2 * math.pi)
            lat, lon = offset(self.lat, self.lon, r * math.cos(a), r * math.sin(a))
            return lat, lon, self.title
        spot = rng.choices(self.hotspots, weights=[h.weight for h in self.hotspots])[0]
        lat, lon = self.near(rng, spot.lat, spot.lon, spot.spread_m)
        return lat, lon, spot.name

    def near(
        self, rng: random.Random, lat: float, lon: float, sigma_m: float
    ) -> tuple[float, float]:
        """A gaussian point around (lat, lon), redrawn until it falls inside the area."""
        for _ in range(20):
            p = offset(lat, lon, rng.gauss(0, sigma_m), rng.gauss(0, sigma_m))
            if distance_m(self.lat, self.lon, *p) <= self.radius_m:
                return p
        return self.clamp(lat, lon)

    def clamp(self, lat: float, lon: float) -> tuple[float, float]:
        d = distance_m(self.lat, self.lon, lat, lon)
        if d <= self.radius_m:
            return lat, lon
        f = self.radius_m * 0.99 / d
        return self.lat + (lat - self.lat) * f, self.lon + (lon - self.lon) * f


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    dlat = north_m / _METRES_PER_DEGREE
    dlon = east_m / (_METRES_PER_DEGREE * math.cos(math.radians(lat)))
    return max(-90.0, min(90.0, lat + dlat)), (lon + dlon + 180.0) % 360.0 - 180.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000.0 * math.asin(min(1.0, math.sqrt(h)))


# ---------------------------------------------------------------- loading


def available(directory: Path | None = None) -> list[str]:
    """Names of the scenario files in `directory` (file stems), sorted."""
    d = directory or DEFAULT_DIR
    return sorted(p.stem for p in d.glob("*.toml"))


def load(name: str, directory: Path | None = None) -> Scenario:
    """The validated scenario `name`; ScenarioError says what is wrong and where."""
    d = directory or DEFAULT_DIR
    path = d / f"{name}.toml"
    if not _valid_name(name) or not path.is_file():
        names = ", ".join(available(d)) or "none"
        raise ScenarioError(f"No scenario called {name!r} in {d}. Available: {names}.")
    spec = _read(path)
    if not spec.mix:
        return _build(spec, [_kind(spec)])
    kinds = []
    for part in spec.mix:
        if part == spec.name:
            raise ScenarioError(f"{path}: mix: a scenario cannot mix itself.")
        part_path = d / f"{part}.toml"
        if not part_path.is_file():
            raise ScenarioError(f"{path}: mix: no scenario file {part_path.name} in {d}.")
        part_spec = _read(part_path)
        if part_spec.mix:
            raise ScenarioError(
                f"{path}: mix: {part!r} mixes others itself; list plain scenarios only."
            )
        kinds.append((part_spec, _kind(part_spec)))
    return _build(spec, [k for _, k in kinds], parts=[s for s, _ in kinds])


def load_all(directory: Path | None = None) -> dict[str, Scenario]:
    return {name: load(name, directory) for name in available(directory)}


def _valid_name(name: str) -> bool:
    return bool(name) and len(name) <= 64 and all(c in _NAME_CHARS for c in name)


_NAME_CHARS = frozenset(string.ascii_lowercase + string.digits + "_-")


def _read(path: Path) -> _ScenarioSpec:
    try:
        spec = msgspec.toml.decode(path.read_bytes(), type=_ScenarioSpec)
    except msgspec.ValidationError as exc:
        raise ScenarioError(f"{path}: {exc}. Fix that field and try again.") from None
    except msgspec.DecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML ({exc}).") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot be read ({exc.strerror}).") from None
    misplaced = {"templates", "chat_replies"} & set(spec.placeholders)
    if misplaced:
        key = sorted(misplaced)[0]
        raise ScenarioError(
            f"{path}: `{key}` ended up inside [placeholders]: in TOML every key after a "
            f"[table] header belongs to that table. Move `{key}` above the first [table]."
        )
    if spec.name != path.stem:
        raise ScenarioError(f"{path}: name {spec.name!r} must match the file name {path.stem!r}.")
    if spec.mix:
        if spec.templates:
            raise ScenarioError(
                f"{path}: a scenario with `mix` takes its templates from the mixed ones; remove `templates`."
            )
        return spec
    if spec.category is None:
        raise ScenarioError(f"{path}: `category` is required (one of {', '.join(m.CATEGORIES)}).")
    if not spec.templates:
        raise ScenarioError(f"{path}: `templates` needs at least one report text.")
    for i, template in enumerate(spec.templates):
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as exc:
            raise ScenarioError(
                f"{path}: templates[{i}]: {exc}; write literal braces as {{{{ }}}}."
            ) from None
        unknown = fields - set(spec.placeholders) - {"place"}
        if unknown:
            raise ScenarioError(
                f"{path}: templates[{i}] uses {', '.join('{' + f + '}' for f in sorted(unknown))} "
                f"but [placeholders] does not define {'it' if len(unknown) == 1 else 'them'}."
            )
    return spec


def _kind(spec: _ScenarioSpec) -> ReportKind:
    assert spec.category is not None
    return ReportKind(
        scenario=spec.name,
        category=spec.category,
        templates=tuple(spec.templates),
        placeholders={k: tuple(v) for k, v in spec.placeholders.items()},
        media_probability=spec.media_probability,
        video_share=spec.video_share,
        chat_replies=tuple(spec.chat_replies),
        chat_reply_probability=spec.chat_reply_probability,
        weight=spec.weight,
    )


def _hotspots(spec: _ScenarioSpec) -> list[Hotspot]:
    owner = frozenset({spec.name})
    return [Hotspot(h.name, h.lat, h.lon, h.weight, h.spread_m, owner) for h in spec.area.hotspots]


def _merge(hotspots: list[Hotspot], more: list[Hotspot]) -> list[Hotspot]:
    """Union by place name; a place named by several scenarios belongs to all of them."""
    by_name = {h.name: h for h in hotspots}
    for h in more:
        old = by_name.get(h.name)
        by_name[h.name] = h if old is None else replace(old, scenarios=old.scenarios | h.scenarios)
    return list(by_name.values())


def _build(
    spec: _ScenarioSpec, kinds: list[ReportKind], parts: list[_ScenarioSpec] | None = None
) -> Scenario:
    hotspots = _hotspots(spec)
    subscribe: list[m.Category] = list(spec.subscribe)
    for part in parts or []:
        if not spec.area.hotspots:
            hotspots = _merge(hotspots, _hotspots(part))
        subscribe += part.subscribe or ([part.category] if part.category else [])
    if spec.category and not subscribe:
        subscribe = [spec.category]
    area = spec.area
    for h in hotspots:
        if distance_m(area.lat, area.lon, h.lat, h.lon) > area.radius_m:
            raise ScenarioError(
                f"scenario {spec.name}: hotspot {h.name!r} lies outside the area "
                f"({area.radius_m:.0f} m around {area.lat}, {area.lon}); widen radius_m or move it."
            )
    return Scenario(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        lat=area.lat,
        lon=area.lon,
        radius_m=area.radius_m,
        hotspots=tuple(hotspots),
        kinds=tuple(kinds),
        subscribe=tuple(dict.fromkeys(subscribe)),
        report_rate_per_min=spec.report_rate_per_min,
    )
