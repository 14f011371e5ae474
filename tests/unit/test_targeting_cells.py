"""The cell index only narrows: with it, select() still equals an exact per-point check,
through moves, removals, merges and bulk loads."""

from __future__ import annotations

import math
from collections.abc import Iterator
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend_client import messages
from relay import targeting
from relay.targeting import DeviceIndex
from tests.unit.test_targeting import reference_inside as inside

PRESTON_LAT, PRESTON_LON = 53.7590, -2.6990
NOW = 1_000_000.0
ALL = (1 << len(messages.CATEGORIES)) - 1
R = 6371008.8
M_PER_DEG = math.pi * R / 180.0


@pytest.fixture
def always_indexed() -> Iterator[None]:
    """The index for every select, however few devices or however big the share, and
    merges after every few changes, so that each path is taken in small examples."""
    with (
        mock.patch.object(targeting, "_CELL_MIN_DEVICES", 0),
        mock.patch.object(targeting, "_CELL_MAX_SHARE", 2.0),
        mock.patch.object(targeting, "_FRESH_MAX", 2),
        mock.patch.object(targeting, "_RUN_MIN", 5),
    ):
        yield


def selected(index: DeviceIndex, area: messages.Area, mask: int = ALL) -> set[int]:
    keys = index.select(area, mask, NOW).tolist()
    assert len(keys) == len(set(keys)), "a key was selected twice"
    return set(keys)


def block(lon0: float, lat0: float, east_m: float, north_m: float) -> messages.Polygon:
    dlat = north_m / M_PER_DEG
    dlon = east_m / (M_PER_DEG * math.cos(math.radians(lat0)))
    return messages.Polygon(
        coordinates=[
            (lon0, lat0),
            (lon0 + dlon, lat0),
            (lon0 + dlon, lat0 + dlat),
            (lon0, lat0 + dlat),
        ]
    )


# a street-sized area somewhere within ~1 km of Preston's centre, or near the poles and
# the antimeridian, where the index takes whole grid rows
small_areas = st.one_of(
    st.builds(
        block,
        st.floats(PRESTON_LON - 0.01, PRESTON_LON + 0.01),
        st.floats(PRESTON_LAT - 0.01, PRESTON_LAT + 0.01),
        st.floats(20.0, 400.0),
        st.floats(20.0, 400.0),
    ),
    st.builds(
        messages.Circle,
        lat=st.floats(PRESTON_LAT - 0.01, PRESTON_LAT + 0.01),
        lon=st.floats(PRESTON_LON - 0.01, PRESTON_LON + 0.01),
        radius_m=st.floats(5.0, 400.0),
    ),
    st.builds(
        messages.Circle,
        lat=st.sampled_from([89.999, -89.9995, 0.0]),
        lon=st.sampled_from([179.9999, -179.9999, 0.0]),
        radius_m=st.floats(5.0, 400.0),
    ),
)


