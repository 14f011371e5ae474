"""MBTiles tile packs, read-only: the pack's metadata, and one tile by its XYZ address.

The console's map (console/map/tiles.py, through a Qt URL scheme) and the relay's portal
(relay/tiles.py, over HTTPS) both show base maps from the same kind of file, so the file
is read in this one place. Standard library only (sqlite3), no Qt and no I/O beyond the
pack itself. MBTiles 1.3 (github.com/mapbox/mbtiles-spec): a SQLite database with a
`metadata` table of (name, value) and a `tiles` table (or view) of (zoom_level,
tile_column, tile_row, tile_data), whose rows count from the south edge (TMS), so an XYZ
address's y is flipped before the lookup.

Addresses are parsed strictly (`parse_tile_path`): three decimal numbers without signs,
spaces or leading zeros, inside the zoom level's grid; anything else is no address at all.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

#: the tile formats a browser can show, by the pack's `format` metadata
MIME = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
#: the deepest zoom level addressed (a tile of about 2 m at the equator)
MAX_ZOOM = 24
#: Web Mercator's latitude limit: the square world of zoom 0
MAX_LAT = 85.0511287798

_NUMBER = r"(0|[1-9][0-9]{0,7})"
_TILE_PATH = re.compile(rf"/{_NUMBER}/{_NUMBER}/{_NUMBER}")


class PackError(ValueError):
    """A file that cannot be used as a tile pack; the message says why, in the user's words."""


def parse_tile_path(path: str) -> tuple[int, int, int] | None:
    """`/{z}/{x}/{y}` -> (z, x, y), or None for anything else (a sign, a space, a leading
    zero, an extension, `..`, a query, a number outside the zoom level's grid)."""
    match = _TILE_PATH.fullmatch(path)
    if match is None:
        return None
    z, x, y = (int(g) for g in match.groups())
    if z > MAX_ZOOM or x >= 1 << z or y >= 1 << z:
        return None
    return z, x, y


@dataclass(frozen=True)
class PackInfo:
    """What a pack says about itself (its metadata), checked: a value that does not make
    sense (bounds outside the world, a zoom past MAX_ZOOM) is left out, never guessed."""

    format: str
    name: str = ""
    attribution: str = ""
    #: west, south, east, north in degrees
    bounds: tuple[float, float, float, float] | None = None
    #: longitude, latitude, zoom
    center: tuple[float, float, int] | None = None
    minzoom: int | None = None
    maxzoom: int | None = None

    @property
    def mime(self) -> str:
        return MIME.get(self.format, "application/octet-stream")

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> PackInfo:
        def zoom(key: str) -> int | None:
            text = meta.get(key, "").strip()
            return int(text) if text.isdigit() and int(text) <= MAX_ZOOM else None

        minzoom, maxzoom = zoom("minzoom"), zoom("maxzoom")
        if minzoom is not None and maxzoom is not None and minzoom > maxzoom:
            minzoom = maxzoom = None
        bounds = None
        b = _numbers(meta.get("bounds", ""), 4)
        if b is not None:
            west, south, east, north = b
            if -180 <= west < east <= 180 and -MAX_LAT <= south < north <= MAX_LAT:
                bounds = (west, south, east, north)
        center = None
        c = _numbers(meta.get("center", ""), 3)
        if c is not None and abs(c[0]) <= 180 and abs(c[1]) <= MAX_LAT and 0 <= c[2] <= MAX_ZOOM:
            center = (c[0], c[1], int(c[2]))
        return cls(
            format=(meta.get("format") or "png").strip().lower(),
            name=meta.get("name", "")[:200],
            attribution=meta.get("attribution", "")[:500],
            bounds=bounds,
            center=center,
            minzoom=minzoom,
            maxzoom=maxzoom,
        )


def _numbers(text: str, count: int) -> list[float] | None:
    parts = text.split(",")
    if len(parts) != count:
        return None
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return None
    return values if all(math.isfinite(v) for v in values) else None


def _connect(path: Path) -> sqlite3.Connection:
    # a file: URI, percent-encoded, so a path holding '?' or '#' is still just a path
    uri = path.expanduser().resolve().as_uri() + "?mode=ro"
    return sqlite3.connect(uri, uri=True, check_same_thread=False)


def read_format(path: Path) -> str:
    """The pack's tile format (`png` when it does not say), or `unreadable: ...`."""
    try:
        db = _connect(path)
        try:
            row = db.execute("SELECT value FROM metadata WHERE name = 'format'").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        return f"unreadable: {exc}"
    return str(row[0]).strip().lower() if row and row[0] else "png"


class TilePack:
    """One open pack. Safe to share between threads (one lock around the connection)."""

    def __init__(self, path: Path) -> None:
        """Raises PackError when the file is not an MBTiles pack of image tiles."""
        self.path = path
        self._lock = threading.Lock()
        if not path.is_file():
            raise PackError(f"The tile pack {path} was not found.")
        try:
            self._db = _connect(path)
        except sqlite3.Error as exc:
            raise PackError(f"The tile pack {path.name} cannot be opened: {exc}.") from exc
        try:
            rows = self._db.execute("SELECT name, value FROM metadata").fetchall()
            self._db.execute(
                "SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles LIMIT 0"
            )
        except sqlite3.Error as exc:
            self._db.close()
            raise PackError(
                f"{path.name} is not an MBTiles tile pack (a SQLite file with metadata and "
                f"tiles tables): {exc}."
            ) from exc
        self.info = PackInfo.from_metadata({str(k): str(v) for k, v in rows if k is not None})
        if self.info.format not in MIME:
            self._db.close()
            raise PackError(
                f"The tile pack {path.name} holds '{self.info.format}' tiles; only PNG, JPEG "
                "or WebP image tiles can be shown."
            )

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile at XYZ (z, x, y), or None. MBTiles rows are TMS: row 0 is the south
        edge, so XYZ's y is flipped."""
        if not (0 <= z <= MAX_ZOOM and 0 <= x < 1 << z and 0 <= y < 1 << z):
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                (z, x, (1 << z) - 1 - y),
            ).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def close(self) -> None:
        with self._lock:
            self._db.close()
