"""The relay's media store refuses anything that is not exactly what was declared."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from backend_client import limits
from backend_client.errors import ErrorCode, ProtocolError
from relay.media import MediaError, MediaStore, sniff_mime

# ---------------------------------------------------------------- helpers


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def noisy_image(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    """A real image with noise in it, so its compressed data is not trivially short."""
    rng = random.Random(7)
    im = Image.frombytes(
        "RGB", size, bytes(rng.randrange(256) for _ in range(size[0] * size[1] * 3))
    )
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    """A structurally valid PNG (correct CRCs) whose header claims width x height pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x00" * 3)  # one filtered scanline's worth; never read
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def minimal_mp4() -> bytes:
    """ftyp + moov(mvhd): the smallest container a player would recognise as MP4."""
    ftyp = box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isom" + b"iso2" + b"mp41")
    mvhd = box(
        b"mvhd",
        struct.pack(">B3xIIII", 0, 0, 0, 1000, 0)  # version/flags, times, timescale, duration
        + struct.pack(">IH10x", 0x00010000, 0x0100)  # rate, volume, reserved
        + struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)  # matrix
        + bytes(24)  # pre_defined
        + struct.pack(">I", 2),  # next_track_ID
    )
    return ftyp + box(b"moov", mvhd)


def upload(store: MediaStore, data: bytes, mime: str, *, digest: str | None = None) -> str:
    digest = digest or sha(data)
    store.write_chunk(digest, len(data), 0, data)
    store.finalize(digest, mime, len(data))
    return digest


def refused(store: MediaStore, data: bytes, mime: str, *, digest: str | None = None) -> ErrorCode:
    with pytest.raises(MediaError) as info:
        upload(store, data, mime, digest=digest)
    digest = digest or sha(data)
    assert not store.has(digest)
    assert store.received(digest) == 0, "a refused upload leaves no partial behind"
    return info.value.code


