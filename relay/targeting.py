"""Recipient selection for geofenced alerts: which devices are inside an area.

Positions live in flat numpy columns beside the database (the latest fix per device,
never a history), so that a recipient count for a drawn area over a million devices
costs a few milliseconds and no database query, and a street-sized one a few tens of
microseconds: a cell index (the rows sorted by a ~50 m grid cell) hands a small area the
rows of the cells it meets, so it never scans every device. Selection is exact: the
cells and cheap vectorised comparisons (category bitmask, expiry, bounding box) only
shrink the candidates, then every survivor gets the exact test, shapely's
point-in-polygon on a prepared polygon or a haversine great-circle distance for a
circle. Nothing here is cell-approximate: the box
prefilter is widened to cover float32 rounding, and the polygon raster only decides
cells the boundary does not touch (wholly inside or wholly outside), so every shortcut
gives the same answer as the per-point test.

Rules the relay can rely on:

- A point exactly on a polygon's boundary, or exactly `radius_m` from a circle's centre,
  is inside (the polygon test is `covers`, not `contains`), so a dispatcher who draws
  along a street reaches the houses on the line.
- Polygon coordinates are `[lon, lat]` pairs treated as a plane in degrees (as the map
  draws them); the ring is closed automatically. A polygon whose corners span more than
  180 degrees of longitude crosses the antimeridian and is refused (in that plane it
  would cover the rest of the world). A circle is measured on the sphere, so one that
  crosses longitude 180 is selected correctly on both sides and is accepted. Circles use great-circle distance on a
  sphere of radius `EARTH_RADIUS_M`.
- A device is selected when `device_mask & mask != 0` (subscribed to any of the alert's
  categories) and `expires_at > now` (its fix has not expired).
- Only devices with a position are held. `set_mask` on a device without one is ignored
  (returns False): the relay passes the mask again with the first `upsert`.

Pure code, no I/O. Not thread-safe (it reuses scratch buffers between selects): call it
from one thread (the relay's event loop; `select` over a million devices takes a few
milliseconds) or guard it with a lock. Memory: about 64 bytes per device (the columns,
the cell index and scratch: `DeviceIndex`), plus a Python dict entry per key.

A request checks its area once: `prepare_area` (or `validate_area`) returns it checked
and prepared, and every function here that takes an area takes that too, unchecked.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from backend_client import geometry, limits, messages

__all__ = [
    "EARTH_RADIUS_M",
    "DeviceIndex",
    "GeometryError",
    "AnyArea",
    "PreparedArea",
    "area_m2",
    "category_mask",
    "check_min_size",
    "distances_m",
    "prepare_area",
    "validate_area",
]

#: Mean Earth radius (IUGG), metres.
EARTH_RADIUS_M = 6371008.8

#: Slack added to bounding-box prefilters, in degrees (about 1 cm), so that floating
#: point rounding in the box can never drop a point the exact test would keep.
_BOX_SLACK_DEG = 1e-7

#: The box prefilter compares float32 copies of the positions (half the memory traffic
#: of float64). A float32 degree value is within 7.7e-6 of its float64 source (|v| <=
#: 180), so widening the box by this much keeps every point the float64 box would keep.
_F32_SLACK_DEG = 4e-5

#: Polygon selection sorts candidates into a GRID x GRID raster over the polygon's box.
#: A cell the boundary does not touch is wholly inside or wholly outside, so its points
#: are decided by one test of the cell's centre; only points in cells the boundary
#: crosses get the per-point test. This is an exact shortcut, not an approximation.
_GRID = 16
#: Below this many candidates the per-point test is cheaper than building the raster.
_GRID_MIN_CANDIDATES = 8192
#: Cells are widened by this (degrees) so that rounding in a point's cell number can
#: never place it in a cell whose classification does not cover it.
_GRID_SLACK_DEG = 1e-9

_MAX_MASK = (1 << 64) - 1
_LITTLE_ENDIAN = sys.byteorder == "little"

F64Array = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]
I64Array = npt.NDArray[np.int64]
I32Array = npt.NDArray[np.int32]
U64Array = npt.NDArray[np.uint64]
BoolArray = npt.NDArray[np.bool_]


class GeometryError(ValueError):
    """An alert area the relay cannot use; the message is fit to show the dispatcher.

    `where` is the `(lon, lat)` of the problem when known (e.g. where edges cross), so a
    console can mark it. It is deliberately not in the message, which may be logged.
    """

    def __init__(self, message: str, where: tuple[float, float] | None = None) -> None:
        super().__init__(message)
        self.where = where


def category_mask(categories: Iterable[str]) -> int:
    """Bitmask with bit i set for `messages.CATEGORIES[i]`; the relay's subscription form."""
    mask = 0
    for name in categories:
        try:
            mask |= 1 << messages.CATEGORIES.index(name)
        except ValueError:
            known = ", ".join(messages.CATEGORIES)
            raise ValueError(f"unknown category {name!r}; known categories: {known}") from None
    return mask


# ------------------------------------------------------------------------------ geometry


