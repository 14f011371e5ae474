"""Recipient selection: select() must equal an exact per-point check, always."""

from __future__ import annotations

import math
from unittest import mock

import msgspec
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from backend_client import messages
from relay import targeting
from relay.targeting import DeviceIndex, GeometryError, category_mask, validate_area

PRESTON_LAT, PRESTON_LON = 53.7590, -2.6990
NOW = 1_000_000.0
ALL = (1 << len(messages.CATEGORIES)) - 1
R = 6371008.8


def square(lon0: float, lat0: float, size: float) -> messages.Polygon:
    return messages.Polygon(
        coordinates=[
            (lon0, lat0),
            (lon0 + size, lat0),
            (lon0 + size, lat0 + size),
            (lon0, lat0 + size),
        ]
    )


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Per-point reference, written with math only (independent of the vectorised code)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * R * math.asin(min(1.0, math.sqrt(h)))


def reference_inside(area: messages.Area, lat: float, lon: float) -> bool:
    if isinstance(area, messages.Circle):
        return haversine_m(area.lat, area.lon, lat, lon) <= area.radius_m
    polygon = shapely.Polygon(list(area.coordinates))
    return bool(polygon.covers(Point(lon, lat)))  # boundary counts as inside


def keys_of(index: DeviceIndex, area: messages.Area, mask: int = ALL, now: float = NOW) -> set[int]:
    result = index.select(area, mask, now)
    assert result.dtype == np.int64
    keys = set(result.tolist())
    assert len(keys) == len(result), "a key was selected twice"
    assert index.count(area, mask, now) == len(keys)
    return keys


# ------------------------------------------------------------------------- categories


def test_category_mask_uses_the_index_in_categories_as_bit() -> None:
    assert category_mask([]) == 0
    assert category_mask(["burglary"]) == 1
    assert category_mask(["vehicle", "burglary", "vehicle"]) == 0b11
    assert category_mask(messages.CATEGORIES) == ALL
    assert category_mask(["other"]) == 1 << messages.CATEGORIES.index("other")


def test_unknown_category_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown category 'arson'"):
        category_mask(["burglary", "arson"])


# --------------------------------------------------------------------------- geometry


def test_bowtie_polygon_is_self_intersecting() -> None:
    bowtie = messages.Polygon(coordinates=[(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0)])
    with pytest.raises(GeometryError, match="self-intersecting") as info:
        validate_area(bowtie)
    assert info.value.where == pytest.approx((0.5, 0.5))
    assert "0.5" not in str(info.value), "coordinates stay out of the message (it may be logged)"
    index = DeviceIndex()
    index.upsert(1, 0.5, 0.5, ALL, NOW + 1)
    with pytest.raises(GeometryError):
        index.select(bowtie, ALL, NOW)
    with pytest.raises(GeometryError):
        index.count(bowtie, ALL, NOW)


@pytest.mark.parametrize(
    "coordinates",
    [
        [(0.0, 0.0), (1.0, 1.0)],
        [(0.0, 0.0), (1.0, 1.0), (0.0, 0.0)],
        [(0.0, 0.0), (1.0, 1.0), (1.0, 1.0), (0.0, 0.0)],
    ],
)
def test_fewer_than_three_distinct_points(coordinates: list[tuple[float, float]]) -> None:
    with pytest.raises(GeometryError, match="fewer than 3 distinct points"):
        validate_area(messages.Polygon(coordinates=coordinates))


def test_collinear_polygon_has_zero_area() -> None:
    with pytest.raises(GeometryError, match="zero area"):
        validate_area(messages.Polygon(coordinates=[(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)]))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_polygon_coordinates(bad: float) -> None:
    polygon = messages.Polygon(coordinates=[(0.0, 0.0), (1.0, bad), (1.0, 0.0)])
    with pytest.raises(GeometryError, match="not finite"):
        validate_area(polygon)


def test_polygon_off_the_map() -> None:
    with pytest.raises(GeometryError, match="off the map"):
        validate_area(messages.Polygon(coordinates=[(0.0, 0.0), (0.0, 95.0), (1.0, 0.0)]))