@pytest.fixture
def store(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media")


# ---------------------------------------------------------------- sniffing


def test_sniff_by_magic_bytes() -> None:
    assert sniff_mime(noisy_image("JPEG")) == "image/jpeg"
    assert sniff_mime(noisy_image("PNG")) == "image/png"
    assert sniff_mime(noisy_image("WEBP")) == "image/webp"
    assert sniff_mime(minimal_mp4()) == "video/mp4"
    assert sniff_mime(b"<!doctype html><html></html>") is None
    assert sniff_mime(b"") is None


def test_sniff_mp4_brands() -> None:
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        return box(b"ftyp", major + bytes(4) + b"".join(compatible))

    assert sniff_mime(ftyp(b"mp42", b"mp42")) == "video/mp4"
    assert sniff_mime(ftyp(b"M4V ", b"M4V ")) == "video/mp4"
    assert sniff_mime(ftyp(b"dash", b"iso6")) == "video/mp4"
    assert sniff_mime(ftyp(b"xxxx", b"avc1")) == "video/mp4"  # unknown major, MP4 compatible
    assert sniff_mime(ftyp(b"heic", b"mif1", b"iso8")) is None  # a HEIF photo, not video
    assert sniff_mime(ftyp(b"qt  ", b"qt  ")) is None  # QuickTime
    assert sniff_mime(ftyp(b"xxxx", b"yyyy")) is None


# ---------------------------------------------------------------- accepted media


@pytest.mark.parametrize(
    ("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_real_images_are_stored(store: MediaStore, fmt: str, mime: str) -> None:
    data = noisy_image(fmt)
    digest = upload(store, data, mime)
    assert store.has(digest)
    assert store.size(digest) == len(data)
    assert store.read(digest, 0, len(data)) == data
    assert store.path(digest) == store.root / digest[:2] / digest[2:4] / digest
    assert store.received(digest) == 0
    assert not list((store.root / "partial").iterdir())


def test_minimal_mp4_is_accepted(store: MediaStore) -> None:
    data = minimal_mp4()
    digest = upload(store, data, "video/mp4")
    assert store.read(digest, 0, 1000) == data


def test_chunked_upload_in_three_chunks(store: MediaStore) -> None:
    data = noisy_image("PNG", (120, 90))
    digest = sha(data)
    a, b = len(data) // 3, 2 * len(data) // 3
    assert store.write_chunk(digest, len(data), 0, data[:a]) == a
    assert store.received(digest) == a
    assert store.write_chunk(digest, len(data), a, data[a:b]) == b
    assert not store.has(digest)
    assert store.write_chunk(digest, len(data), b, data[b:]) == len(data)
    store.finalize(digest, "image/png", len(data))
    assert store.read(digest, a, b - a) == data[a:b]
    assert store.read(digest, len(data), 10) == b""


def test_resent_chunk_is_idempotent(store: MediaStore) -> None:
    data = noisy_image("JPEG")
    digest = sha(data)
    half = len(data) // 2
    assert store.write_chunk(digest, len(data), 0, data[:half]) == half
    assert store.write_chunk(digest, len(data), 0, data[:half]) == half  # ack was lost
    assert store.received(digest) == half
    assert store.write_chunk(digest, len(data), half, data[half:]) == len(data)
    store.finalize(digest, "image/jpeg", len(data))
    assert store.read(digest, 0, len(data)) == data


def test_overlapping_chunk_appends_only_the_new_tail(store: MediaStore) -> None:
    data = noisy_image("PNG")
    digest = sha(data)
    store.write_chunk(digest, len(data), 0, data[:100])
    assert store.write_chunk(digest, len(data), 50, data[50:]) == len(data)
    store.finalize(digest, "image/png", len(data))
    assert store.read(digest, 0, len(data)) == data


def test_finalize_of_existing_media_is_a_noop(store: MediaStore) -> None:
    data = noisy_image("JPEG")
    digest = upload(store, data, "image/jpeg")
    before = store.path(digest).stat().st_mtime_ns
    store.write_chunk(digest, len(data), 0, data[:10])  # already stored: nothing written
    assert store.received(digest) == 0
    store.finalize(digest, "image/jpeg", len(data))
    assert store.path(digest).stat().st_mtime_ns == before
    with pytest.raises(MediaError) as info:
        store.finalize(digest, "image/png", len(data))
    assert info.value.code is ErrorCode.MEDIA_TYPE_MISMATCH


# ---------------------------------------------------------------- refused media


def test_error_is_a_protocol_error(store: MediaStore) -> None:
    with pytest.raises(ProtocolError):
        store.has("nope")


def test_huge_png_header_is_too_many_pixels(store: MediaStore) -> None:
    data = png_claiming(100_000, 100_000)
    assert refused(store, data, "image/png") is ErrorCode.IMAGE_TOO_MANY_PIXELS


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_png_just_over_the_limit_is_too_many_pixels(store: MediaStore) -> None:
    width = 8_000
    height = limits.MAX_IMAGE_PIXELS // width + 1  # under Pillow's own error threshold
    assert (
        refused(store, png_claiming(width, height), "image/png") is ErrorCode.IMAGE_TOO_MANY_PIXELS
    )


def test_jpeg_declared_as_mp4_is_type_mismatch(store: MediaStore) -> None:
    assert refused(store, noisy_image("JPEG"), "video/mp4") is ErrorCode.MEDIA_TYPE_MISMATCH


def test_png_declared_as_jpeg_is_type_mismatch(store: MediaStore) -> None:
    assert refused(store, noisy_image("PNG"), "image/jpeg") is ErrorCode.MEDIA_TYPE_MISMATCH


def test_html_renamed_jpg_is_type_mismatch(store: MediaStore, tmp_path: Path) -> None:
    evil = tmp_path / "holiday.jpg"
    evil.write_bytes(b"<!DOCTYPE html><html><script>alert(1)</script></html>\n")
    assert refused(store, evil.read_bytes(), "image/jpeg") is ErrorCode.MEDIA_TYPE_MISMATCH


def test_unsupported_declared_mime_is_type_mismatch(store: MediaStore) -> None:
    data = noisy_image("PNG")
    digest = sha(data)
    store.write_chunk(digest, len(data), 0, data)
    with pytest.raises(MediaError) as info:
        store.finalize(digest, "text/html", len(data))
    assert info.value.code is ErrorCode.MEDIA_TYPE_MISMATCH


def test_wrong_hash_is_mismatch_and_deletes_partial(store: MediaStore) -> None:
    data = noisy_image("JPEG")
    wrong = sha(b"something else")
    store.write_chunk(wrong, len(data), 0, data)
    assert (store.root / "partial" / f"{wrong}.part").exists()
    assert refused(store, data, "image/jpeg", digest=wrong) is ErrorCode.MEDIA_HASH_MISMATCH
    assert not (store.root / "partial" / f"{wrong}.part").exists()


def test_truncated_jpeg_is_corrupt(store: MediaStore) -> None:
    data = noisy_image("JPEG", (200, 150))
    assert refused(store, data[: len(data) // 2], "image/jpeg") is ErrorCode.MEDIA_CORRUPT


def test_png_with_bad_crc_is_corrupt(store: MediaStore) -> None:
    data = bytearray(noisy_image("PNG"))
    data[50] ^= 0xFF  # inside the IDAT data: its CRC no longer matches
    assert refused(store, bytes(data), "image/png") is ErrorCode.MEDIA_CORRUPT


def test_truncated_mp4_is_corrupt(store: MediaStore) -> None:
    data = minimal_mp4()
    assert refused(store, data[:-10], "video/mp4") is ErrorCode.MEDIA_CORRUPT


def test_mp4_without_moov_is_corrupt(store: MediaStore) -> None:
    data = box(b"ftyp", b"isom" + bytes(4) + b"isom") + box(b"free", bytes(8))
    assert refused(store, data, "video/mp4") is ErrorCode.MEDIA_CORRUPT


def test_chunk_beyond_declared_size_is_too_large(store: MediaStore) -> None:
    data = noisy_image("PNG")
    digest = sha(data)
    with pytest.raises(MediaError) as info:
        store.write_chunk(digest, len(data) - 1, 0, data)
    assert info.value.code is ErrorCode.MEDIA_TOO_LARGE
    assert store.received(digest) == 0


def test_declared_size_over_the_wire_limit_is_too_large(store: MediaStore) -> None:
    with pytest.raises(MediaError) as info:
        store.write_chunk("a" * 64, limits.MAX_MEDIA_BYTES + 1, 0, b"x")
    assert info.value.code is ErrorCode.MEDIA_TOO_LARGE


def test_out_of_order_chunk_says_which_offset_is_expected(store: MediaStore) -> None:
    data = noisy_image("PNG")
    digest = sha(data)
    store.write_chunk(digest, len(data), 0, data[:100])
    with pytest.raises(MediaError) as info:
        store.write_chunk(digest, len(data), 200, data[200:300])
    assert info.value.code is ErrorCode.INVALID
    assert "expected offset 100" in info.value.message
    assert store.received(digest) == 100


def test_incomplete_upload_is_kept_for_resume(store: MediaStore) -> None:
    data = noisy_image("PNG")
    digest = sha(data)
    store.write_chunk(digest, len(data), 0, data[:100])
    with pytest.raises(MediaError) as info:
        store.finalize(digest, "image/png", len(data))
    assert info.value.code is ErrorCode.INVALID
    assert store.received(digest) == 100


@pytest.mark.parametrize(
    "bad",
    [
        "../../etc/passwd",
        "../" + "a" * 61,
        "A" * 64,  # upper case
        "a" * 63,
        "a" * 65,
        "a" * 63 + "/",
        "a" * 64 + "\n",
        "",
    ],
)
def test_path_traversal_sha_is_rejected(store: MediaStore, bad: str, tmp_path: Path) -> None:
    for call in (
        lambda: store.path(bad),
        lambda: store.has(bad),
        lambda: store.received(bad),
        lambda: store.size(bad),
        lambda: store.read(bad, 0, 10),
        lambda: store.write_chunk(bad, 10, 0, b"0123456789"),
        lambda: store.finalize(bad, "image/png", 10),
        lambda: store.discard(bad),
    ):
        with pytest.raises(MediaError) as info:
            call()
        assert info.value.code is ErrorCode.INVALID
    written = {p for p in tmp_path.rglob("*") if p.is_file()}
    assert written == set(), f"nothing may be written for a bad hash: {written}"


def test_reading_missing_media_is_not_found(store: MediaStore) -> None:
    with pytest.raises(MediaError) as info:
        store.read("b" * 64, 0, 10)
    assert info.value.code is ErrorCode.NOT_FOUND


def test_read_past_end_is_invalid(store: MediaStore) -> None:
    data = minimal_mp4()
    digest = upload(store, data, "video/mp4")
    with pytest.raises(MediaError) as info:
        store.read(digest, len(data) + 1, 10)
    assert info.value.code is ErrorCode.INVALID


def test_discard_drops_the_partial(store: MediaStore) -> None:
    data = noisy_image("PNG")
    digest = sha(data)
    store.write_chunk(digest, len(data), 0, data[:100])
    store.discard(digest)
    assert store.received(digest) == 0


def test_abandoned_partial_uploads_are_swept(tmp_path: Path) -> None:
    import os

    store = MediaStore(tmp_path / "media")
    old, fresh = "a" * 64, "b" * 64
    store.write_chunk(old, 100, 0, b"x" * 10)
    store.write_chunk(fresh, 100, 0, b"y" * 10)
    past = time.time() - 2 * 86400
    os.utime(store.root / "partial" / f"{old}.part", (past, past))
    assert store.sweep_partials(86400) == 1
    assert store.received(old) == 0 and store.received(fresh) == 10


# ---------------------------------------------------------------- owned uploads


def test_an_owned_upload_needs_its_bytes_even_when_the_hash_is_stored(store: MediaStore) -> None:
    data = noisy_image("PNG")
    digest = upload(store, data, "image/png")
    assert store.write_chunk(digest, len(data), 0, data[:100], owner="7") == 100
    with pytest.raises(MediaError) as info:
        store.finalize(digest, "image/png", len(data), owner="7")
    assert info.value.code is ErrorCode.INVALID  # incomplete: 100 of len(data)
    forged = bytearray(data)
    forged[-1] ^= 0xFF
    store.discard(digest, owner="7")
    store.write_chunk(digest, len(data), 0, bytes(forged), owner="7")
    with pytest.raises(MediaError) as info:
        store.finalize(digest, "image/png", len(data), owner="7")
    assert info.value.code is ErrorCode.MEDIA_HASH_MISMATCH
    assert store.path(digest).read_bytes() == data, "the stored copy is untouched"
    assert store.received(digest, owner="7") == 0 and store.receipts() == []


def test_owners_have_separate_partials_and_a_receipt_until_recorded(store: MediaStore) -> None:
    data = noisy_image("JPEG")
    digest = sha(data)
    store.write_chunk(digest, len(data), 0, data[:50], owner="1")
    assert store.received(digest, owner="2") == 0, "another owner sees nothing of it"
    assert store.write_chunk(digest, len(data), 0, data, owner="2") == len(data)
    store.finalize(digest, "image/jpeg", len(data), owner="2")
    assert store.has(digest) and store.receipts() == [("2", digest)]
    assert store.verifies(digest, "image/jpeg", len(data))
    assert not store.verifies(digest, "image/jpeg", len(data) + 1)
    store.clear_receipt(digest, "2")
    assert store.receipts() == [] and store.received(digest, owner="1") == 50
    with pytest.raises(MediaError) as info:
        store.write_chunk(digest, len(data), 0, data, owner="../x")
    assert info.value.code is ErrorCode.INVALID


def test_a_full_file_system_is_unavailable_until_a_write_succeeds(tmp_path: Path) -> None:
    import contextlib
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        store = MediaStore(mnt / "media")
        filler = mnt / "filler"
        with filler.open("wb") as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        data = noisy_image("PNG")
        with pytest.raises(MediaError) as info:
            store.write_chunk(sha(data), len(data), 0, data, owner="3")
        assert info.value.code is ErrorCode.UNAVAILABLE
        assert store.problem is not None and "space" in store.problem
        assert not store.probe() and store.problem is not None
        filler.unlink()
        assert store.probe() and store.problem is None
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