def distances_m(area: AnyArea, lats: F64Array, lons: F64Array) -> F64Array:
    """Metres from each point to `area`, 0 for a point inside or on its edge.

    For email subscriptions (a place and a radius: relay/mail/match.py). A circle's is
    exact on the sphere (centre distance less the radius). A polygon's is the plane test
    `covers` for inside, else the distance to its nearest edge with the degrees scaled to
    metres at the point's own latitude (equirectangular): within 0.1 % of the great-circle
    distance at the few kilometres a subscription's radius allows."""
    prepared = prepare_area(area)
    if isinstance(prepared, _PreparedCircle):
        d = _haversine_m(prepared.lat, prepared.lon, lats, lons) - prepared.radius_m
        return np.maximum(d, 0.0)
    out = np.zeros(len(lats), dtype=np.float64)
    if len(lats) == 0:
        return out
    outside = np.flatnonzero(~_covers_xy(prepared, lons, lats))
    ring = np.asarray(prepared.geometry.exterior.coords, dtype=np.float64)  # closed
    ax, ay, bx, by = ring[:-1, 0], ring[:-1, 1], ring[1:, 0], ring[1:, 1]
    m_per_deg = math.pi * EARTH_RADIUS_M / 180.0
    for start in range(0, len(outside), 4096):  # bounded memory: points x edges at once
        rows = outside[start : start + 4096]
        px, py = lons[rows][:, None], lats[rows][:, None]
        kx = np.cos(np.radians(py)) * m_per_deg  # metres per degree of longitude there
        ux, uy = (bx - ax) * kx, (by - ay) * m_per_deg
        wx, wy = (px - ax) * kx, (py - ay) * m_per_deg
        seg = ux * ux + uy * uy
        t = np.clip(np.where(seg > 0, (wx * ux + wy * uy) / np.where(seg > 0, seg, 1), 0), 0, 1)
        dx, dy = wx - t * ux, wy - t * uy
        out[rows] = np.sqrt(np.min(dx * dx + dy * dy, axis=1))
    return out


@dataclass(frozen=True, slots=True)
class _PreparedPolygon:
    geometry: shapely.Polygon
    boundary: shapely.Geometry  # prepared too; used to find raster cells it crosses
    bounds: tuple[float, float, float, float]  # min lon, min lat, max lon, max lat

    @property
    def lat_band(self) -> tuple[float, float]:
        """The latitudes it spans (as a circle's `lat_band`)."""
        return self.bounds[1], self.bounds[3]


@dataclass(frozen=True, slots=True)
class _PreparedCircle:
    lat: float
    lon: float
    radius_m: float
    bounds: tuple[float, float, float, float] | None  # as above; None: lon unrestricted
    lat_band: tuple[float, float]


#: An area checked once (`prepare_area`) and ready to select with: the relay validates a
#: request's area once and passes this to every count, selection and size check after.
PreparedArea = _PreparedPolygon | _PreparedCircle
AnyArea = messages.Area | PreparedArea


def _polygon_from(area: messages.Polygon) -> shapely.Polygon:
    """The area's shapely polygon, or GeometryError with the shared rules' reason
    (backend_client/geometry.py) and, for a crossing, where it is."""
    if len(area.coordinates) > limits.MAX_POLYGON_POINTS:  # before touching every corner
        raise GeometryError(
            f"The polygon has {len(area.coordinates)} corners; at most "
            f"{limits.MAX_POLYGON_POINTS} are allowed. Simplify the shape."
        )
    try:
        ring = [(float(lon), float(lat)) for lon, lat in area.coordinates]
    except (TypeError, ValueError):
        raise GeometryError("Each corner of the polygon must be a [lon, lat] pair.") from None
    fault = geometry.polygon_fault(ring)
    if fault is not None:
        raise GeometryError(fault.message, fault.where)
    return geometry.shape(ring)


def _check_circle(area: messages.Circle) -> None:
    if not (math.isfinite(area.lat) and math.isfinite(area.lon)):
        raise GeometryError("The circle's centre is not a finite position; redraw it.")
    if abs(area.lat) > 90.0 or abs(area.lon) > 180.0:
        raise GeometryError(
            "The circle's centre is off the map (longitude must be within -180..180 "
            "and latitude within -90..90); redraw it."
        )
    radius = area.radius_m
    if not math.isfinite(radius) or radius <= 0.0 or radius > limits.MAX_RADIUS_M:
        shown = f"{radius:g} m" if math.isfinite(radius) else "not a number"
        raise GeometryError(
            f"The circle's radius is out of range ({shown}); it must be more than 0 m "
            f"and at most {limits.MAX_RADIUS_M:g} m."
        )


def validate_area(area: messages.Area) -> PreparedArea:
    """Raise GeometryError if the area cannot be used to target an alert; else the area
    prepared (`prepare_area`), so the caller need not check it again."""
    return prepare_area(area)


def area_m2(area: AnyArea) -> float:
    """The ground an area covers, in square metres: a spherical cap for a circle; for a
    polygon its degree plane scaled to metres at its mean latitude (street to city sized
    areas, where that is within a fraction of a percent)."""
    prepared = prepare_area(area)
    if isinstance(prepared, _PreparedCircle):
        ratio = prepared.radius_m / EARTH_RADIUS_M
        return 2.0 * math.pi * EARTH_RADIUS_M**2 * (1.0 - math.cos(ratio))
    polygon = prepared.geometry
    lat0 = math.radians(polygon.centroid.y)
    metres_per_deg = math.radians(1.0) * EARTH_RADIUS_M
    return float(polygon.area) * metres_per_deg**2 * math.cos(lat0)


def check_min_size(area: AnyArea, min_area_m2: float) -> None:
    """Refuse an area smaller than `min_area_m2`: a tiny area's count would tell where a
    phone is, so the relay never targets (or counts) less than about one street."""
    size = area_m2(area)
    if size < min_area_m2:
        side = math.sqrt(min_area_m2)
        radius = math.sqrt(min_area_m2 / math.pi)
        raise GeometryError(
            f"The area is too small ({size:,.0f} m²): alerts and counts cover at least "
            f"{min_area_m2:,.0f} m² (about one street, e.g. a {side:.0f} m square or a "
            f"circle of radius {radius:.0f} m). Draw a larger area."
        )