def test_malformed_corner_is_a_geometry_error() -> None:
    polygon = messages.Polygon(coordinates=[(0.0, 0.0, 1.0), (1.0, 0.0, 1.0), (1.0, 1.0, 1.0)])  # type: ignore[list-item]
    with pytest.raises(GeometryError, match=r"\[lon, lat\] pair"):
        validate_area(polygon)


def test_open_and_closed_rings_are_both_accepted() -> None:
    open_ring = square(0.0, 0.0, 1.0)
    closed = messages.Polygon(coordinates=[*open_ring.coordinates, open_ring.coordinates[0]])
    validate_area(open_ring)
    validate_area(closed)
    index = DeviceIndex()
    index.upsert(7, 0.5, 0.5, ALL, NOW + 1)
    assert keys_of(index, open_ring) == keys_of(index, closed) == {7}


@pytest.mark.parametrize("radius", [0.0, -5.0, math.nan, math.inf, 50_000.5])
def test_radius_out_of_range(radius: float) -> None:
    circle = messages.Circle(lat=PRESTON_LAT, lon=PRESTON_LON, radius_m=radius)
    with pytest.raises(GeometryError, match="radius is out of range"):
        validate_area(circle)
    with pytest.raises(GeometryError):
        DeviceIndex().select(circle, ALL, NOW)


def test_circle_centre_not_finite() -> None:
    with pytest.raises(GeometryError, match="not a finite position"):
        validate_area(messages.Circle(lat=math.nan, lon=0.0, radius_m=100.0))


def test_wire_decoded_polygon_validates() -> None:
    coordinates = [[-2.70, 53.75], [-2.69, 53.75], [-2.69, 53.76]]
    raw = msgspec.json.encode({"type": "polygon", "coordinates": coordinates})
    polygon = msgspec.json.decode(raw, type=messages.Polygon)
    validate_area(polygon)
    index = DeviceIndex()
    index.upsert(1, 53.751, -2.691, ALL, NOW + 1)
    assert keys_of(index, polygon) == {1}


# ------------------------------------------------------------------ filters and upkeep


def test_boundary_points_are_inside() -> None:
    index = DeviceIndex()
    index.upsert(1, 0.0, 0.0, ALL, NOW + 1)  # a corner
    index.upsert(2, 0.0, 0.5, ALL, NOW + 1)  # on the southern edge
    index.upsert(3, 0.5, 1.0, ALL, NOW + 1)  # on the eastern edge
    index.upsert(4, 0.5, 1.0 + 1e-12, ALL, NOW + 1)  # just outside
    assert keys_of(index, square(0.0, 0.0, 1.0)) == {1, 2, 3}


def test_circle_centre_is_inside_and_far_point_is_not() -> None:
    index = DeviceIndex()
    index.upsert(1, PRESTON_LAT, PRESTON_LON, ALL, NOW + 1)
    index.upsert(2, PRESTON_LAT + 0.02, PRESTON_LON, ALL, NOW + 1)  # ~2.2 km north
    circle = messages.Circle(lat=PRESTON_LAT, lon=PRESTON_LON, radius_m=1500.0)
    assert keys_of(index, circle) == {1}
    assert keys_of(index, messages.Circle(lat=PRESTON_LAT, lon=PRESTON_LON, radius_m=2300.0)) == {
        1,
        2,
    }


def test_expired_fixes_are_not_selected() -> None:
    index = DeviceIndex()
    index.upsert(1, 0.5, 0.5, ALL, NOW - 1)
    index.upsert(2, 0.5, 0.5, ALL, NOW)  # expires exactly now: gone
    index.upsert(3, 0.5, 0.5, ALL, NOW + 0.001)
    index.upsert(4, 0.5, 0.5, ALL, math.inf)
    assert keys_of(index, square(0.0, 0.0, 1.0)) == {3, 4}
    assert keys_of(index, square(0.0, 0.0, 1.0), now=NOW - 2) == {1, 2, 3, 4}


