"""Small MBTiles packs made in a test: a few real PNG tiles (Pillow), rows stored the TMS
way (row 0 south), so a reader that forgets the flip finds nothing where it should."""

from __future__ import annotations

import io
import math
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

from PIL import Image


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
