"""The pin map's Leaflet files are read from folium-offline's source text, not imported:
the same bytes as the import gives, without the ~24 MB the import holds in the relay."""

from __future__ import annotations

import subprocess
import sys

from relay import portal


def test_the_source_reading_gives_what_the_import_gives() -> None:
    read = portal._leaflet_from_source()
    imported = portal._leaflet_by_import()
    assert read is not None and imported is not None
    assert set(read) == {name for name, _ in portal.VENDOR.values()}
    assert read == imported
    assert "L.version" in read["leaflet"] or "Leaflet" in read["leaflet"]


def test_loading_the_portal_imports_neither_folium_nor_folium_offline() -> None:
    code = (
        "import sys; from relay import portal; files = portal._vendor_files(); "
        "assert set(files) == set(portal.VENDOR), files; "
        "print(sorted(m for m in sys.modules if 'folium' in m or m == 'branca'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_a_resource_the_source_does_not_hold_is_none() -> None:
    source = "_res['https://a.example/x.js'] = '''one\\ntwo'''\n"
    assert portal._offline_resource(source, "https://a.example/x.js") == "one\ntwo"
    assert portal._offline_resource(source, "https://a.example/y.js") is None
    assert portal._offline_resource(source, "") is None
    assert (
        portal._offline_resource("_res['https://a.example/x.js'] = 3\n", "https://a.example/x.js")
        is None
    )