def test_category_filter() -> None:
    index = DeviceIndex()
    index.upsert(1, 0.5, 0.5, category_mask(["burglary"]), NOW + 1)
    index.upsert(2, 0.5, 0.5, category_mask(["horse", "canal"]), NOW + 1)
    index.upsert(3, 0.5, 0.5, 0, NOW + 1)  # follows nothing
    area = square(0.0, 0.0, 1.0)
    assert keys_of(index, area, category_mask(["burglary"])) == {1}
    assert keys_of(index, area, category_mask(["canal"])) == {2}
    assert keys_of(index, area, category_mask(["canal", "burglary"])) == {1, 2}
    assert keys_of(index, area, category_mask(["school"])) == set()
    assert keys_of(index, area, 0) == set()
    assert keys_of(index, area, (1 << 64) - 1) == {1, 2}
    index.upsert(4, 0.5, 0.5, 1 << 63, NOW + 1)  # bits beyond today's categories still work
    assert keys_of(index, area, (1 << 63) | 1) == {1, 4}
    assert keys_of(index, area, 1 << 62) == set()
    with pytest.raises(ValueError):
        index.select(area, -1, NOW)
    with pytest.raises(ValueError):
        index.select(area, 1 << 64, NOW)


def test_set_mask_changes_categories_and_ignores_unlocated_devices() -> None:
    index = DeviceIndex()
    burglary, horse = category_mask(["burglary"]), category_mask(["horse"])
    index.upsert(1, 0.5, 0.5, burglary, NOW + 1)
    assert index.set_mask(1, horse) is True
    assert index.set_mask(99, horse) is False
    assert 99 not in index
    assert len(index) == 1
    area = square(0.0, 0.0, 1.0)
    assert keys_of(index, area, burglary) == set()
    assert keys_of(index, area, horse) == {1}


def test_upsert_moves_and_remove_forgets() -> None:
    index = DeviceIndex(capacity=2)
    area = square(0.0, 0.0, 1.0)
    for key in range(10):  # grows past its capacity
        index.upsert(key, 0.5, 0.5, ALL, NOW + 1)
    assert len(index) == 10
    index.upsert(3, 5.0, 5.0, ALL, NOW + 1)  # moved away
    assert len(index) == 10
    assert index.remove(0) is True  # swap-remove: the last row moves into slot 0
    assert index.remove(0) is False
    assert index.remove(9) is True
    assert len(index) == 8
    assert keys_of(index, area) == {1, 2, 4, 5, 6, 7, 8}
    index.upsert(9, 0.25, 0.25, ALL, NOW + 1)
    assert keys_of(index, area) == {1, 2, 4, 5, 6, 7, 8, 9}
    for key in (1, 2, 3, 4, 5, 6, 7, 8, 9):
        index.remove(key)
    assert len(index) == 0
    assert keys_of(index, area) == set()


@pytest.mark.parametrize(
    ("lat", "lon"), [(math.nan, 0.0), (0.0, math.inf), (91.0, 0.0), (0.0, -180.5)]
)
def test_bad_device_position_is_rejected(lat: float, lon: float) -> None:
    index = DeviceIndex()
    with pytest.raises(ValueError):
        index.upsert(1, lat, lon, ALL, NOW + 1)
    assert len(index) == 0


def test_bulk_load_upserts_and_validates_first() -> None:
    index = DeviceIndex(capacity=1)
    index.upsert(1, 5.0, 5.0, ALL, NOW + 1)
    index.bulk_load(
        np.array([1, 2, 3], dtype=np.int64),
        np.array([0.5, 0.5, 5.0]),
        np.array([0.5, 0.5, 5.0]),
        np.array([ALL, 1, ALL], dtype=np.uint64),
        np.array([NOW + 1, NOW + 1, NOW + 1]),
    )
    assert len(index) == 3
    area = square(0.0, 0.0, 1.0)
    assert keys_of(index, area) == {1, 2}
    assert keys_of(index, area, 2) == {1}

    with pytest.raises(ValueError, match="unique"):
        index.bulk_load([4, 4], [0.5, 0.5], [0.5, 0.5], [ALL, ALL], [NOW + 1, NOW + 1])
    with pytest.raises(ValueError, match="finite"):
        index.bulk_load([4, 5], [0.5, math.nan], [0.5, 0.5], [ALL, ALL], [NOW + 1, NOW + 1])
    with pytest.raises(ValueError, match="same length"):
        index.bulk_load([4, 5], [0.5], [0.5, 0.5], [ALL, ALL], [NOW + 1, NOW + 1])
    assert len(index) == 3, "a rejected bulk load adds nothing"
    assert keys_of(index, area) == {1, 2}
    index.remove(1)
    index.upsert(6, 0.1, 0.1, ALL, NOW + 1)
    assert keys_of(index, area) == {2, 6}