def near(area: messages.Area, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Points scattered over and around the area, some on cell lines and on its corners."""
    if isinstance(area, messages.Circle):
        lat0, lon0, span = area.lat, area.lon, 2.5 * area.radius_m / M_PER_DEG
    else:
        xs = [c[0] for c in area.coordinates]
        ys = [c[1] for c in area.coordinates]
        lat0, lon0 = (min(ys) + max(ys)) / 2, (min(xs) + max(xs)) / 2
        span = 2.5 * max(max(ys) - min(ys), max(xs) - min(xs))
    lats = np.clip(lat0 + rng.uniform(-span, span, n), -90.0, 90.0)
    span_lon = span / max(math.cos(math.radians(lat0)), 0.01)
    lons = lon0 + rng.uniform(-span_lon, span_lon, n)
    lons = np.where(lons > 180.0, lons - 360.0, np.where(lons < -180.0, lons + 360.0, lons))
    lats[:8] = np.floor(lats[:8] * 2000.0) / 2000.0  # exactly on a cell's south edge
    lons[8:16] = np.floor(lons[8:16] * 2000.0) / 2000.0
    if isinstance(area, messages.Polygon):
        corners = np.array(area.coordinates)
        lons[16:20], lats[16:20] = corners[:, 0], corners[:, 1]
    return lats, lons


# the fixture only patches constants, the same for every example
_ONCE = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@settings(max_examples=120, deadline=None, suppress_health_check=_ONCE)
@given(area=small_areas, seed=st.integers(0, 2**32 - 1))
def test_small_areas_through_the_index_equal_the_exact_check(
    always_indexed: None, area: messages.Area, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    lats, lons = near(area, rng, 300)
    masks = rng.integers(0, 4, 300).astype(np.uint64)
    index = DeviceIndex(capacity=8)
    index.bulk_load(np.arange(300), lats, lons, masks, np.full(300, NOW + 1))
    want = {
        k for k in range(300) if int(masks[k]) & 1 and inside(area, float(lats[k]), float(lons[k]))
    }
    assert selected(index, area, 1) == want
    # then move a third of them, remove a few, add a few: dirty rows and merges
    for k in range(0, 300, 3):
        index.upsert(k, float(lats[k - 1]), float(lons[k - 1]), 1, NOW + 1)
        lats[k], lons[k], masks[k] = lats[k - 1], lons[k - 1], 1
    gone = set(range(1, 300, 17))
    for k in gone:
        assert index.remove(k)
    index.upsert(1000, float(lats[5]), float(lons[5]), 1, NOW + 1)
    want = {
        k
        for k in range(300)
        if k not in gone and int(masks[k]) & 1 and inside(area, float(lats[k]), float(lons[k]))
    }
    want |= {1000} if inside(area, float(lats[5]), float(lons[5])) else set()
    assert selected(index, area, 1) == want


@settings(max_examples=60, deadline=None, suppress_health_check=_ONCE)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["upsert", "upsert", "remove", "mask", "select"]),
            st.integers(0, 30),
            st.floats(0.0, 0.002),  # a few cells of the grid: moves within and across cells
            st.floats(0.0, 0.002),
            st.integers(0, 3),
        ),
        max_size=150,
    )
)
def test_random_updates_through_the_index_match_a_plain_model(
    always_indexed: None, ops: list[tuple[str, int, float, float, int]]
) -> None:
    index = DeviceIndex(capacity=1)
    model: dict[int, tuple[float, float, int]] = {}
    area = messages.Polygon(
        coordinates=[(0.0003, 0.0002), (0.0017, 0.0004), (0.0012, 0.0019), (0.0001, 0.0011)]
    )
    for op, key, lat, lon, mask in ops:
        if op == "upsert":
            index.upsert(key, lat, lon, mask, NOW + 1)
            model[key] = (lat, lon, mask)
        elif op == "remove":
            assert index.remove(key) is (model.pop(key, None) is not None)
        elif op == "mask":
            assert index.set_mask(key, mask) is (key in model)
            if key in model:
                model[key] = (*model[key][:2], mask)
        else:
            want = {k for k, (y, x, m) in model.items() if m & 1 and inside(area, y, x)}
            assert selected(index, area, 1) == want
    want = {k for k, (y, x, m) in model.items() if m & 2 and inside(area, y, x)}
    assert selected(index, area, 2) == want


def test_a_street_among_many_devices_reads_only_the_rows_near_it() -> None:
    """With the default thresholds a small area never takes the full pass over every
    row, also with moves not yet merged; a large one does, and both answers are exact."""
    rng = np.random.default_rng(3)
    n = 50_000
    lats = PRESTON_LAT + rng.normal(0.0, 0.01, n)
    lons = PRESTON_LON + rng.normal(0.0, 0.015, n)
    index = DeviceIndex()
    index.bulk_load(np.arange(n), lats, lons, np.full(n, ALL, dtype=np.uint64), np.full(n, NOW + 1))
    for k in range(0, 3000):  # some sorted into the run, the last few still fresh
        lats[k], lons[k] = PRESTON_LAT + (k % 10) * 1e-4, PRESTON_LON + (k % 7) * 1e-4
        index.upsert(k, float(lats[k]), float(lons[k]), ALL, NOW + 1)
    assert index._n_fresh > 0 and len(index._run_rows) > 0
    street = block(PRESTON_LON - 0.0005, PRESTON_LAT - 0.0003, 150.0, 100.0)
    town = messages.Circle(lat=PRESTON_LAT, lon=PRESTON_LON, radius_m=3000.0)
    for area in (street, town):
        want = {k for k in range(n) if inside(area, float(lats[k]), float(lons[k]))}
        if area is street:
            with mock.patch.object(DeviceIndex, "_scan", side_effect=AssertionError("full pass")):
                got = selected(index, area)
        else:
            got = selected(index, area)
        assert got == want
        assert len(want) > 100


def test_bulk_load_of_known_keys_moves_them_in_the_index(always_indexed: None) -> None:
    index = DeviceIndex()
    index.bulk_load([1, 2], [10.0, 10.0], [10.0, 10.0], [ALL, ALL], [NOW + 1, NOW + 1])
    here = messages.Circle(lat=10.0, lon=10.0, radius_m=50.0)
    there = messages.Circle(lat=20.0, lon=20.0, radius_m=50.0)
    assert selected(index, here) == {1, 2}
    index.bulk_load([2, 3], [20.0, 20.0], [20.0, 20.0], [ALL, ALL], [NOW + 1, NOW + 1])
    assert selected(index, here) == {1}
    assert selected(index, there) == {2, 3}


def test_a_prepared_area_is_not_checked_again(always_indexed: None) -> None:
    """What the relay relies on to validate a request's area once (tests of the relay
    count it end to end)."""
    index = DeviceIndex()
    index.upsert(1, PRESTON_LAT, PRESTON_LON, ALL, NOW + 1)
    area = block(PRESTON_LON - 0.001, PRESTON_LAT - 0.001, 300.0, 300.0)
    prepared = targeting.prepare_area(area)
    with mock.patch.object(
        targeting.geometry, "polygon_fault", side_effect=AssertionError("checked again")
    ):
        assert index.select(prepared, ALL, NOW).tolist() == [1]
        assert index.coarse_count(prepared, ALL, NOW) == 1
        assert 1 in index.reach(prepared, ALL, NOW).tolist()
        targeting.check_min_size(prepared, 10_000.0)
        assert (
            targeting.distances_m(prepared, np.array([PRESTON_LAT]), np.array([PRESTON_LON]))[0]
            == 0.0
        )