def prepare_area(area: AnyArea) -> PreparedArea:
    """The area checked (GeometryError with the dispatcher's reason) and made ready to
    select with; an area prepared already is returned as it is, never checked twice."""
    if isinstance(area, _PreparedPolygon | _PreparedCircle):
        return area
    if isinstance(area, messages.Polygon):
        polygon = _polygon_from(area)
        shapely.prepare(polygon)
        boundary = polygon.exterior
        shapely.prepare(boundary)
        min_lon, min_lat, max_lon, max_lat = (float(v) for v in polygon.bounds)
        return _PreparedPolygon(polygon, boundary, (min_lon, min_lat, max_lon, max_lat))
    if isinstance(area, messages.Circle):
        _check_circle(area)
        return _prepare_circle(area)
    raise GeometryError("The alert area must be a polygon or a circle.")


def _prepare_circle(area: messages.Circle) -> _PreparedCircle:
    """A conservative lat/lon box around the circle; the haversine test stays exact."""
    ang = area.radius_m / EARTH_RADIUS_M  # angular radius, radians
    dlat = math.degrees(ang) + _BOX_SLACK_DEG
    lat_band = (area.lat - dlat, area.lat + dlat)
    bounds: tuple[float, float, float, float] | None = None
    # Near a pole the circle may contain the pole and span every longitude; near the
    # antimeridian the box would wrap. In both cases only the latitude band is used.
    if lat_band[0] > -89.0 and lat_band[1] < 89.0:
        ratio = math.sin(ang) / math.cos(math.radians(area.lat))
        if ratio < 1.0:
            dlon = math.degrees(math.asin(ratio)) * (1.0 + 1e-9) + _BOX_SLACK_DEG
            if area.lon - dlon >= -180.0 and area.lon + dlon <= 180.0:
                bounds = (area.lon - dlon, lat_band[0], area.lon + dlon, lat_band[1])
    return _PreparedCircle(area.lat, area.lon, area.radius_m, bounds, lat_band)


def _covers_xy(area: _PreparedPolygon, lons: F64Array, lats: F64Array) -> BoolArray:
    """Exact point-in-polygon, boundary included (GEOS `intersects` of a point = covers)."""
    if len(lons) < _GRID_MIN_CANDIDATES:
        result: BoolArray = shapely.intersects_xy(area.geometry, lons, lats)
        return result
    state = _cell_states(area)
    min_lon, min_lat, max_lon, max_lat = area.bounds
    fx = (lons - min_lon) * (_GRID / (max_lon - min_lon))
    fy = (lats - min_lat) * (_GRID / (max_lat - min_lat))
    on_grid = (fx >= 0.0) & (fx < _GRID) & (fy >= 0.0) & (fy < _GRID)
    ix = np.clip(fx, 0, _GRID - 1).astype(np.intp)
    iy = np.clip(fy, 0, _GRID - 1).astype(np.intp)
    cell = state[iy * _GRID + ix]
    cell[~on_grid] = _CELL_EDGE  # outside the box (f32 slack) or on its far edge: test
    inside: BoolArray = cell == _CELL_IN
    check = np.flatnonzero(cell == _CELL_EDGE)
    inside[check] = shapely.intersects_xy(area.geometry, lons[check], lats[check])
    return inside


_CELL_OUT, _CELL_IN, _CELL_EDGE = 0, 1, 2


def _cell_states(area: _PreparedPolygon) -> npt.NDArray[np.uint8]:
    """Classify each raster cell: wholly outside, wholly inside, or touched by the edge."""
    min_lon, min_lat, max_lon, max_lat = area.bounds
    width = (max_lon - min_lon) / _GRID
    height = (max_lat - min_lat) / _GRID
    steps = np.arange(_GRID, dtype=np.float64)
    grid_x, grid_y = np.meshgrid(min_lon + width * steps, min_lat + height * steps)
    x0 = grid_x.ravel()  # south-west corners, row by row: cell number = iy * _GRID + ix
    y0 = grid_y.ravel()
    e = _GRID_SLACK_DEG
    cells = shapely.box(x0 - e, y0 - e, x0 + width + e, y0 + height + e)
    edge = shapely.intersects(area.boundary, cells)
    centre_in = shapely.intersects_xy(area.geometry, x0 + width / 2, y0 + height / 2)
    state = np.where(edge, _CELL_EDGE, np.where(centre_in, _CELL_IN, _CELL_OUT))
    return state.astype(np.uint8)


def _haversine_m(lat0: float, lon0: float, lats: F64Array, lons: F64Array) -> F64Array:
    phi0 = math.radians(lat0)
    phi = np.radians(lats)
    half_dphi = np.sin((phi - phi0) * 0.5)
    half_dlam = np.sin(np.radians(lons - lon0) * 0.5)
    a = half_dphi * half_dphi + math.cos(phi0) * np.cos(phi) * (half_dlam * half_dlam)
    np.clip(a, 0.0, 1.0, out=a)
    result: F64Array = (2.0 * EARTH_RADIUS_M) * np.arcsin(np.sqrt(a))
    return result


# ------------------------------------------------------------------------------- index


#: the grid previews count on: cells about 100 m high, and as wide at every latitude
COARSE_CELL_M = 100.0
CELL_LAT_DEG = COARSE_CELL_M / (math.pi * EARTH_RADIUS_M / 180.0)
_MIN_COS = 0.05  # near the poles cells stop widening (about 2 km of longitude)


def snap(lats: F64Array, lons: F64Array) -> tuple[F64Array, F64Array]:
    """Each position moved to the centre of its grid cell: rows of `CELL_LAT_DEG`, each
    row cut into cells as wide (in metres) as they are high at that row's latitude."""
    row_lat, col_lon, _ = _cells(lats, lons)
    return row_lat, col_lon


