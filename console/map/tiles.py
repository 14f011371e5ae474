"""Where map tiles come from: nowhere (a neutral background), an XYZ server, or MBTiles.

The default makes no network request at all. An XYZ template names the one host the
page may reach. An MBTiles pack is read from SQLite through the `lookout-tiles:` URL
scheme, so a laptop with no network still gets a real base map.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from PySide6.QtCore import QBuffer, QByteArray, QCoreApplication, QIODevice, QObject
from PySide6.QtWebEngineCore import (
    QWebEngineUrlRequestJob,
    QWebEngineUrlScheme,
    QWebEngineUrlSchemeHandler,
)

from backend_client.mbtiles import MIME, PackError, TilePack, parse_tile_path, read_format

SCHEME = b"lookout-tiles"


def register_scheme() -> None:
    """Declare `lookout-tiles:` to Chromium; only possible before the QApplication exists.

    Called when this module is imported early (tests, bench). If the application already
    exists the handler still works (the page allows local content to load it), Qt just
    logs a warning.
    """
    if QCoreApplication.instance() is not None or QWebEngineUrlScheme.schemeByName(SCHEME).name():
        return
    scheme = QWebEngineUrlScheme(SCHEME)
    scheme.setSyntax(QWebEngineUrlScheme.Syntax.Host)
    scheme.setFlags(
        QWebEngineUrlScheme.Flag.LocalScheme
        | QWebEngineUrlScheme.Flag.SecureScheme
        | QWebEngineUrlScheme.Flag.CorsEnabled
    )
    QWebEngineUrlScheme.registerScheme(scheme)


@dataclass(frozen=True)
class TileSource:
    kind: str  # "none" | "xyz" | "mbtiles"
    url: str = ""  # the Leaflet URL template given to the page
    host: str = ""  # a regex for the one remote host allowed (xyz only)
    path: Path | None = None  # the MBTiles file
    problem: str = ""  # why a configured source was not used

    def page_spec(self) -> dict[str, str]:
        return {"kind": self.kind, "url": self.url}


NEUTRAL = TileSource("none")


def parse_tile_source(value: str) -> TileSource:
    """Settings text -> a source. Anything unusable falls back to the neutral background."""
    value = value.strip()
    if not value:
        return NEUTRAL
    if value.lower().startswith(("http://", "https://")):
        parts = urlsplit(value)
        if not parts.hostname or not all(k in value for k in ("{z}", "{x}", "{y}")):
            return TileSource(
                "none",
                problem="A tile address needs a host and {z}, {x} and {y}, e.g. "
                "https://tiles.example.org/{z}/{x}/{y}.png",
            )
        host = re.escape(parts.hostname.lower()).replace(re.escape("{s}"), "[a-z0-9-]+")
        return TileSource("xyz", url=value, host=f"^{host}$")
    path = Path(value.removeprefix("file://")).expanduser()
    if path.suffix.lower() == ".mbtiles":
        if not path.is_file():
            return TileSource("none", problem=f"The tile pack {path} was not found.")
        fmt = read_format(path)
        if fmt not in MIME:
            return TileSource(
                "none",
                problem=f"The tile pack {path.name} holds '{fmt}' tiles; only PNG, JPEG or "
                "WebP image tiles can be shown.",
            )
        return TileSource("mbtiles", url=f"{SCHEME.decode()}://pack/{{z}}/{{x}}/{{y}}", path=path)
    return TileSource("none", problem=f"'{value}' is neither a tile address nor an .mbtiles file.")


class MBTilesHandler(QWebEngineUrlSchemeHandler):
    """Serves `lookout-tiles://pack/{z}/{x}/{y}` from the current MBTiles file (read by
    backend_client/mbtiles.py, which the relay's portal uses too)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pack: TilePack | None = None

    def open(self, path: Path | None) -> None:
        with self._lock:
            if self._pack is not None:
                self._pack.close()
            self._pack = None
            if path is not None:
                try:
                    self._pack = TilePack(path)
                except PackError:
                    self._pack = None  # parse_tile_source already said why

    def close(self) -> None:
        self.open(None)

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        with self._lock:
            return None if self._pack is None else self._pack.tile(z, x, y)

    def requestStarted(self, job: QWebEngineUrlRequestJob) -> None:  # noqa: N802 - Qt naming
        where = parse_tile_path(job.requestUrl().path())
        if where is None:
            job.fail(QWebEngineUrlRequestJob.Error.UrlInvalid)
            return
        with self._lock:
            pack = self._pack
            data = None if pack is None else pack.tile(*where)
            mime = "image/png" if pack is None else pack.info.mime
        if data is None:
            job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)
            return
        buf = QBuffer(parent=job)
        buf.setData(QByteArray(data))
        buf.open(QIODevice.OpenModeFlag.ReadOnly)
        job.reply(mime.encode(), buf)


register_scheme()