def test_circles_near_the_poles_and_antimeridian_do_not_crash() -> None:
    index = DeviceIndex()
    points = [(89.999, 0.0), (89.999, 179.0), (-89.99, -120.0), (0.0, 179.9999), (0.0, -179.9999)]
    for key, (lat, lon) in enumerate(points):
        index.upsert(key, lat, lon, ALL, NOW + 1)
    for circle in (
        messages.Circle(lat=90.0, lon=0.0, radius_m=50_000.0),
        messages.Circle(lat=-90.0, lon=10.0, radius_m=5_000.0),
        messages.Circle(lat=0.0, lon=180.0, radius_m=1_000.0),
        messages.Circle(lat=0.0, lon=-179.99999, radius_m=1_000.0),
    ):
        want = {key for key, (lat, lon) in enumerate(points) if reference_inside(circle, lat, lon)}
        assert keys_of(index, circle) == want
    assert keys_of(index, messages.Circle(lat=0.0, lon=180.0, radius_m=1_000.0)) == {3, 4}


# ------------------------------------------------------------------ property tests


@st.composite
def star_polygons(draw: st.DrawFn) -> messages.Polygon:
    """Simple polygons: corners at strictly increasing angles round a centre."""
    n = draw(st.integers(3, 30))
    gaps = draw(st.lists(st.floats(0.2, 1.0), min_size=n, max_size=n))
    start = draw(st.floats(0.0, 2 * math.pi))
    radii = draw(st.lists(st.floats(0.2, 1.0), min_size=n, max_size=n))
    scale = draw(st.sampled_from([0.001, 0.02, 0.5]))
    lon0 = PRESTON_LON + draw(st.floats(-0.05, 0.05))
    lat0 = PRESTON_LAT + draw(st.floats(-0.05, 0.05))
    total = sum(gaps)
    angles = start + np.cumsum(gaps) / total * 2 * math.pi
    coords = [
        (lon0 + r * scale * math.cos(a), lat0 + r * scale * math.sin(a))
        for a, r in zip(angles, radii, strict=True)
    ]
    return messages.Polygon(coordinates=coords)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(polygon=star_polygons(), data=st.data(), use_grid=st.booleans())
def test_polygon_selection_equals_per_point_covers(
    polygon: messages.Polygon, data: st.DataObject, use_grid: bool
) -> None:
    validate_area(polygon)
    xs = [c[0] for c in polygon.coordinates]
    ys = [c[1] for c in polygon.coordinates]
    span_x, span_y = max(xs) - min(xs), max(ys) - min(ys)
    lon = st.floats(min(xs) - span_x * 0.2, max(xs) + span_x * 0.2)
    lat = st.floats(min(ys) - span_y * 0.2, max(ys) + span_y * 0.2)
    points = data.draw(st.lists(st.tuples(lon, lat), min_size=1, max_size=80))
    # corners and edge midpoints probe the boundary rule
    ring = [*polygon.coordinates, polygon.coordinates[0]]
    points += list(polygon.coordinates)
    points += [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in zip(ring, ring[1:], strict=False)]
    index = DeviceIndex(capacity=4)
    for key, (x, y) in enumerate(points):
        index.upsert(key, y, x, ALL, NOW + 1)
    want = {key for key, (x, y) in enumerate(points) if reference_inside(polygon, y, x)}
    threshold = 0 if use_grid else targeting._GRID_MIN_CANDIDATES
    with mock.patch.object(targeting, "_GRID_MIN_CANDIDATES", threshold):
        assert keys_of(index, polygon) == want


@settings(max_examples=80, deadline=None)
@given(
    lat0=st.floats(-85.0, 85.0),
    lon0=st.floats(-179.0, 179.0),
    radius=st.floats(1.0, 50_000.0),
    data=st.data(),
)
def test_circle_selection_equals_per_point_haversine(
    lat0: float, lon0: float, radius: float, data: st.DataObject
) -> None:
    circle = messages.Circle(lat=lat0, lon=lon0, radius_m=radius)
    span = math.degrees(radius / R) * 1.5
    span_lon = min(180.0, span / max(math.cos(math.radians(lat0)), 0.05))
    lat = st.floats(max(-90.0, lat0 - span), min(90.0, lat0 + span))
    lon = st.floats(max(-180.0, lon0 - span_lon), min(180.0, lon0 + span_lon))
    points = data.draw(st.lists(st.tuples(lat, lon), min_size=1, max_size=80))
    index = DeviceIndex()
    for key, (y, x) in enumerate(points):
        index.upsert(key, y, x, ALL, NOW + 1)
    want = {key for key, (y, x) in enumerate(points) if reference_inside(circle, y, x)}
    assert keys_of(index, circle) == want


