"""Benchmark recipient selection: DeviceIndex.select against exact and naive checks.

    python bench/targeting.py --points 1000000
    python bench/targeting.py --points 1000000 --against /path/to/old/tree --rounds 5

Devices are spread around Preston, UK (a dense centre, a few satellite towns, and a
uniform background over a ~15 km box). The alert areas are an irregular drawn polygon
(a few km across) and a 1.5 km circle. `mismatches` counts devices where select()
disagrees with an independent exact check over every point (shapely `covers` on point
geometries, and a separate haversine). `naive_ms` times a per-point shapely loop on a
sample and extrapolates to all points. `polygon_coarse_count_ms` and `polygon_reach_ms`
time what a preview and a send add (the count on the ~100 m grid, and the set the
two-person rule is decided on, `polygon_reach_extra` phones more than the recipients).

Street-sized areas, where the cell index matters: `block_ms` is a 150 m x 100 m block
in the dense centre, `street_circle_ms` a circle of radius 100 m beside it, each as the
relay selects after its one validation of the request's area (`prepare_area`; a tree
without it selects from the area as sent, `prepared` false); `*_unprepared_ms` include
that validation. `upsert_us` is the mean cost of moving a random device (merges of the
cell index included), `block_after_upserts_ms` the block again with those moves not
yet merged.

`--against TREE` runs this script on this tree and on TREE (its `relay` imported
instead) alternately, `--rounds` times each, and prints both medians side by side. The
last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point

# the tree whose `relay` is measured: `--code-from DIR` (used by --against), else this one
sys.path.insert(
    0,
    sys.argv[sys.argv.index("--code-from") + 1]
    if "--code-from" in sys.argv
    else str(Path(__file__).resolve().parent.parent),
)

from backend_client import messages
from relay import targeting
from relay.targeting import DeviceIndex, category_mask

HERE = str(Path(__file__).resolve().parent.parent)
PRESTON = (53.7590, -2.6990)  # lat, lon
BOX_KM = 15.0
EARTH_R = 6371008.8
NOW = 1_750_000_000.0


def make_devices(n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    lat0, lon0 = PRESTON
    km_lat = 1.0 / 111.2
    km_lon = km_lat / math.cos(math.radians(lat0))
    # centre 45 %, four satellite towns 35 %, uniform background 20 %
    n_centre, n_towns = int(n * 0.45), int(n * 0.35)
    n_bg = n - n_centre - n_towns
    towns = np.array([(-4.0, 3.5), (5.0, 2.0), (3.0, -5.0), (-5.5, -3.0)])  # km (x, y)
    which = rng.integers(0, len(towns), n_towns)
    x = np.concatenate(
        [
            rng.normal(0.0, 1.8, n_centre),
            towns[which, 0] + rng.normal(0.0, 0.9, n_towns),
            rng.uniform(-BOX_KM / 2, BOX_KM / 2, n_bg),
        ]
    )
    y = np.concatenate(
        [
            rng.normal(0.0, 1.8, n_centre),
            towns[which, 1] + rng.normal(0.0, 0.9, n_towns),
            rng.uniform(-BOX_KM / 2, BOX_KM / 2, n_bg),
        ]
    )
    x = np.clip(x, -BOX_KM / 2, BOX_KM / 2)
    y = np.clip(y, -BOX_KM / 2, BOX_KM / 2)
    lats = lat0 + y * km_lat
    lons = lon0 + x * km_lon
    keys = rng.permutation(np.arange(10_000_000, 10_000_000 + n, dtype=np.int64))
    # each device follows 1-4 random categories
    masks = np.zeros(n, dtype=np.uint64)
    for _ in range(4):
        bit = rng.integers(0, len(messages.CATEGORIES), n).astype(np.uint64)
        take = rng.random(n) < 0.6
        masks |= np.where(take, np.uint64(1) << bit, np.uint64(0))
    masks[masks == 0] = np.uint64(1)
    # most fixes are fresh; ~10 % expired
    expires = NOW + rng.uniform(-3600.0, 86_400.0, n)
    expires[rng.random(n) < 0.1] = NOW - 1.0
    return keys, lats, lons, masks, expires


def drawn_polygon(rng: np.random.Generator, vertices: int = 22) -> messages.Polygon:
    """A star-shaped irregular ring ~3-4 km across, like a dispatcher's freehand shape."""
    lat0, lon0 = PRESTON[0] + 0.006, PRESTON[1] - 0.004
    angles = np.sort(rng.uniform(0.0, 2 * math.pi, vertices))
    radii_km = rng.uniform(1.0, 2.2, vertices)
    km_lat = 1.0 / 111.2
    km_lon = km_lat / math.cos(math.radians(lat0))
    coords = [
        (lon0 + r * math.cos(a) * km_lon, lat0 + r * math.sin(a) * km_lat)
        for a, r in zip(angles, radii_km, strict=True)
    ]
    return messages.Polygon(coordinates=coords)


