"""The simulator's generated media passes the relay's own checks, byte for byte."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

import pytest
from PIL import Image

from backend_client.limits import MEDIA_CHUNK_BYTES
from relay.media import MediaStore, sniff_mime
from simulator import media


def _store(store: MediaStore, item: media.GeneratedMedia) -> None:
    offset = 0
    while offset < item.size:
        offset = store.write_chunk(
            item.sha256, item.size, offset, item.data[offset : offset + MEDIA_CHUNK_BYTES]
        )
    store.finalize(item.sha256, item.mime, item.size)


def test_photo_is_a_small_real_jpeg_the_relay_accepts(tmp_path: Path) -> None:
    item = media.photo(random.Random(1))
    assert item.mime == "image/jpeg"
    assert sniff_mime(item.data[:4096]) == "image/jpeg"
    assert item.size < 100_000
    assert item.sha256 == hashlib.sha256(item.data).hexdigest()
    with Image.open(io.BytesIO(item.data)) as im:
        assert im.size == (640, 480)
    store = MediaStore(tmp_path)
    _store(store, item)
    assert store.has(item.sha256) and store.size(item.sha256) == item.size


def test_photos_differ_per_device() -> None:
    assert media.photo(random.Random(1)).sha256 != media.photo(random.Random(2)).sha256


def test_video_is_an_mp4_with_moov_up_front_that_the_relay_accepts(tmp_path: Path) -> None:
    item = media.video(random.Random(3), seconds=1.0)
    assert item.mime == "video/mp4"
    assert sniff_mime(item.data[:4096]) == "video/mp4"
    assert item.data[4:8] == b"ftyp"
    ftyp_size = int.from_bytes(item.data[:4], "big")
    assert (
        item.data[ftyp_size + 4 : ftyp_size + 8] == b"moov"
    )  # faststart: playable while streaming
    assert item.size < 200_000
    store = MediaStore(tmp_path)
    _store(store, item)
    assert store.has(item.sha256)


def test_truncated_video_is_refused_by_the_relay(tmp_path: Path) -> None:
    """Guards the check above: the store would notice a broken file we produced."""
    from relay.media import MediaError

    whole = media.video(random.Random(4), seconds=1.0)
    cut = media.GeneratedMedia(whole.data[: whole.size - 100], "video/mp4")
    with pytest.raises(MediaError):
        _store(MediaStore(tmp_path), cut)
