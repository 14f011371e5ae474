"""Small MBTiles packs made in a test: a few real PNG tiles (Pillow), rows stored the TMS
way (row 0 south), so a reader that forgets the flip finds nothing where it should."""

from __future__ import annotations

import io
import math
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

from PIL import Image, ImageDraw


def png(colour: tuple[int, int, int], size: int = 256) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, "PNG")
    return buf.getvalue()


def xyz_of(lat: float, lon: float, z: int) -> tuple[int, int, int]:
    """The XYZ (slippy map) tile holding a point."""
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def make_pack(
    path: Path,
    tiles: Mapping[tuple[int, int, int], bytes],
    metadata: Mapping[str, str] | Iterable[tuple[str, str]] = (("format", "png"),),
) -> Path:
    """Write an MBTiles file holding `tiles` (XYZ address -> bytes)."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        db.execute(
            "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, "
            "tile_data BLOB)"
        )
        items = metadata.items() if isinstance(metadata, Mapping) else metadata
        db.executemany("INSERT INTO metadata VALUES (?, ?)", list(items))
        db.executemany(
            "INSERT INTO tiles VALUES (?, ?, ?, ?)",
            [(z, x, (1 << z) - 1 - y, data) for (z, x, y), data in tiles.items()],
        )
    return path


def street_tile(z: int, x: int, y: int) -> bytes:
    """A PNG of made-up streets, drawn in world pixels so neighbouring tiles join up."""
    image = Image.new("RGB", (256, 256), (239, 233, 220))
    draw = ImageDraw.Draw(image)
    ox, oy = x * 256, y * 256
    block = 112
    for i in range(-block, 256 + block):
        wx, wy = ox + i, oy + i
        if wx % block == 0:
            draw.rectangle([i - 7, 0, i + 7, 255], fill=(255, 255, 255), outline=(190, 184, 170))
        if wy % block == 0:
            draw.rectangle([0, i - 7, 255, i + 7], fill=(255, 255, 255), outline=(190, 184, 170))
    for bx in range(ox - ox % block, ox + 256, block):  # a park in one block in five
        for by in range(oy - oy % block, oy + 256, block):
            if (bx // block * 7 + by // block * 3) % 5 == 0:
                draw.rectangle(
                    [bx - ox + 12, by - oy + 12, bx - ox + block - 12, by - oy + block - 12],
                    fill=(200, 225, 190),
                )
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def tile_corner(z: int, x: int, y: int) -> tuple[float, float]:
    """(lat, lon) of a tile's north-west corner."""
    n = 1 << z
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n)))), x / n * 360 - 180


def street_pack(
    path: Path,
    centre: tuple[float, float],
    zoom: int,
    side: int,
    *,
    name: str,
    attribution: str,
) -> tuple[Path, set[str]]:
    """A pack of side x side made-up street tiles at `zoom` around `centre` (lat, lon), its
    bounds just inside them; and the relay paths of its tiles."""
    z, cx, cy = xyz_of(*centre, zoom)
    xs = range(cx - 1, cx - 1 + side)
    ys = range(cy - 1, cy - 1 + side)
    tiles = {(z, x, y): street_tile(z, x, y) for x in xs for y in ys}
    north, west = tile_corner(z, xs[0], ys[0])
    south, east = tile_corner(z, xs[-1] + 1, ys[-1] + 1)
    e = 1e-6  # just inside: the page never asks for a tile the pack does not hold
    make_pack(
        path,
        tiles,
        {
            "name": name,
            "format": "png",
            "bounds": f"{west + e},{south + e},{east - e},{north - e}",
            "minzoom": str(z),
            "maxzoom": str(z),
            "attribution": attribution,
        },
    )
    return path, {f"/tiles/{z}/{x}/{y}" for x, y in ((x, y) for x in xs for y in ys)}
