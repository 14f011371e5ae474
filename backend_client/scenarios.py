"""The scenario file format: what simulated citizens report, where, how often.

One model for `lookout-sim`'s scenarios and a pilot plan's acts (`backend_client.pilots`):
a file in `resources/scenarios/` or the same fields inline in a plan decode into the same
`ScenarioSpec` and pass the same checks. The simulator builds its random report generation
on top (`simulator/scenarios.py`); the console's inspector workspace reads and checks
scenarios without it. Pure: msgspec and the file system, no sockets, no event loop.

Files are untrusted input in the sense that a typo must give a clear error naming the file
and the field, never a traceback from deep inside the simulator.

A scenario with `mix` (like `mixed`) has no templates of its own: each report draws one of
the named scenarios (weighted by their `weight`) and uses its category, texts and replies.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta

from backend_client import messages as m
from backend_client.geometry import distance_m
from backend_client.limits import MAX_RADIUS_M, MAX_TEXT_CHARS

__all__ = [
    "DEFAULT_DIR",
    "PRESTON_CENTRE",
    "AreaSpec",
    "Hotspot",
    "HotspotSpec",
    "Resolved",
    "ScenarioError",
    "ScenarioSpec",
    "available",
    "check",
    "path_of",
    "read",
    "resolve",
    "resolve_spec",
]

#: Where the shipped scenario files live (next to the package in a source checkout).
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "resources" / "scenarios"
#: Preston city centre (the Flag Market), the default area of a scenario.
PRESTON_CENTRE = (53.7590, -2.6990)

Prob = Annotated[float, Meta(ge=0.0, le=1.0)]
Positive = Annotated[float, Meta(gt=0.0)]
Name = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$(?!\n)")]
Line = Annotated[str, Meta(min_length=1, max_length=200)]
Template = Annotated[str, Meta(min_length=1, max_length=MAX_TEXT_CHARS)]


class ScenarioError(Exception):
    """A scenario is missing or its file is wrong; the message says which and how to fix it."""


# ---------------------------------------------------------------- the file format


class HotspotSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: Line
    lat: m.Lat
    lon: m.Lon
    weight: Positive = 1.0
    spread_m: Positive = 150.0  # standard deviation of devices around it


class AreaSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    lat: m.Lat = PRESTON_CENTRE[0]
    lon: m.Lon = PRESTON_CENTRE[1]
    radius_m: Annotated[float, Meta(gt=0.0, le=MAX_RADIUS_M)] = 2000.0
    hotspots: list[HotspotSpec] = []


class ScenarioSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    title: Line
    description: Annotated[str, Meta(max_length=2000)] = ""
    category: m.Category | None = None
    subscribe: list[m.Category] = []
    area: AreaSpec = AreaSpec()
    report_rate_per_min: Annotated[float, Meta(ge=0.0, le=600.0)] = 0.2  # per device
    media_probability: Prob = 0.3
    video_share: Prob = 0.25  # of the reports with media, how many carry a video
    templates: list[Template] = []
    placeholders: dict[str, Annotated[list[Line], Meta(min_length=1)]] = {}
    chat_replies: list[Template] = []
    chat_reply_probability: Prob = 0.5
    weight: Positive = 1.0  # how often a mixing scenario draws this one
    mix: list[Name] = []  # names of scenarios to draw from; ["*"] is not allowed, list them


@dataclass(frozen=True)
class Hotspot:
    """A place devices gather round, after mixing: several scenarios may name one place."""

    name: str
    lat: float
    lon: float
    weight: float
    spread_m: float
    scenarios: frozenset[str]  # whose file names this place (several may share one)


@dataclass(frozen=True)
class Resolved:
    """A checked scenario with the plain scenarios it mixes (none for a plain one)."""

    spec: ScenarioSpec
    parts: tuple[ScenarioSpec, ...] = ()

    @property
    def categories(self) -> frozenset[str]:
        """The categories its reports are filed under."""
        specs = self.parts or (self.spec,)
        return frozenset(s.category for s in specs if s.category is not None)

    def hotspots(self) -> list[Hotspot]:
        """Its places: its own, or (if it has none and mixes) the union of its parts'."""
        hotspots = _hotspots(self.spec)
        if not self.spec.area.hotspots:
            for part in self.parts:
                hotspots = _merge(hotspots, _hotspots(part))
        return hotspots


# ---------------------------------------------------------------- loading and checking


def available(directory: Path | None = None) -> list[str]:
    """Names of the scenario files in `directory` (file stems), sorted."""
    d = directory or DEFAULT_DIR
    return sorted(p.stem for p in d.glob("*.toml"))


