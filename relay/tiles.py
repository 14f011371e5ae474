"""The portal's base map: `/tiles/{z}/{x}/{y}` from one MBTiles pack on the relay's disk
(`lookout-relay serve --portal-tiles PACK.mbtiles`; docs/portal.md), so the citizens' pin
map shows streets without any request to a third-party tile server.

The pack is read by backend_client/mbtiles.py (the console's map reads packs with it too),
read-only, off the event loop (a cold read of a large pack waits on the disk). A path is
parsed strictly before any lookup: `/tiles/` then three plain decimal numbers inside the
zoom level's grid, nothing else (no extension, sign, leading zero, `..` or encoded byte);
anything else under `/tiles/` is `400`, a well-formed address the pack lacks is `404`.
With no pack configured this module is not used and `/tiles/...` is the relay's usual 404.
"""

from __future__ import annotations

import asyncio
import hashlib
import http
import logging
from pathlib import Path
from typing import Any

from websockets.http11 import Request, Response

from backend_client.mbtiles import PackError, PackInfo, TilePack, parse_tile_path
from relay.portal import _response

log = logging.getLogger(__name__)

PREFIX = "/tiles"
METHODS = ("GET", "HEAD")
#: tiles change only when the operator swaps the pack (a restart); the page's tile URL
#: carries the pack's identity (`?v=`), so a new pack is fetched anew at once
CACHE = "public, max-age=86400"

__all__ = ["PREFIX", "PackError", "PortalTiles"]


class PortalTiles:
    """One pack, served. Build with `PortalTiles.open(path)` (raises PackError)."""

    def __init__(self, pack: TilePack) -> None:
        self._pack = pack
        st = pack.path.stat()
        ident = f"{pack.path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()
        self.version = hashlib.sha256(ident).hexdigest()[:16]

    @classmethod
    def open(cls, path: Path) -> PortalTiles:
        pack = TilePack(path)
        log.info("portal: base map tiles from %s (%s)", path.name, pack.info.format)
        return cls(pack)

    @property
    def info(self) -> PackInfo:
        return self._pack.info

    def page_config(self) -> dict[str, Any]:
        """What /portal-config.json tells the page about the base map."""
        info = self._pack.info
        return {
            "url": f"{PREFIX}/{{z}}/{{x}}/{{y}}?v={self.version}",
            "bounds": list(info.bounds) if info.bounds else None,
            "center": list(info.center) if info.center else None,
            "minzoom": info.minzoom,
            "maxzoom": info.maxzoom,
            "attribution": info.attribution,
        }

    async def respond(self, request: Request) -> Response | None:
        """The answer for a `/tiles/...` path, None for any other path."""
        path = request.path.split("?", 1)[0]
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            return None
        if request.method not in METHODS:
            response = _response(http.HTTPStatus.METHOD_NOT_ALLOWED, b"use GET or HEAD\n")
            response.headers["Allow"] = ", ".join(METHODS)
            return response
        where = parse_tile_path(path.removeprefix(PREFIX))
        if where is None:
            return _response(http.HTTPStatus.BAD_REQUEST, b"a tile address is /tiles/Z/X/Y\n")
        data = await asyncio.to_thread(self._pack.tile, *where)
        if data is None:
            return _response(http.HTTPStatus.NOT_FOUND, b"no such tile in this pack\n")
        response = _response(http.HTTPStatus.OK, data, self._pack.info.mime)
        response.headers["Cache-Control"] = CACHE
        if request.method == "HEAD":
            response.body = b""
        return response

    def close(self) -> None:
        self._pack.close()
