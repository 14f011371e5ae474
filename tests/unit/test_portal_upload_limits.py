"""The portal checks photos and video against the relay's own limits before sending them:
the numbers and types in portal/js/protocol.js must be backend_client's, and the file
pickers must offer exactly those types."""

from __future__ import annotations

import re
from typing import get_args

import pytest

from backend_client import limits
from backend_client import messages as m
from relay.portal import PORTAL_ROOT

PROTOCOL_JS = (PORTAL_ROOT / "js" / "protocol.js").read_text(encoding="utf-8")
HTML = (PORTAL_ROOT / "index.html").read_text(encoding="utf-8")


def js_number(name: str) -> int:
    found = re.search(rf"^export const {name} = (\d+);$", PROTOCOL_JS, re.MULTILINE)
    assert found, name
    return int(found.group(1))


@pytest.mark.parametrize(
    "name", ["MEDIA_CHUNK_BYTES", "MAX_MEDIA_BYTES", "MAX_MEDIA_PER_REPORT", "MAX_IMAGE_PIXELS"]
)
def test_the_portals_media_limits_are_the_relays(name: str) -> None:
    assert js_number(name) == getattr(limits, name)


def test_the_portal_sends_the_media_types_the_relay_takes() -> None:
    found = re.search(r"export const MEDIA_MIMES = \[([^\]]*)\]", PROTOCOL_JS)
    assert found
    mimes = re.findall(r'"([^"]+)"', found.group(1))
    assert mimes == list(get_args(m.MediaMime))
    pickers = re.findall(r'<input type="file"[^>]*\baccept="([^"]+)"', HTML)
    assert len(pickers) == 2  # the camera and the gallery
    for accept in pickers:
        assert accept.split(",") == mimes


def test_the_camera_picker_captures_and_the_gallery_takes_several() -> None:
    camera = re.search(r'<input type="file" id="upload-camera"[^>]*>', HTML)
    gallery = re.search(r'<input type="file" id="upload-gallery"[^>]*>', HTML)
    assert camera and " capture=" in camera.group(0) and " multiple" not in camera.group(0)
    assert gallery and " multiple" in gallery.group(0) and " capture" not in gallery.group(0)