@settings(max_examples=40, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["upsert", "remove", "mask"]),
            st.integers(0, 15),
            st.floats(-0.2, 1.2),
            st.floats(-0.2, 1.2),
            st.integers(0, 3),
            st.sampled_from([NOW - 5, NOW + 5]),
        ),
        max_size=120,
    )
)
def test_random_updates_match_a_plain_model(
    ops: list[tuple[str, int, float, float, int, float]],
) -> None:
    index = DeviceIndex(capacity=1)
    model: dict[int, tuple[float, float, int, float]] = {}
    for op, key, lat, lon, mask, expires in ops:
        if op == "upsert":
            index.upsert(key, lat, lon, mask, expires)
            model[key] = (lat, lon, mask, expires)
        elif op == "remove":
            assert index.remove(key) is (model.pop(key, None) is not None)
        else:
            assert index.set_mask(key, mask) is (key in model)
            if key in model:
                model[key] = (*model[key][:2], mask, model[key][3])
        assert len(index) == len(model)
    area = square(0.0, 0.0, 1.0)
    for alert in (1, 2, 3):
        want = {
            key
            for key, (lat, lon, mask, expires) in model.items()
            if mask & alert and expires > NOW and 0 <= lat <= 1 and 0 <= lon <= 1
        }
        assert keys_of(index, area, alert) == want


def test_many_points_through_the_raster_match_per_point_covers() -> None:
    """Enough candidates to take the raster shortcut with the default threshold."""
    rng = np.random.default_rng(7)
    angles = np.sort(rng.uniform(0, 2 * math.pi, 25))
    radii = rng.uniform(0.01, 0.025, 25)
    polygon = messages.Polygon(
        coordinates=[
            (PRESTON_LON + r * math.cos(a), PRESTON_LAT + r * math.sin(a) * 0.6)
            for a, r in zip(angles, radii, strict=True)
        ]
    )
    n = targeting._GRID_MIN_CANDIDATES * 3
    lats = PRESTON_LAT + rng.uniform(-0.02, 0.02, n)
    lons = PRESTON_LON + rng.uniform(-0.03, 0.03, n)
    # put some points exactly on corners and on grid-cell lines of the polygon's box
    min_lon, min_lat, max_lon, max_lat = shapely.Polygon(polygon.coordinates).bounds
    lons[:25] = [c[0] for c in polygon.coordinates]
    lats[:25] = [c[1] for c in polygon.coordinates]
    lons[25:100] = min_lon + (max_lon - min_lon) * rng.integers(0, 17, 75) / 16
    keys = np.arange(n, dtype=np.int64) * 3 + 11
    index = DeviceIndex()
    index.bulk_load(keys, lats, lons, np.full(n, ALL, dtype=np.uint64), np.full(n, NOW + 1))
    geom = shapely.Polygon(polygon.coordinates)
    want = {
        int(k)
        for k, y, x in zip(keys, lats, lons, strict=True)
        if geom.covers(Point(float(x), float(y)))
    }
    assert len(want) > 1000
    assert keys_of(index, polygon) == want


# ------------------------------------------------------------------ issue 8: antimeridian, size


def test_a_polygon_across_the_antimeridian_is_refused() -> None:
    across = messages.Polygon(
        coordinates=[(179.5, -1.0), (-179.5, -1.0), (-179.5, 1.0), (179.5, 1.0)]
    )
    with pytest.raises(GeometryError, match="antimeridian"):
        validate_area(across)
    with pytest.raises(GeometryError, match="antimeridian"):
        DeviceIndex().select(across, ALL, NOW)
    validate_area(
        messages.Polygon(coordinates=[(179.0, -1.0), (179.9, -1.0), (179.9, 1.0), (179.0, 1.0)])
    )