def _cells(lats: F64Array, lons: F64Array) -> tuple[F64Array, F64Array, F64Array]:
    """The centre (lat, lon) and the width in degrees of longitude of each one's cell."""
    row_lat = (np.floor(lats / CELL_LAT_DEG) + 0.5) * CELL_LAT_DEG
    row_lat = np.clip(row_lat, -90.0, 90.0)
    cell_lon = CELL_LAT_DEG / np.maximum(np.cos(np.radians(row_lat)), _MIN_COS)
    col_lon = (np.floor((lons + 180.0) / cell_lon) + 0.5) * cell_lon - 180.0
    return row_lat, np.clip(col_lon, -180.0, 180.0), cell_lon


def _cells_touching(
    prepared: _PreparedPolygon | _PreparedCircle, lats: F64Array, lons: F64Array
) -> BoolArray:
    """For each position, whether its grid cell may touch the area: a test of the cell's
    centre against the area widened by more than half a cell's diagonal, so every cell
    that touches it passes, and every position of one cell gets the same answer."""
    row_lat, col_lon, cell_lon = _cells(lats, lons)
    if isinstance(prepared, _PreparedPolygon):
        # in a plane whose x is longitude times cos(the area's middle latitude) cells are
        # about square; the widest cell over the area's rows bounds the half-diagonal
        min_lon, min_lat, max_lon, max_lat = prepared.bounds
        c0 = math.cos(math.radians((min_lat + max_lat) / 2))
        farthest = min(max(abs(min_lat), abs(max_lat)) + 2 * CELL_LAT_DEG, 90.0)
        widest = c0 / max(math.cos(math.radians(farthest)), _MIN_COS)
        margin = 1.1 * CELL_LAT_DEG / 2 * math.hypot(1.0, widest)
        scaled = shapely.transform(prepared.geometry, lambda xy: xy * np.array([c0, 1.0]))
        widened = shapely.buffer(scaled, margin)
        shapely.prepare(widened)
        boundary = widened.boundary  # holes included: a widened C-shape may enclose one
        shapely.prepare(boundary)
        x0, y0, x1, y1 = (float(v) for v in widened.bounds)
        as_prepared = _PreparedPolygon(widened, boundary, (x0, y0, x1, y1))
        return _covers_xy(as_prepared, col_lon * c0, row_lat)
    # a point of the cell within the radius puts the cell's centre within the radius plus
    # the cell's half-diagonal (triangle inequality); 10 % more covers the sphere's
    # curvature over 100 m and the poles' capped cell width
    metres_per_deg = math.pi * EARTH_RADIUS_M / 180.0
    half_w_m = cell_lon / 2 * metres_per_deg * np.cos(np.radians(np.abs(row_lat)))
    half_diag_m = np.hypot(COARSE_CELL_M / 2, np.maximum(half_w_m, COARSE_CELL_M / 2))
    distance = _haversine_m(prepared.lat, prepared.lon, row_lat, col_lon)
    result: BoolArray = distance <= prepared.radius_m + 1.1 * half_diag_m
    return result


#: The cell index: a fixed grid of 1/2000-degree cells (about 55 m north to south, 33 m
#: east to west in Lancashire), numbered row by row from the south-west. A
#: query box becomes one range of cell numbers per grid row, found by binary search in
#: the rows sorted by cell, so a street-sized area reads a few hundred rows, not all.
#: A cell number is a monotone function of the float64 position, so a point inside the
#: box is always in one of the box's cells: the index only narrows, never decides.
_CELLS_PER_DEG = 2000.0
_CELL_COLS = 360 * 2000
_CELL_ROWS = 180 * 2000
#: Below this many devices a full pass is as quick as the index.
_CELL_MIN_DEVICES = 4096
#: The index is used when its candidates are at most this share of all devices; above
#: it the sequential full pass (fewer, faster memory reads per row) is quicker.
_CELL_MAX_SHARE = 1 / 12
#: A query box taller than this many grid rows (about 110 km) takes the full pass.
_CELL_MAX_ROWS = 2000
#: Rows whose cell changed (and new and refilled rows) are listed as fresh and checked one
#: by one in every select; past this many they are sorted into the run, a second, small
#: sorted index (a copy of the run's size per this many moves)...
_FRESH_MAX = 1024
#: ...and the run is merged into the main index when it holds more than this many rows
#: or 1/16 of all: an O(n) copy, amortised over n/16 moves.
_RUN_MIN = 4096
#: Where a row's current cell is indexed (`DeviceIndex._level`): an entry of a row in
#: any other place is stale and skipped. `_GONE`: a freed row, indexed nowhere.
_MAIN, _RUN, _FRESH, _GONE = 0, 1, 2, 3


def _cell_rows_of(lats: F64Array) -> I64Array:
    rows = np.floor((lats + 90.0) * _CELLS_PER_DEG)
    return np.clip(rows, 0, _CELL_ROWS - 1).astype(np.int64)


def _cell_cols_of(lons: F64Array) -> I64Array:
    cols = np.floor((lons + 180.0) * _CELLS_PER_DEG)
    return np.clip(cols, 0, _CELL_COLS - 1).astype(np.int64)


def _cells_of(lats: F64Array, lons: F64Array) -> I64Array:
    result: I64Array = _cell_rows_of(lats) * _CELL_COLS + _cell_cols_of(lons)
    return result


def _cell_row_col(lat: float, lon: float) -> tuple[int, int]:
    """`_cell_rows_of` and `_cell_cols_of` for one position, with the same arithmetic."""
    row = min(max(math.floor((lat + 90.0) * _CELLS_PER_DEG), 0), _CELL_ROWS - 1)
    col = min(max(math.floor((lon + 180.0) * _CELLS_PER_DEG), 0), _CELL_COLS - 1)
    return row, col


