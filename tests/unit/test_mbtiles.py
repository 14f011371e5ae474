"""backend_client/mbtiles.py, the one MBTiles reader the console's map and the relay's
portal share: the TMS row flip, strict addresses, checked metadata, and clear refusals of
files that are not image tile packs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from backend_client.mbtiles import (
    MAX_ZOOM,
    PackError,
    PackInfo,
    TilePack,
    parse_tile_path,
    read_format,
)
from tests.support.tilepacks import make_pack, png, xyz_of

PRESTON = (53.7590, -2.6990)


def test_a_tile_is_found_by_its_xyz_address_with_the_row_flipped(tmp_path: Path) -> None:
    z, x, y = xyz_of(*PRESTON, 14)
    blue, red = png((40, 80, 160)), png((200, 30, 30))
    pack = TilePack(make_pack(tmp_path / "p.mbtiles", {(z, x, y): blue, (z, x, y + 1): red}))
    try:
        assert pack.tile(z, x, y) == blue
        assert pack.tile(z, x, y + 1) == red
        # the TMS row number as if it were XYZ: a reader without the flip would find blue here
        assert pack.tile(z, x, (1 << z) - 1 - y) is None
        assert pack.tile(z, x + 1, y) is None
        for bad in ((-1, 0, 0), (z, 1 << z, y), (z, x, 1 << z), (MAX_ZOOM + 1, 0, 0)):
            assert pack.tile(*bad) is None, bad
        assert pack.info.format == "png" and pack.info.mime == "image/png"
    finally:
        pack.close()


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("/0/0/0", (0, 0, 0)),
        ("/14/8069/5377", (14, 8069, 5377)),
        ("/1/1/1", (1, 1, 1)),
    ],
)
def test_well_formed_addresses_parse(path: str, want: tuple[int, int, int]) -> None:
    assert parse_tile_path(path) == want


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "/1/2",
        "/1/2/3/4",
        "/1/1/2",  # y outside zoom 1's 2x2 grid
        "/1/2/1",
        "/25/0/0",  # past MAX_ZOOM
        "/01/0/0",  # a leading zero
        "/1/+1/0",
        "/1/-1/0",
        "/1/ 1/0",
        "/1/1/1.png",
        "/1/1/1/",
        "//1/1/1",
        "/1/../1/1",
        "/1/%31/1",
        "/1/1e0/1",
        "/1/0x1/1",
        "/1/١/1",  # an Arabic-Indic digit: str.isdigit says yes, the grammar says no
        "/999999999/0/0",
        "/1/1/1?x",
        "/1/1/1\x00",
    ],
)
def test_anything_else_is_no_address(path: str) -> None:
    assert parse_tile_path(path) is None


def test_metadata_is_read_and_checked() -> None:
    good = PackInfo.from_metadata(
        {
            "format": "JPG",
            "name": "Preston",
            "bounds": "-2.8,53.7,-2.6,53.8",
            "center": "-2.699,53.759,14",
            "minzoom": "10",
            "maxzoom": "16",
            "attribution": "© OpenStreetMap contributors",
        }
    )
    assert good.format == "jpg" and good.mime == "image/jpeg"
    assert good.bounds == (-2.8, 53.7, -2.6, 53.8)
    assert good.center == (-2.699, 53.759, 14)
    assert (good.minzoom, good.maxzoom) == (10, 16)
    bad = PackInfo.from_metadata(
        {
            "bounds": "-2.6,53.7,-2.8,53.8",  # west east of east
            "center": "nan,53,14",
            "minzoom": "12",
            "maxzoom": "3",  # below minzoom: neither is believed
        }
    )
    assert bad.format == "png"  # MBTiles 1.0 packs may not say; PNG is what they held
    assert (bad.bounds, bad.center, bad.minzoom, bad.maxzoom) == (None, None, None, None)
    assert PackInfo.from_metadata({"bounds": "-200,0,0,10", "maxzoom": "99"}).bounds is None
    assert PackInfo.from_metadata({"maxzoom": "99"}).maxzoom is None


def test_files_that_are_not_image_packs_are_refused_saying_why(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="not found"):
        TilePack(tmp_path / "absent.mbtiles")
    (tmp_path / "text.mbtiles").write_text("not sqlite", encoding="utf-8")
    with pytest.raises(PackError, match="not an MBTiles"):
        TilePack(tmp_path / "text.mbtiles")
    with sqlite3.connect(tmp_path / "other.mbtiles") as db:
        db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    with pytest.raises(PackError, match="not an MBTiles"):
        TilePack(tmp_path / "other.mbtiles")
    vector = make_pack(tmp_path / "vector.mbtiles", {}, {"format": "pbf"})
    with pytest.raises(PackError, match="'pbf' tiles"):
        TilePack(vector)
    assert read_format(vector) == "pbf"
    assert read_format(tmp_path / "text.mbtiles").startswith("unreadable")


def test_the_pack_is_opened_read_only_even_with_an_awkward_name(tmp_path: Path) -> None:
    folder = tmp_path / "a ?#% folder"
    folder.mkdir()
    path = make_pack(folder / "p.mbtiles", {(0, 0, 0): png((1, 2, 3))})
    before = path.read_bytes()
    pack = TilePack(path)
    try:
        assert pack.tile(0, 0, 0) == png((1, 2, 3))
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            pack._db.execute("DELETE FROM tiles")
    finally:
        pack.close()
    assert path.read_bytes() == before