def street_areas() -> tuple[messages.Polygon, messages.Circle]:
    """A 150 m (east-west) x 100 m block and a 100 m circle in the dense centre."""
    lat0, lon0 = PRESTON[0] + 0.0011, PRESTON[1] + 0.0007
    m_lat = EARTH_R * math.pi / 180.0
    dlat, dlon = 100.0 / m_lat, 150.0 / (m_lat * math.cos(math.radians(lat0)))
    block = messages.Polygon(
        coordinates=[
            (lon0, lat0),
            (lon0 + dlon, lat0),
            (lon0 + dlon, lat0 + dlat),
            (lon0, lat0 + dlat),
        ]
    )
    circle = messages.Circle(lat=PRESTON[0] - 0.0013, lon=PRESTON[1] - 0.0021, radius_m=100.0)
    return block, circle


def exact_polygon(poly: messages.Polygon, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Independent check: shapely covers() on real point geometries, boundary included
    (in chunks, so that millions of point geometries never exist at once)."""
    ring = list(poly.coordinates) + [poly.coordinates[0]]
    geom = shapely.Polygon(ring)
    out = np.zeros(len(lats), dtype=bool)
    for start in range(0, len(lats), 500_000):
        part = slice(start, start + 500_000)
        out[part] = shapely.covers(geom, shapely.points(lons[part], lats[part]))
    return out


def exact_circle(c: messages.Circle, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Independent haversine (written separately from the code under test)."""
    p1, p2 = math.radians(c.lat), np.deg2rad(lats)
    dp = p2 - p1
    dl = np.deg2rad(lons) - math.radians(c.lon)
    h = np.sin(dp / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    d = 2 * EARTH_R * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    return d <= c.radius_m


def timed(fn: object, runs: int) -> tuple[float, object]:
    times = []
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times), result


def side_by_side(args: argparse.Namespace) -> None:
    """Run this tree and `--against` alternately; print both trees' medians."""
    trees = {"new": HERE, "old": str(Path(args.against).resolve())}
    runs: dict[str, list[dict[str, Any]]] = {"new": [], "old": []}
    passed = [
        f"--points={args.points}",
        f"--runs={args.runs}",
        f"--naive-sample={args.naive_sample}",
        f"--seed={args.seed}",
    ]
    for _ in range(args.rounds):
        for name in ("old", "new"):
            out = subprocess.run(
                [sys.executable, __file__, "--code-from", trees[name], *passed],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            runs[name].append(json.loads(out.strip().splitlines()[-1]))
    result: dict[str, Any] = {"points": args.points, "rounds": args.rounds, "trees": trees}
    for name in ("old", "new"):
        first = runs[name][0]
        result[name] = {
            key: (
                round(statistics.median(r[key] for r in runs[name]), 4)
                if isinstance(value, float) and not key.endswith("_m")
                else value
            )
            for key, value in first.items()
        }
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--naive-sample", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--against", help="another tree to measure alternately with this one")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each tree (--against)")
    parser.add_argument("--code-from", help="import relay from this tree (used by --against)")
    args = parser.parse_args()
    if args.against:
        side_by_side(args)
        return

    rng = np.random.default_rng(args.seed)
    keys, lats, lons, masks, expires = make_devices(args.points, rng)
    index = DeviceIndex()
    t0 = time.perf_counter()
    index.bulk_load(keys, lats, lons, masks, expires)
    load_ms = (time.perf_counter() - t0) * 1000.0

    lats_before, lons_before = lats.copy(), lons.copy()
    polygon = drawn_polygon(rng)
    circle = messages.Circle(lat=PRESTON[0] - 0.003, lon=PRESTON[1] + 0.005, radius_m=1500.0)
    alert_mask = category_mask(["burglary"])

    index.select(polygon, alert_mask, NOW)  # warm-up
    index.select(circle, alert_mask, NOW)
    polygon_ms, poly_keys = timed(lambda: index.select(polygon, alert_mask, NOW), args.runs)
    circle_ms, circle_keys = timed(lambda: index.select(circle, alert_mask, NOW), args.runs)
    # what a preview and a send also compute: the count on the grid and the approval set
    preview_ms, _ = timed(lambda: index.coarse_count(polygon, alert_mask, NOW), args.runs)
    reach_ms, reach_keys = timed(lambda: index.reach(polygon, alert_mask, NOW), args.runs)

    # street-sized areas, as the relay selects them after its one validation
    block, street = street_areas()
    prepare = getattr(targeting, "prepare_area", None)
    block_p = prepare(block) if prepare else block
    street_p = prepare(street) if prepare else street
    many = args.runs * 20  # each takes well under a millisecond: more runs, steadier medians
    index.select(block_p, alert_mask, NOW)
    block_ms, block_keys = timed(lambda: index.select(block_p, alert_mask, NOW), many)
    street_ms, street_keys = timed(lambda: index.select(street_p, alert_mask, NOW), many)
    block_raw_ms, _ = timed(lambda: index.select(block, alert_mask, NOW), many)
    street_raw_ms, _ = timed(lambda: index.select(street, alert_mask, NOW), many)

    # moving devices keeps the index current: the cost per move, then a select before
    # the moves are merged into it
    moves = min(20_000, args.points)
    movers = rng.choice(args.points, size=moves, replace=False)
    step = rng.normal(0.0, 0.002, (moves, 2))
    new_lats = np.clip(lats[movers] + step[:, 0], -90.0, 90.0)
    new_lons = np.clip(lons[movers] + step[:, 1], -180.0, 180.0)
    moved = list(
        zip(
            keys[movers].tolist(),
            new_lats.tolist(),
            new_lons.tolist(),
            masks[movers].tolist(),
            expires[movers].tolist(),
            strict=True,
        )
    )
    start = time.perf_counter()
    for key, la, lo, ma, ex in moved:
        index.upsert(key, la, lo, ma, ex)
    upsert_us = (time.perf_counter() - start) * 1e6 / moves
    lats[movers], lons[movers] = new_lats, new_lons
    after_ms, after_keys = timed(lambda: index.select(block_p, alert_mask, NOW), many)

    eligible = ((masks & np.uint64(alert_mask)) != 0) & (expires > NOW)
    want_poly = set(keys[eligible & exact_polygon(polygon, lats_before, lons_before)].tolist())
    want_circle = set(keys[eligible & exact_circle(circle, lats_before, lons_before)].tolist())
    got_poly = set(np.asarray(poly_keys).tolist())
    got_circle = set(np.asarray(circle_keys).tolist())
    mismatches = len(want_poly ^ got_poly) + len(want_circle ^ got_circle)
    duplicates = (len(np.asarray(poly_keys)) - len(got_poly)) + (
        len(np.asarray(circle_keys)) - len(got_circle)
    )
    # the street-sized selections: the block and circle before the moves (positions
    # as they were then), the block after them
    street_checks = []
    for area, got, la, lo in (
        (block, block_keys, lats_before, lons_before),
        (street, street_keys, lats_before, lons_before),
        (block, after_keys, lats, lons),
    ):
        inside = (
            exact_polygon(area, la, lo)
            if isinstance(area, messages.Polygon)
            else exact_circle(area, la, lo)
        )
        want = set(keys[eligible & inside].tolist())
        got_keys = np.asarray(got).tolist()
        street_checks.append(len(set(got_keys)))
        mismatches += len(want ^ set(got_keys)) + len(got_keys) - len(set(got_keys))

    # naive: per-point shapely loop with the same filters, sampled and extrapolated
    # (a random sample: the generated rows are grouped by cluster)
    sample = min(args.naive_sample, args.points)
    picks = rng.choice(args.points, size=sample, replace=False).tolist()
    ring = list(polygon.coordinates) + [polygon.coordinates[0]]
    geom = shapely.Polygon(ring)
    start = time.perf_counter()
    naive_hits = []
    for i in picks:
        inside = geom.contains(Point(float(lons_before[i]), float(lats_before[i])))
        if inside and int(masks[i]) & alert_mask and expires[i] > NOW:
            naive_hits.append(int(keys[i]))
    naive_ms = (time.perf_counter() - start) * 1000.0 * args.points / sample
    picked_keys = set(keys[picks].tolist())
    naive_disagreements = len(set(naive_hits) ^ (got_poly & picked_keys))

    print(
        json.dumps(
            {
                "points": args.points,
                "polygon_ms": round(polygon_ms, 3),
                "circle_ms": round(circle_ms, 3),
                "polygon_coarse_count_ms": round(preview_ms, 3),
                "polygon_reach_ms": round(reach_ms, 3),
                "polygon_reach_extra": len(np.asarray(reach_keys)) - len(np.asarray(poly_keys)),
                "block_ms": round(block_ms, 4),
                "street_circle_ms": round(street_ms, 4),
                "block_unprepared_ms": round(block_raw_ms, 4),
                "street_circle_unprepared_ms": round(street_raw_ms, 4),
                "prepared": prepare is not None,
                "upsert_us": round(upsert_us, 2),
                "block_after_upserts_ms": round(after_ms, 4),
                "block_selected": street_checks[0],
                "street_circle_selected": street_checks[1],
                "mismatches": mismatches + duplicates,
                "naive_ms": round(naive_ms, 1),
                "naive_extrapolated_from": sample,
                "naive_sample_disagreements": naive_disagreements,
                "polygon_selected": len(got_poly),
                "circle_selected": len(got_circle),
                "polygon_vertices": len(polygon.coordinates),
                "circle_radius_m": circle.radius_m,
                "runs": args.runs,
                "bulk_load_ms": round(load_ms, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