class DeviceIndex:
    """Latest position, category mask and fix expiry of every located device.

    Columns are contiguous numpy arrays of a growable capacity; `_slot` maps a device
    key to its row, and removal moves the last row into the hole, so upsert and remove
    are O(1) and the live rows are always the prefix `[:len(self)]`.

    The cell index beside them is kept like a small log-structured merge tree: the main
    index (`_main_cells`, `_main_rows`: cell numbers sorted, with their rows), a small
    sorted run of rows moved since, and up to `_FRESH_MAX` fresh rows not sorted yet.
    `_level` says which of the three holds a row's current cell; entries elsewhere are
    stale and skipped (merges drop them). Moving within a cell, `set_mask` and expiry
    never touch it. Memory per device: 8 key, 16 position, 8 float32 shadows, 8 mask, 8
    expiry, 12 for the main index, 1 level, 3 scratch: 64 bytes, plus up to 1/16 of that
    12 for the run and a Python dict entry per key (a main merge briefly doubles the 12).
    A bulk load of most rows sorts them all (under 0.1 s per million).
    """

    _INITIAL_CAPACITY = 1024

    def __init__(self, capacity: int = _INITIAL_CAPACITY) -> None:
        capacity = max(int(capacity), 1)
        self._n = 0
        self._slot: dict[int, int] = {}
        self._keys: I64Array = np.empty(capacity, dtype=np.int64)
        self._lat: F64Array = np.empty(capacity, dtype=np.float64)
        self._lon: F64Array = np.empty(capacity, dtype=np.float64)
        # float32 shadows of lat/lon, only for the box prefilter (see _F32_SLACK_DEG)
        self._lat32: F32Array = np.empty(capacity, dtype=np.float32)
        self._lon32: F32Array = np.empty(capacity, dtype=np.float32)
        self._mask: U64Array = np.empty(capacity, dtype=np.uint64)
        self._expires: F64Array = np.empty(capacity, dtype=np.float64)
        self._level: npt.NDArray[np.uint8] = np.full(capacity, _GONE, dtype=np.uint8)
        self._fresh: I64Array = np.empty(64, dtype=np.int64)  # rows, first _n_fresh
        self._n_fresh = 0
        self._main_cells: I64Array = np.empty(0, dtype=np.int64)
        self._main_rows: I32Array = np.empty(0, dtype=np.int32)
        self._run_cells: I64Array = np.empty(0, dtype=np.int64)
        self._run_rows: I32Array = np.empty(0, dtype=np.int32)
        # Scratch for the full-length filter passes, reused so that each select does not
        # allocate (and page-fault in) several fresh megabyte-sized temporaries.
        self._keep: BoolArray = np.empty(0, dtype=np.bool_)
        self._tmp: BoolArray = np.empty(0, dtype=np.bool_)
        self._tmp_u8: npt.NDArray[np.uint8] = np.empty(0, dtype=np.uint8)

    def __len__(self) -> int:
        return self._n

    def __contains__(self, key: object) -> bool:
        return key in self._slot

    # ---------------------------------------------------------------------- mutation

    def _reserve(self, needed: int) -> None:
        capacity = len(self._keys)
        if needed <= capacity:
            return
        while capacity < needed:
            capacity *= 2
        n = self._n
        for name in ("_keys", "_lat", "_lon", "_lat32", "_lon32", "_mask", "_expires"):
            old = getattr(self, name)
            new = np.empty(capacity, dtype=old.dtype)
            new[:n] = old[:n]
            setattr(self, name, new)
        level = np.full(capacity, _GONE, dtype=np.uint8)  # rows past n keep theirs
        level[: len(self._level)] = self._level
        self._level = level

    # -------------------------------------------------------------------- cell index

    def _touch(self, slot: int) -> None:
        """The row's cell changed (or the row is new, refilled or freed): list it fresh."""
        if self._level.item(slot) == _FRESH:
            return
        self._level[slot] = _FRESH
        if self._n_fresh == len(self._fresh):
            grown = np.empty(2 * len(self._fresh), dtype=np.int64)
            grown[: self._n_fresh] = self._fresh[: self._n_fresh]
            self._fresh = grown
        self._fresh[self._n_fresh] = slot
        self._n_fresh += 1
        if self._n_fresh > _FRESH_MAX:
            self._merge_fresh()

    def _touch_many(self, slots: I64Array) -> None:
        """`_touch` for many rows (a bulk load); most of all rows: sort them all again."""
        new = slots[self._level[slots] != _FRESH]
        self._level[new] = _FRESH
        needed = self._n_fresh + len(new)
        if needed > len(self._fresh):
            grown = np.empty(max(needed, 2 * len(self._fresh)), dtype=np.int64)
            grown[: self._n_fresh] = self._fresh[: self._n_fresh]
            self._fresh = grown
        self._fresh[self._n_fresh : needed] = new
        self._n_fresh = needed
        if needed * 4 > self._n:
            self._rebuild()
        elif needed > _FRESH_MAX:
            self._merge_fresh()

    def _rebuild(self) -> None:
        n = self._n
        cells = _cells_of(self._lat[:n], self._lon[:n])
        order = np.argsort(cells)  # ties in any order
        self._main_cells, self._main_rows = cells[order], order.astype(np.int32)
        self._run_cells = np.empty(0, dtype=np.int64)
        self._run_rows = np.empty(0, dtype=np.int32)
        self._level[self._fresh[: self._n_fresh]] = _GONE  # freed rows among them
        self._level[:n] = _MAIN
        self._n_fresh = 0

    def _merge_fresh(self) -> None:
        """Sort the fresh rows into the run (dropping its stale entries)."""
        n = self._n
        listed = self._fresh[: self._n_fresh]
        rows = listed[listed < n]
        self._level[listed[listed >= n]] = _GONE
        self._n_fresh = 0
        keep = self._level[self._run_rows] == _RUN
        cells = _cells_of(self._lat[rows], self._lon[rows])
        self._run_cells, self._run_rows = _merged(
            self._run_cells[keep], self._run_rows[keep], cells, rows
        )
        self._level[rows] = _RUN
        if len(self._run_rows) > max(_RUN_MIN, n >> 4):
            self._merge_run()

    def _merge_run(self) -> None:
        """Merge the run into the main index (dropping its stale entries): O(n)."""
        keep = self._level[self._main_rows] == _MAIN
        live = self._level[self._run_rows] == _RUN
        rows, cells = self._run_rows[live].astype(np.int64), self._run_cells[live]
        self._main_cells, self._main_rows = _merged(
            self._main_cells[keep], self._main_rows[keep], cells, rows
        )
        self._level[rows] = _MAIN
        self._run_cells = np.empty(0, dtype=np.int64)
        self._run_rows = np.empty(0, dtype=np.int32)

    def _indexed_rows(
        self,
        bounds: tuple[float, float, float, float] | None,
        lat_band: tuple[float, float] | None,
    ) -> I64Array | None:
        """Every live row whose cell meets the box (or the latitude band), fresh rows
        included, or None when a full pass is quicker."""
        n = self._n
        if n < _CELL_MIN_DEVICES:
            return None
        e = _BOX_SLACK_DEG
        if bounds is not None:
            first, col_lo = _cell_row_col(bounds[1] - e, bounds[0] - e)
            last, col_hi = _cell_row_col(bounds[3] + e, bounds[2] + e)
            if last - first >= _CELL_MAX_ROWS:
                return None
            grid_rows = np.arange(first, last + 1, dtype=np.int64) * _CELL_COLS
            starts, ends = grid_rows + col_lo, grid_rows + col_hi
        else:  # whole grid rows: one range of cell numbers
            assert lat_band is not None
            first, _ = _cell_row_col(lat_band[0] - e, 0.0)
            last, _ = _cell_row_col(lat_band[1] + e, 0.0)
            if last - first >= _CELL_MAX_ROWS:
                return None
            starts = np.array([first * _CELL_COLS], dtype=np.int64)
            ends = np.array([last * _CELL_COLS + _CELL_COLS - 1], dtype=np.int64)
        found: list[I64Array] = []
        total = self._n_fresh
        for cells, rows, level in (
            (self._main_cells, self._main_rows, _MAIN),
            (self._run_cells, self._run_rows, _RUN),
        ):
            if len(cells) == 0:
                continue
            lo: list[int] = np.searchsorted(cells, starts, side="left").tolist()
            hi: list[int] = np.searchsorted(cells, ends, side="right").tolist()
            total += sum(hi) - sum(lo)
            if total > n * _CELL_MAX_SHARE:
                return None
            parts = [rows[a:b] for a, b in zip(lo, hi, strict=True) if b > a]
            if parts:
                got = np.concatenate(parts) if len(parts) > 1 else parts[0]
                found.append(got[self._level[got] == level].astype(np.int64))
        if self._n_fresh:
            fresh = self._fresh[: self._n_fresh]
            found.append(fresh[fresh < n])
        if not found:
            return np.empty(0, dtype=np.int64)
        result: I64Array = np.concatenate(found) if len(found) > 1 else found[0]
        return result

    def upsert(self, key: int, lat: float, lon: float, mask: int, expires_at: float) -> None:
        """Insert or replace a device's latest fix."""
        _check_position(lat, lon)
        _check_mask(mask)
        if math.isnan(expires_at):
            raise ValueError("expires_at must be a number")
        slot = self._slot.get(key)
        if slot is None:
            self._reserve(self._n + 1)
            slot = self._n
            self._slot[key] = slot
            self._keys[slot] = key
            self._n += 1
            moved = True
        elif self._level.item(slot) == _FRESH:
            moved = False  # listed already
        else:  # a row that stays in its cell keeps its place in the index (unclipped
            # cell numbers: equal ones mean equal cells, and this runs on every fix)
            c = _CELLS_PER_DEG
            moved = math.floor((self._lat.item(slot) + 90.0) * c) != math.floor(
                (lat + 90.0) * c
            ) or math.floor((self._lon.item(slot) + 180.0) * c) != math.floor((lon + 180.0) * c)
        self._lat[slot] = lat
        self._lon[slot] = lon
        self._lat32[slot] = lat
        self._lon32[slot] = lon
        self._mask[slot] = mask
        self._expires[slot] = expires_at
        if moved:
            self._touch(slot)

    def set_mask(self, key: int, mask: int) -> bool:
        """Change a located device's categories. A device with no fix is ignored: False."""
        _check_mask(mask)
        slot = self._slot.get(key)
        if slot is None:
            return False
        self._mask[slot] = mask
        return True

    def remove(self, key: int) -> bool:
        """Forget a device's position; False if it had none."""
        slot = self._slot.pop(key, None)
        if slot is None:
            return False
        last = self._n - 1
        if slot != last:
            moved = int(self._keys[last])
            self._keys[slot] = self._keys[last]
            self._lat[slot] = self._lat[last]
            self._lon[slot] = self._lon[last]
            self._lat32[slot] = self._lat32[last]
            self._lon32[slot] = self._lon32[last]
            self._mask[slot] = self._mask[last]
            self._expires[slot] = self._expires[last]
            self._slot[moved] = slot
        self._n = last
        if slot != last:
            self._touch(slot)
        self._touch(last)  # the index's entries for the freed row are stale from now
        return True

    def bulk_load(
        self,
        keys: npt.ArrayLike,
        lats: npt.ArrayLike,
        lons: npt.ArrayLike,
        masks: npt.ArrayLike,
        expires: npt.ArrayLike,
    ) -> None:
        """Upsert many devices at once (e.g. from the database at start-up).

        Validates everything first, so a bad row loads nothing. Keys must be unique.
        """
        k = np.ascontiguousarray(keys, dtype=np.int64)
        la = np.ascontiguousarray(lats, dtype=np.float64)
        lo = np.ascontiguousarray(lons, dtype=np.float64)
        ma = np.ascontiguousarray(masks, dtype=np.uint64)
        ex = np.ascontiguousarray(expires, dtype=np.float64)
        if k.ndim != 1 or any(a.shape != k.shape for a in (la, lo, ma, ex)):
            raise ValueError("bulk_load needs five one-dimensional arrays of the same length")
        if len(k) == 0:
            return
        if not (np.isfinite(la).all() and np.isfinite(lo).all()):
            raise ValueError("device positions must be finite numbers")
        if (np.abs(la) > 90.0).any() or (np.abs(lo) > 180.0).any():
            raise ValueError("device latitude must be within -90..90, longitude -180..180")
        if np.isnan(ex).any():
            raise ValueError("expires_at must be a number")
        if len(np.unique(k)) != len(k):
            raise ValueError("bulk_load keys must be unique")

        key_list: list[int] = k.tolist()
        slots = np.fromiter(
            (self._slot.get(key, -1) for key in key_list), dtype=np.int64, count=len(k)
        )
        new = slots < 0
        n_new = int(np.count_nonzero(new))
        self._reserve(self._n + n_new)
        start = self._n
        slots[new] = np.arange(start, start + n_new, dtype=np.int64)
        self._keys[slots] = k
        self._lat[slots] = la
        self._lon[slots] = lo
        self._lat32[slots] = la
        self._lon32[slots] = lo
        self._mask[slots] = ma
        self._expires[slots] = ex
        self._slot.update(zip(k[new].tolist(), range(start, start + n_new), strict=True))
        self._n = start + n_new
        self._touch_many(slots)

    # --------------------------------------------------------------------- selection

    def select(
        self, area: AnyArea, mask: int, now: float, among: I64Array | None = None
    ) -> I64Array:
        """Keys of devices inside `area`, subscribed to any bit of `mask`, fix unexpired;
        only keys in `among` when it is given (a pilot's participants).

        Raises GeometryError for an unusable area. The result is a fresh array, in no
        particular order.
        """
        _check_mask(mask)
        prepared = prepare_area(area)
        if mask == 0 or self._n == 0:
            return np.empty(0, dtype=np.int64)
        if isinstance(prepared, _PreparedPolygon):
            rows = self._candidates(prepared.bounds, None, mask, now, among)
            inside = _covers_xy(prepared, self._lon[rows], self._lat[rows])
        else:
            rows = self._candidates(prepared.bounds, prepared.lat_band, mask, now, among)
            distance = _haversine_m(prepared.lat, prepared.lon, self._lat[rows], self._lon[rows])
            inside = distance <= prepared.radius_m
        result: I64Array = self._keys[rows[inside]]
        return result

    def count(self, area: AnyArea, mask: int, now: float) -> int:
        """How many devices `select` would return; the number shown before sending."""
        return len(self.select(area, mask, now))

    def coarse_count(
        self, area: AnyArea, mask: int, now: float, among: I64Array | None = None
    ) -> int:
        """How many devices `select` would return if each stood at the centre of its
        ~100 m grid cell (`snap`): the number a preview shows. A phone's count then only
        changes when its cell's centre crosses the area's edge, so no series of previews,
        however many other phones the areas hold, places it more finely than its cell."""
        found = self._near(area, mask, now, among)
        if found is None:
            return 0
        prepared, rows = found
        lats, lons = snap(self._lat[rows], self._lon[rows])
        if isinstance(prepared, _PreparedPolygon):
            return int(np.count_nonzero(_covers_xy(prepared, lons, lats)))
        distance = _haversine_m(prepared.lat, prepared.lon, lats, lons)
        return int(np.count_nonzero(distance <= prepared.radius_m))

    def reach(
        self, area: AnyArea, mask: int, now: float, among: I64Array | None = None
    ) -> I64Array:
        """Keys of devices whose ~100 m grid cell touches `area`: every key `select`
        returns, and those within about a cell of its edge outside it.

        The two-person rule is decided on this set, not on the exact recipients: it is
        never smaller, so no alert above the threshold escapes approval, and like
        `coarse_count` it only changes when a whole cell meets or leaves the edge, so
        watching `approval_required` flip as an edge slides cannot place a phone within
        its cell."""
        found = self._near(area, mask, now, among)
        if found is None:
            return np.empty(0, dtype=np.int64)
        prepared, rows = found
        lats, lons = self._lat[rows], self._lon[rows]
        touching = _cells_touching(prepared, lats, lons)
        # the cell test covers every exact recipient; adding them only guards rounding
        if isinstance(prepared, _PreparedPolygon):
            touching |= _covers_xy(prepared, lons, lats)
        else:
            touching |= _haversine_m(prepared.lat, prepared.lon, lats, lons) <= prepared.radius_m
        result: I64Array = self._keys[rows[touching]]
        return result

    def _near(
        self, area: AnyArea, mask: int, now: float, among: I64Array | None = None
    ) -> tuple[_PreparedPolygon | _PreparedCircle, I64Array] | None:
        """The prepared area and the rows within two cells of it; None when none can be."""
        _check_mask(mask)
        prepared = prepare_area(area)
        if mask == 0 or self._n == 0:
            return None
        pad_lat = 2 * CELL_LAT_DEG  # a phone whose cell centre is inside may stand outside
        if isinstance(prepared, _PreparedPolygon):
            min_lon, min_lat, max_lon, max_lat = prepared.bounds
            widest = max(abs(min_lat), abs(max_lat)) + pad_lat
            pad_lon = pad_lat / max(math.cos(math.radians(min(widest, 89.0))), _MIN_COS)
            padded = (min_lon - pad_lon, min_lat - pad_lat, max_lon + pad_lon, max_lat + pad_lat)
            return prepared, self._candidates(padded, None, mask, now, among)
        low, high = prepared.lat_band
        band = (low - pad_lat, high + pad_lat)
        return prepared, self._candidates(None, band, mask, now, among)

    def _candidates(
        self,
        bounds: tuple[float, float, float, float] | None,
        lat_band: tuple[float, float] | None,
        mask: int,
        now: float,
        among: I64Array | None = None,
    ) -> I64Array:
        """Rows that pass the cheap filters, cheapest and most selective first.

        The cell index gives the rows near a small box; else one pass over every row
        compares the float32 box and the category bytes. The expiry (float64, exact) and
        membership of `among` are then checked on the few survivors only.
        """
        near = self._indexed_rows(bounds, lat_band)
        if near is not None:
            rows = near[self._near_box(near, bounds, lat_band)]
            rows = rows[(self._mask[rows] & np.uint64(mask)) != 0]
        else:
            rows = self._scan(bounds, lat_band, mask)
        result: I64Array = rows[self._expires[rows] > now]
        if among is not None:
            result = result[np.isin(self._keys[result], among)]
        return result

    def _near_box(
        self,
        rows: I64Array,
        bounds: tuple[float, float, float, float] | None,
        lat_band: tuple[float, float] | None,
    ) -> BoolArray:
        """The full pass's float32 box test, for the given rows only."""
        lat = self._lat32[rows]
        if bounds is not None:
            min_lon, min_lat, max_lon, max_lat = bounds
            lon = self._lon32[rows]
            keep: BoolArray = lat >= np.float32(min_lat - _F32_SLACK_DEG)
            keep &= lat <= np.float32(max_lat + _F32_SLACK_DEG)
            keep &= lon >= np.float32(min_lon - _F32_SLACK_DEG)
            keep &= lon <= np.float32(max_lon + _F32_SLACK_DEG)
            return keep
        assert lat_band is not None
        keep = lat >= np.float32(lat_band[0] - _F32_SLACK_DEG)
        keep &= lat <= np.float32(lat_band[1] + _F32_SLACK_DEG)
        return keep

    def _scan(
        self,
        bounds: tuple[float, float, float, float] | None,
        lat_band: tuple[float, float] | None,
        mask: int,
    ) -> I64Array:
        """Rows in the box and subscribed, by one pass over every row."""
        n = self._n
        if len(self._keep) < n:
            capacity = len(self._keys)
            self._keep = np.empty(capacity, dtype=np.bool_)
            self._tmp = np.empty(capacity, dtype=np.bool_)
            self._tmp_u8 = np.empty(capacity, dtype=np.uint8)
        keep, tmp = self._keep[:n], self._tmp[:n]
        lat = self._lat32[:n]
        if bounds is not None:
            min_lon, min_lat, max_lon, max_lat = bounds
            lon = self._lon32[:n]
            np.greater_equal(lat, np.float32(min_lat - _F32_SLACK_DEG), out=keep)
            keep &= np.less_equal(lat, np.float32(max_lat + _F32_SLACK_DEG), out=tmp)
            keep &= np.greater_equal(lon, np.float32(min_lon - _F32_SLACK_DEG), out=tmp)
            keep &= np.less_equal(lon, np.float32(max_lon + _F32_SLACK_DEG), out=tmp)
        else:
            assert lat_band is not None
            np.greater_equal(lat, np.float32(lat_band[0] - _F32_SLACK_DEG), out=keep)
            keep &= np.less_equal(lat, np.float32(lat_band[1] + _F32_SLACK_DEG), out=tmp)
        self._keep_subscribed(keep, mask)
        rows: I64Array = np.flatnonzero(keep)
        return rows

    def _keep_subscribed(self, keep: BoolArray, mask: int) -> None:
        """Clear `keep` where `(device_mask & mask) == 0`, reading only the bytes that matter.

        An alert usually has one category, so one byte of each uint64 is enough; a
        strided uint8 view avoids the full-width temporary of a uint64 `&`.
        """
        n = self._n
        as_bytes = self._mask[:n].view(np.uint8)
        tmp, tmp_u8 = self._tmp[:n], self._tmp_u8[:n]
        hit: BoolArray | None = None
        for byte in range(8):
            bits = (mask >> (8 * byte)) & 0xFF
            if not bits:
                continue
            offset = byte if _LITTLE_ENDIAN else 7 - byte
            np.bitwise_and(as_bytes[offset::8], np.uint8(bits), out=tmp_u8)
            if hit is None:
                hit = np.not_equal(tmp_u8, 0, out=tmp)
            else:
                hit |= tmp_u8 != 0
        assert hit is not None, "mask == 0 is answered before any filtering"
        keep &= hit


def _merged(
    cells: I64Array, rows: I32Array, new_cells: I64Array, new_rows: I64Array
) -> tuple[I64Array, I32Array]:
    """A sorted (cells, rows) index with the new entries inserted in order."""
    order = np.argsort(new_cells)
    at = np.searchsorted(cells, new_cells[order])
    merged_cells: I64Array = np.insert(cells, at, new_cells[order])
    merged_rows: I32Array = np.insert(rows, at, new_rows[order].astype(np.int32))
    return merged_cells, merged_rows


def _check_position(lat: float, lon: float) -> None:
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise ValueError("device position must be finite numbers")
    if abs(lat) > 90.0 or abs(lon) > 180.0:
        raise ValueError("device latitude must be within -90..90, longitude -180..180")


def _check_mask(mask: int) -> None:
    if not 0 <= mask <= _MAX_MASK:
        raise ValueError("category mask must fit in 64 unsigned bits")
