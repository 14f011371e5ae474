"""The pin map's files over the relay's real TLS port: base map tiles from an MBTiles pack
(`--portal-tiles`) at /tiles/Z/X/Y with the pack's type, 404 for a tile the pack lacks,
400 for anything under /tiles/ that is not a plain address, nothing at all without a pack;
Leaflet at /vendor/ from folium-offline, cached for a year; /portal-config.json's map. Every
answer carries the strict headers. Requests are written by hand (test_portal_http.ask), so
nothing normalises a hostile path before the relay sees it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay import cli
from tests.conftest import RunningRelay, start_relay
from tests.integration.test_portal_http import NOT_FOUND, ask, assert_strict
from tests.support.tilepacks import make_pack, png, xyz_of

PRESTON = (53.7590, -2.6990)
WHERE = xyz_of(*PRESTON, 14)
BLUE = png((40, 80, 160))


@pytest.fixture
async def tiled(tmp_path: Path) -> AsyncIterator[RunningRelay]:
    z, x, y = WHERE
    pack = make_pack(
        tmp_path / "preston.mbtiles",
        {WHERE: BLUE, (z, x + 1, y): png((10, 10, 10))},
        {
            "format": "png",
            "bounds": "-2.8,53.7,-2.6,53.8",
            "minzoom": "12",
            "maxzoom": "16",
            "attribution": "<b>Test</b> tiles",
        },
    )
    r = await start_relay(tmp_path / "relay", portal_tiles=pack)
    try:
        yield r
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]


async def test_a_tile_is_served_with_its_type(tiled: RunningRelay) -> None:
    z, x, y = WHERE
    a = await ask(tiled, "GET", f"/tiles/{z}/{x}/{y}?v=anything")
    assert a.status == 200, a.body
    assert a.header("Content-Type") == "image/png"
    assert a.body == BLUE
    assert "max-age" in a.header("Cache-Control")
    assert_strict(a, tiled)
    head = await ask(tiled, "HEAD", f"/tiles/{z}/{x}/{y}")
    assert head.status == 200 and head.body == b""
    assert head.header("Content-Length") == str(len(BLUE))


async def test_a_tile_the_pack_lacks_is_404(tiled: RunningRelay) -> None:
    z, x, y = WHERE
    for path in (f"/tiles/{z}/{x}/{y + 1}", f"/tiles/{z}/{x}/{(1 << z) - 1 - y}", "/tiles/0/0/0"):
        a = await ask(tiled, "GET", path)
        assert a.status == 404, path
        assert a.body == b"no such tile in this pack\n"
        assert a.header("Cache-Control") == "no-store"
        assert_strict(a, tiled)


@pytest.mark.parametrize(
    "path",
    [
        "/tiles/",
        "/tiles/14/8000",
        "/tiles/14/8000/5000/1",
        "/tiles/14/8000/5000.png",
        "/tiles/../portal-config.json",
        "/tiles/14/../../index.html",
        "/tiles/%2e%2e/%2e%2e/app.css",
        "/tiles/14/%38000/5000",
        "/tiles/14/-1/5000",
        "/tiles/14/+8000/5000",
        "/tiles/014/8000/5000",
        "/tiles/14/16384/0",  # x outside zoom 14's grid
        "/tiles/99/0/0",
        "/tiles/1e1/0/0",
        "/tiles//14/8000/5000",
        "/tiles/14\\8000\\5000",
    ],
)
async def test_anything_else_under_tiles_is_refused(tiled: RunningRelay, path: str) -> None:
    a = await ask(tiled, "GET", path)
    assert a.status == 400, (path, a.status, a.body)
    assert a.body == b"a tile address is /tiles/Z/X/Y\n"
    assert_strict(a, tiled)


async def test_only_get_and_head(tiled: RunningRelay) -> None:
    z, x, y = WHERE
    a = await ask(tiled, "DELETE", f"/tiles/{z}/{x}/{y}")
    assert a.status == 405 and a.header("Allow") == "GET, HEAD"


async def test_the_config_names_the_tiles_and_where_the_map_opens(tiled: RunningRelay) -> None:
    config = json.loads((await ask(tiled, "GET", "/portal-config.json")).body)
    tiles = config["map"]["tiles"]
    assert tiles["url"].startswith("/tiles/{z}/{x}/{y}?v=")
    assert tiles["bounds"] == [-2.8, 53.7, -2.6, 53.8]
    assert (tiles["minzoom"], tiles["maxzoom"]) == (12, 16)
    assert tiles["attribution"] == "<b>Test</b> tiles"  # the page shows it as text
    assert config["map"]["centre"] == [pytest.approx(53.75), pytest.approx(-2.7)]
    assert config["map"]["zoom"] == 14


async def test_leaflet_is_served_from_folium_offline_and_kept_a_year(tiled: RunningRelay) -> None:
    config = json.loads((await ask(tiled, "GET", "/portal-config.json")).body)
    leaflet = config["map"]["leaflet"]
    js = await ask(tiled, "GET", leaflet["js"])
    assert js.status == 200 and js.header("Content-Type") == "text/javascript; charset=utf-8"
    assert b"Leaflet 1.9.3" in js.body[:200]
    assert js.header("Cache-Control") == "public, max-age=31536000, immutable"
    assert_strict(js, tiled)
    css = await ask(tiled, "GET", leaflet["css"])
    assert css.status == 200 and css.header("Content-Type") == "text/css; charset=utf-8"
    assert b".leaflet-container" in css.body
    # named by content: the ?v= is the start of the file's ETag
    assert leaflet["js"].split("?v=")[1] in js.header("ETag")
    again = await ask(tiled, "GET", "/vendor/leaflet.js", f"If-None-Match: {js.header('ETag')}")
    assert again.status == 304


async def test_with_no_pack_no_tile_is_served(tmp_path: Path) -> None:
    r = await start_relay(tmp_path / "relay")
    try:
        for path in ("/tiles/0/0/0", "/tiles/14/8000/5000", "/tiles/../index.html"):
            a = await ask(r, "GET", path)
            assert a.status == 404 and a.body.decode() == NOT_FOUND, path
            assert_strict(a, r)
        config = json.loads((await ask(r, "GET", "/portal-config.json")).body)
        assert config["map"]["tiles"] is None
        assert config["map"]["centre"] == [53.759, -2.699]
        assert config["map"]["leaflet"]["js"].startswith("/vendor/leaflet.js?v=")
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]


async def test_with_the_portal_off_neither_tiles_nor_leaflet(tmp_path: Path) -> None:
    pack = make_pack(tmp_path / "p.mbtiles", {(0, 0, 0): BLUE})
    r = await start_relay(tmp_path / "relay", portal_enabled=False, portal_tiles=pack)
    try:
        for path in ("/tiles/0/0/0", "/vendor/leaflet.js"):
            assert (await ask(r, "GET", path)).status == 404, path
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]


def test_serve_refuses_a_pack_it_cannot_use_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.mbtiles").write_text("not a database", encoding="utf-8")
    code = cli.main(
        [
            "serve",
            "--data-dir",
            str(tmp_path / "d"),
            "--portal-tiles",
            str(tmp_path / "bad.mbtiles"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("--portal-tiles: bad.mbtiles is not an MBTiles tile pack"), err
    assert "\n" not in err
    assert cli.serve_settings(
        cli.build_parser().parse_args(["serve", "--portal-tiles", "x.mbtiles"])
    )["portal_tiles"] == Path("x.mbtiles")
