"""Pilot scenarios at run time: where simulated citizens live and what each one reports.

The file format (`resources/scenarios/*.toml`, or the same fields inline in a pilot plan's
act) and its checks live in `backend_client.scenarios`, one model shared with the pilot
plans; this module builds the random report generation on top of a checked spec.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

from backend_client import messages as m
from backend_client.geometry import distance_m
from backend_client.scenarios import (
    DEFAULT_DIR,
    PRESTON_CENTRE,
    Hotspot,
    Resolved,
    ScenarioError,
    ScenarioSpec,
    available,
    resolve,
)

__all__ = [
    "DEFAULT_DIR",
    "PRESTON_CENTRE",
    "Hotspot",
    "ReportKind",
    "Scenario",
    "ScenarioError",
    "available",
    "build",
    "distance_m",
    "load",
    "load_all",
]

_METRES_PER_DEGREE = 111_320.0


# ---------------------------------------------------------------- what the runner uses


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


# ---------------------------------------------------------------- loading


def load(name: str, directory: Path | None = None) -> Scenario:
    """The validated scenario `name`; ScenarioError says what is wrong and where."""
    return build(resolve(name, directory))


def load_all(directory: Path | None = None) -> dict[str, Scenario]:
    return {name: load(name, directory) for name in available(directory)}


def build(resolved: Resolved) -> Scenario:
    """The runtime scenario of a checked spec (a file's, or a pilot act's inline one)."""
    spec = resolved.spec
    specs = resolved.parts or (spec,)
    subscribe: list[m.Category] = list(spec.subscribe)
    for part in resolved.parts:
        subscribe += part.subscribe or ([part.category] if part.category else [])
    if spec.category and not subscribe:
        subscribe = [spec.category]
    area = spec.area
    return Scenario(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        lat=area.lat,
        lon=area.lon,
        radius_m=area.radius_m,
        hotspots=tuple(resolved.hotspots()),
        kinds=tuple(_kind(s) for s in specs),
        subscribe=tuple(dict.fromkeys(subscribe)),
        report_rate_per_min=spec.report_rate_per_min,
    )


def _kind(spec: ScenarioSpec) -> ReportKind:
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