def test_areas_below_the_minimum_size_are_refused() -> None:
    from relay.targeting import area_m2, check_min_size

    tiny = messages.Circle(lat=53.75, lon=-2.7, radius_m=0.5)
    with pytest.raises(GeometryError, match="too small"):
        check_min_size(tiny, 10_000.0)
    street = messages.Circle(lat=53.75, lon=-2.7, radius_m=57.0)
    check_min_size(street, 10_000.0)
    d = 0.0009  # about 100 m north-south, 59 m east-west at 53.75 N
    box = messages.Polygon(
        coordinates=[(-2.7, 53.75), (-2.7 + d, 53.75), (-2.7 + d, 53.75 + d), (-2.7, 53.75 + d)]
    )
    assert 5_000.0 < area_m2(box) < 7_000.0
    with pytest.raises(GeometryError, match="too small"):
        check_min_size(box, 10_000.0)
    assert area_m2(street) == pytest.approx(math.pi * 57.0**2, rel=1e-6)


# ------------------------------------------------------------------ the preview's grid


def _rect(west: float, south: float, east: float, north: float) -> messages.Polygon:
    return messages.Polygon(
        coordinates=[(west, south), (east, south), (east, north), (west, north)]
    )


def test_snap_moves_a_position_to_its_cell_centre_and_no_further_than_the_cell() -> None:
    rng = np.random.default_rng(3)
    lats = rng.uniform(-80, 80, 2000)
    lons = rng.uniform(-179.9, 179.9, 2000)
    slat, slon = targeting.snap(lats, lons)
    again = targeting.snap(slat, slon)
    assert np.allclose(again[0], slat) and np.allclose(again[1], slon)  # centres stay put
    for lat, lon, a, b in zip(lats[:200], lons[:200], slat[:200], slon[:200], strict=True):
        assert haversine_m(lat, lon, a, b) <= targeting.COARSE_CELL_M * 0.75


def test_previews_over_a_crowd_cannot_tell_two_spots_of_one_cell_apart() -> None:
    """The crowd attack: areas that also hold a crowd far away (so counts are never
    coarsened to "fewer than k"), an edge slid across the target metre by metre. With
    exact counts the flip pins the phone; on the grid, two phones ~40 m apart in one cell
    give the same answer to every probe."""
    lat, lon = targeting.snap(np.array([PRESTON_LAT]), np.array([PRESTON_LON]))
    centre_lat, centre_lon = float(lat[0]), float(lon[0])
    spots = [(centre_lat - 0.0002, centre_lon - 0.0003), (centre_lat + 0.0002, centre_lon + 0.0003)]
    assert 30 < haversine_m(*spots[0], *spots[1]) < 100
    mask = category_mask(["burglary"])
    indexes = []
    for spot in spots:
        idx = DeviceIndex()
        for k in range(10):  # the crowd, 2 km east
            idx.upsert(100 + k, PRESTON_LAT + k * 0.0001, PRESTON_LON + 0.03, mask, 1e12)
        idx.upsert(1, spot[0], spot[1], mask, 1e12)
        indexes.append(idx)
    exact_differs = False
    for step in range(-400, 401, 2):  # the west edge swept 0.004 degrees either side, ~2 m steps
        west = centre_lon + step * 0.00001
        area = _rect(west, PRESTON_LAT - 0.01, PRESTON_LON + 0.04, PRESTON_LAT + 0.01)
        coarse = {idx.coarse_count(area, mask, 0.0) for idx in indexes}
        assert len(coarse) == 1, (step, coarse)
        exact_differs |= len({len(idx.select(area, mask, 0.0)) for idx in indexes}) > 1
    assert exact_differs  # the exact count would have told them apart
    for step in range(-400, 401, 2):  # the south edge, the same
        south = centre_lat + step * 0.00001
        area = _rect(PRESTON_LON - 0.01, south, PRESTON_LON + 0.04, PRESTON_LAT + 0.02)
        assert len({idx.coarse_count(area, mask, 0.0) for idx in indexes}) == 1