def path_of(name: str, directory: Path | None = None) -> Path:
    """The file of scenario `name`; ScenarioError (naming the available ones) if none."""
    d = directory or DEFAULT_DIR
    path = d / f"{name}.toml"
    if not _valid_name(name) or not path.is_file():
        names = ", ".join(available(d)) or "none"
        raise ScenarioError(f"No scenario called {name!r} in {d}. Available: {names}.")
    return path


def resolve(name: str, directory: Path | None = None) -> Resolved:
    """The checked scenario file `name` with what it mixes; ScenarioError says what is wrong."""
    d = directory or DEFAULT_DIR
    path = path_of(name, d)
    return resolve_spec(read(path), d, where=str(path))


def resolve_spec(spec: ScenarioSpec, directory: Path | None = None, *, where: str) -> Resolved:
    """Check a decoded spec (from a file or inline in a plan) and read what it mixes.

    `where` names it in errors: the file's path, or the plan and the act.
    """
    d = directory or DEFAULT_DIR
    check(spec, where)
    parts: list[ScenarioSpec] = []
    for part in spec.mix:
        if part == spec.name:
            raise ScenarioError(f"{where}: mix: a scenario cannot mix itself.")
        part_path = d / f"{part}.toml"
        if not part_path.is_file():
            raise ScenarioError(f"{where}: mix: no scenario file {part_path.name} in {d}.")
        part_spec = read(part_path)
        if part_spec.mix:
            raise ScenarioError(
                f"{where}: mix: {part!r} mixes others itself; list plain scenarios only."
            )
        parts.append(part_spec)
    resolved = Resolved(spec, tuple(parts))
    area = spec.area
    for h in resolved.hotspots():
        if distance_m(area.lat, area.lon, h.lat, h.lon) > area.radius_m:
            raise ScenarioError(
                f"scenario {spec.name}: hotspot {h.name!r} lies outside the area "
                f"({area.radius_m:.0f} m around {area.lat}, {area.lon}); widen radius_m or move it."
            )
    return resolved


def read(path: Path) -> ScenarioSpec:
    """Decode and check one scenario file (not what it mixes); its name must be its stem."""
    try:
        spec = msgspec.toml.decode(path.read_bytes(), type=ScenarioSpec)
    except msgspec.ValidationError as exc:
        raise ScenarioError(f"{path}: {exc}. Fix that field and try again.") from None
    except msgspec.DecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML ({exc}).") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot be read ({exc.strerror}).") from None
    check(spec, str(path))
    if spec.name != path.stem:
        raise ScenarioError(f"{path}: name {spec.name!r} must match the file name {path.stem!r}.")
    return spec


def check(spec: ScenarioSpec, where: str) -> None:
    """The checks a decoder cannot make; ScenarioError starting with `where` if one fails."""
    misplaced = {"templates", "chat_replies"} & set(spec.placeholders)
    if misplaced:
        key = sorted(misplaced)[0]
        raise ScenarioError(
            f"{where}: `{key}` ended up inside [placeholders]: in TOML every key after a "
            f"[table] header belongs to that table. Move `{key}` above the first [table]."
        )
    if spec.mix:
        if spec.templates:
            raise ScenarioError(
                f"{where}: a scenario with `mix` takes its templates from the mixed ones; remove `templates`."
            )
        return
    if spec.category is None:
        raise ScenarioError(f"{where}: `category` is required (one of {', '.join(m.CATEGORIES)}).")
    if not spec.templates:
        raise ScenarioError(f"{where}: `templates` needs at least one report text.")
    for i, template in enumerate(spec.templates):
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as exc:
            raise ScenarioError(
                f"{where}: templates[{i}]: {exc}; write literal braces as {{{{ }}}}."
            ) from None
        unknown = fields - set(spec.placeholders) - {"place"}
        if unknown:
            raise ScenarioError(
                f"{where}: templates[{i}] uses {', '.join('{' + f + '}' for f in sorted(unknown))} "
                f"but [placeholders] does not define {'it' if len(unknown) == 1 else 'them'}."
            )


def _valid_name(name: str) -> bool:
    return bool(name) and len(name) <= 64 and all(c in _NAME_CHARS for c in name)


_NAME_CHARS = frozenset(string.ascii_lowercase + string.digits + "_-")


def _hotspots(spec: ScenarioSpec) -> list[Hotspot]:
    owner = frozenset({spec.name})
    return [Hotspot(h.name, h.lat, h.lon, h.weight, h.spread_m, owner) for h in spec.area.hotspots]


def _merge(hotspots: list[Hotspot], more: list[Hotspot]) -> list[Hotspot]:
    """Union by place name; a place named by several scenarios belongs to all of them."""
    by_name = {h.name: h for h in hotspots}
    for h in more:
        old = by_name.get(h.name)
        by_name[h.name] = h if old is None else replace(old, scenarios=old.scenarios | h.scenarios)
    return list(by_name.values())
