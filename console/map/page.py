"""Builds the map page once, with folium, into a folder that needs no network.

folium writes a Leaflet page whose scripts and styles point at public CDNs. Every such
address is swapped for a file beside the page, written from the copy that the
`folium-offline` package ships for that same address (it embeds each one by URL), so
the page loads the same Leaflet, Leaflet.draw, Leaflet.markercluster and leaflet.heat
that folium would, from disk. An address with no local copy stops the build: the page
never silently falls back to the network. Our own script, resources/map/lookout-map.js,
is copied beside it. The page is loaded from the file (never `setHtml`, which caps
content at 2 MB) and, after that, only ever changed through the bridge.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import folium
import folium.plugins
from branca.element import CssLink, Figure, JavascriptLink, MacroElement
from jinja2 import Template

from backend_client.rules import CATEGORY_LABELS
from console import theme

PRESTON = (53.7590, -2.6990)
ZOOM = 14
RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "map"
SCRIPT = "lookout-map.js"
QWEBCHANNEL_JS = "qrc:///qtwebchannel/qwebchannel.js"


class AssetMissing(RuntimeError):
    """A CDN address folium uses has no local copy; installing folium-offline fixes it."""


def _libraries() -> list[tuple[str, str]]:
    """(name, CDN url) of every script and style the page needs, as folium names them."""
    leaflet_js = [p for p in folium.Map.default_js if p[0] == "leaflet"]
    leaflet_css = [p for p in folium.Map.default_css if p[0] == "leaflet_css"]
    out = leaflet_js + leaflet_css
    for plugin in (folium.plugins.MarkerCluster, folium.plugins.Draw, folium.plugins.HeatMap):
        out += list(plugin.default_js) + list(plugin.default_css)
    return out


def _offline_copy(url: str) -> str:
    try:
        from offlinefolium import elements as offline
    except ImportError as exc:  # pragma: no cover - a broken install
        raise AssetMissing(
            "The map's offline Leaflet files are missing: install the 'folium-offline' package."
        ) from exc
    content = offline._res.get(url)
    if content is None:
        raise AssetMissing(
            f"No offline copy of {url}: folium and folium-offline versions differ; "
            "install matching versions."
        )
    return str(content)


class _Init(MacroElement):
    """Hands the folium map object to our script, right after folium creates it."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "LookoutMap.init({{ this._parent.get_name() }}, {{ this.config }});"
        "{% endmacro %}"
    )

    def __init__(self, config: dict[str, Any]) -> None:
        # branca ships py.typed but leaves MacroElement.__init__ unannotated
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "LookoutInit"
        self.config = json.dumps(config)


def page_config() -> dict[str, Any]:
    c = theme.current()
    return {
        "categoryColours": theme.CATEGORY_COLOURS,
        "categoryLabels": CATEGORY_LABELS,  # the names every screen uses
        "statusColours": theme.STATUS_COLOURS,
        "background": c["base"],
        "grid": c["border"],
        "text": c["text"],
        "muted": c["muted"],
        "panel": c["window"],
        "highlight": c["highlight"],
    }


def render() -> tuple[str, dict[str, str]]:
    """The page's HTML, and its local files: relative name -> the CDN URL they replace."""
    fmap = folium.Map(
        location=list(PRESTON),
        zoom_start=ZOOM,
        tiles=None,
        prefer_canvas=True,
        control_scale=True,
    )
    # Only Leaflet itself: no jQuery, Bootstrap or icon fonts (those fetch fonts by URL).
    fmap.default_js = [p for p in folium.Map.default_js if p[0] == "leaflet"]
    fmap.default_css = [p for p in folium.Map.default_css if p[0] == "leaflet_css"]
    fmap._id = "lookout"  # a stable name, so the same page is the same bytes
    figure = fmap.get_root()
    assert isinstance(figure, Figure)  # a folium.Map always sits in a Figure
    files: dict[str, str] = {}
    swaps: dict[str, str] = {}
    for name, url in _libraries():
        ext = ".css" if url.endswith(".css") else ".js"
        local = "assets/" + re.sub(r"[^A-Za-z0-9_.-]", "_", name).removesuffix(ext) + ext
        files[local] = url
        swaps[url] = local
        # Same names as folium's: Map.render then replaces Leaflet's links in place, so
        # Leaflet stays first and the plugins load after it.
        link = CssLink(url) if ext == ".css" else JavascriptLink(url)
        figure.header.add_child(link, name=name)
    figure.header.add_child(JavascriptLink(QWEBCHANNEL_JS), name="qwebchannel")
    figure.header.add_child(JavascriptLink(SCRIPT), name="lookout_map")
    _Init(page_config()).add_to(fmap)
    html = figure.render()
    for url, local in swaps.items():
        html = html.replace(f'"{url}"', f'"{local}"')
    leaks = re.findall(r'(?:src|href)\s*=\s*"(https?://[^"]+)"', html)
    if leaks:
        raise AssetMissing(f"The map page still points at the network: {leaks}")
    return html, files


def build_page(cache_root: Path | None = None) -> Path:
    """Write the page and its files under `cache_root`; returns the page's path.

    The folder is named by a hash of its content, so it is written once per version and
    several consoles can share it; files are written to a temporary name and renamed.
    """
    html, files = render()
    script = (RESOURCES / SCRIPT).read_text(encoding="utf-8")
    digest = hashlib.sha256(html.encode() + b"\0" + script.encode())
    digest.update(_offline_version().encode())
    root = cache_root or default_cache_root()
    folder = root / f"map-{digest.hexdigest()[:16]}"
    wanted: list[tuple[str, Callable[[], str]]] = [
        ("index.html", lambda: html),
        (SCRIPT, lambda: script),
        *((name, partial(_offline_copy, url)) for name, url in files.items()),
    ]
    for name, content in wanted:
        target = folder / name
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content())
        os.replace(tmp, target)
    return folder / "index.html"


def _offline_version() -> str:
    try:
        return metadata.version("folium-offline")
    except metadata.PackageNotFoundError:
        return "missing"


def default_cache_root() -> Path:
    from PySide6.QtCore import QStandardPaths

    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.CacheLocation)
    if location:
        return Path(location)
    return Path(tempfile.gettempdir()) / f"lookout-{os.getuid() if hasattr(os, 'getuid') else 0}"