def test_the_coarse_count_of_a_neighbourhood_is_the_exact_one() -> None:
    idx = DeviceIndex()
    mask = category_mask(["burglary"])
    rng = np.random.default_rng(5)
    for k in range(200):  # phones well inside a 2 km square
        idx.upsert(
            k,
            PRESTON_LAT + rng.uniform(-0.005, 0.005),
            PRESTON_LON + rng.uniform(-0.008, 0.008),
            mask,
            1e12,
        )
    area = _rect(PRESTON_LON - 0.02, PRESTON_LAT - 0.01, PRESTON_LON + 0.02, PRESTON_LAT + 0.01)
    circle = messages.Circle(lat=PRESTON_LAT, lon=PRESTON_LON, radius_m=2500.0)
    assert idx.coarse_count(area, mask, 0.0) == len(idx.select(area, mask, 0.0)) == 200
    assert idx.coarse_count(circle, mask, 0.0) == 200
    assert idx.coarse_count(area, category_mask(["drugs"]), 0.0) == 0


# ----------------------------------------------------------------------------- reach


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    circle=st.booleans(),
    lat0=st.floats(-70.0, 70.0),
    lon0=st.floats(-170.0, 170.0),
)
def test_reach_holds_every_recipient_and_answers_alike_for_a_whole_cell(
    seed: int, circle: bool, lat0: float, lon0: float
) -> None:
    """The two-person rule is decided on `reach`: never fewer than the recipients (no
    large alert escapes approval), and the same answer for every phone of a cell (sliding
    an edge cannot place one within its cell)."""
    rng = np.random.default_rng(seed)
    idx = DeviceIndex()
    lats = lat0 + rng.uniform(-0.01, 0.01, 400)
    lons = lon0 + rng.uniform(-0.015, 0.015, 400)
    for k, (lat, lon) in enumerate(zip(lats, lons, strict=True)):
        idx.upsert(k, float(lat), float(lon), ALL, 1e12)
    area: messages.Area
    if circle:
        area = messages.Circle(lat=lat0, lon=lon0, radius_m=float(rng.uniform(50, 900)))
    else:
        size = float(rng.uniform(0.002, 0.012))
        area = square(lon0 - size / 2, lat0 - size / 3, size)
    exact = set(idx.select(area, ALL, 0.0).tolist())
    reach = set(idx.reach(area, ALL, 0.0).tolist())
    assert exact <= reach
    cell_lat, cell_lon = targeting.snap(lats, lons)
    if not circle:  # every phone whose cell box touches the polygon is reached
        polygon = shapely.Polygon(area.coordinates)  # type: ignore[union-attr]
        half_h = targeting.CELL_LAT_DEG / 2
        for k in range(400):
            half_w = half_h / math.cos(math.radians(cell_lat[k]))
            cell = shapely.box(
                cell_lon[k] - half_w,
                cell_lat[k] - half_h,
                cell_lon[k] + half_w,
                cell_lat[k] + half_h,
            )
            if polygon.intersects(cell):
                assert k in reach, k
    answer_by_cell: dict[tuple[float, float], bool] = {}
    for k in range(400):
        cell = (float(cell_lat[k]), float(cell_lon[k]))
        assert answer_by_cell.setdefault(cell, k in reach) == (k in reach), cell
    # and no cell far from the area is in: everything reached is within ~2 cells of it
    for k in reach - exact:
        if isinstance(area, messages.Circle):
            assert haversine_m(area.lat, area.lon, lats[k], lons[k]) <= area.radius_m + 250
        else:
            d_deg = shapely.Polygon(area.coordinates).distance(Point(lons[k], lats[k]))
            assert d_deg < 3 * targeting.CELL_LAT_DEG / math.cos(math.radians(abs(lat0) + 1))


def test_reach_of_a_neighbourhood_is_its_recipients_and_of_nothing_is_empty() -> None:
    idx = DeviceIndex()
    mask = category_mask(["burglary"])
    assert len(idx.reach(square(PRESTON_LON, PRESTON_LAT, 0.01), mask, 0.0)) == 0
    for k in range(50):
        idx.upsert(k, PRESTON_LAT + 0.005 + k * 1e-5, PRESTON_LON + 0.005, mask, 1e12)
    area = square(PRESTON_LON, PRESTON_LAT, 0.01)
    assert sorted(idx.reach(area, mask, 0.0).tolist()) == list(range(50))
    assert len(idx.reach(area, category_mask(["drugs"]), 0.0)) == 0
    assert len(idx.reach(area, mask, 2e12)) == 0  # fixes expired
