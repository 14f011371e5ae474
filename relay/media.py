"""The relay's media store: content-addressed files, resumable chunked uploads, verification.

Everything a citizen uploads is untrusted until `finalize` has checked it: the SHA-256 the
report declared, the size, the type by magic bytes (never by a file name), and for images
the pixel count and a real decode, so the console never opens a decompression bomb or a
file that only claims to be a photo. Paths are built only from a validated SHA-256, so no
client-given string ever reaches the file system.

Owned uploads (`owner=`, the relay passes the report's key): each report's media is sent
by its own device, even when the store already holds the same bytes, so a device that only
knows a hash can neither learn that the file exists nor attach it. Each owner has its own
partial file, and a verified upload takes the same path (verify, fsync, rename) whether or
not the hash is stored already, so the answer and its timing do not depend on it. A receipt
written before the rename and cleared once the database records it lets the relay finish
the job at start-up if it crashed in between (`receipts`).

Storage failures (disk full, read-only file system, I/O errors) raise MediaError
UNAVAILABLE, a retryable code, and leave `problem` set until a later write succeeds.

Blocking by design (file I/O, hashing, decoding): the server calls these methods through
`asyncio.to_thread`. Concurrent calls for the same hash are serialised by a lock.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from PIL import Image

from backend_client import limits
from backend_client.errors import ErrorCode, ProtocolError
from backend_client.media_types import SNIFF_BYTES, sniff_mime

__all__ = ["SNIFF_BYTES", "MediaError", "MediaStore", "sniff_mime"]

# Pillow's own decompression-bomb guard, tightened to the wire limit: headers claiming more
# than twice this raise DecompressionBombError inside Image.open, which `finalize` catches.
# Our explicit width x height check below enforces the limit itself.
Image.MAX_IMAGE_PIXELS = limits.MAX_IMAGE_PIXELS

log = logging.getLogger(__name__)
_SHA256_RE: Final = re.compile(r"[0-9a-f]{64}")
_OWNER_RE: Final = re.compile(r"[0-9]{1,20}")
#: errors that mean the storage, not the upload, is at fault: retry later
_STORAGE_ERRNOS: Final = frozenset(
    {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO, errno.EACCES, errno.EPERM}
)
_READ_BLOCK: Final = 1024 * 1024
_LOCK_STRIPES: Final = 64

_PIL_FORMAT: Final = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
_MIMES: Final = frozenset({*_PIL_FORMAT, "video/mp4"})

# A full decode of a 40-megapixel image needs ~160 MB; cap how many run at once.
_DECODE_SLOTS: Final = threading.BoundedSemaphore(2)


class MediaError(ProtocolError):
    """A media upload was refused; `code` says why (the relay sends it as an `error`)."""


class MediaStore:
    """Verified media under `root/ab/cd/<sha256>`, uploads in progress under `root/partial/`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._partial_dir = root / "partial"
        self._receipt_dir = root / "receipts"
        self._partial_dir.mkdir(parents=True, exist_ok=True)
        self._receipt_dir.mkdir(parents=True, exist_ok=True)
        self._locks = tuple(threading.Lock() for _ in range(_LOCK_STRIPES))
        #: why the last write failed for lack of storage; None once a write succeeds
        self.problem: str | None = None

    # ------------------------------------------------------------------ lookups

    def path(self, sha: str) -> Path:
        """Where the verified file for `sha` lives (whether or not it exists yet)."""
        sha = _checked_sha(sha)
        return self.root / sha[:2] / sha[2:4] / sha

    def has(self, sha: str) -> bool:
        """True once `sha` is stored and verified."""
        return self.path(sha).is_file()

    def size(self, sha: str) -> int:
        """Size in bytes of stored media; NOT_FOUND if it is not stored."""
        try:
            return self.path(sha).stat().st_size
        except FileNotFoundError:
            raise _not_found(sha) from None

    def received(self, sha: str, owner: str | None = None) -> int:
        """Bytes of the partial upload so far (0 if none). Does not count stored media."""
        try:
            return self._partial(sha, owner).stat().st_size
        except FileNotFoundError:
            return 0

    def read(self, sha: str, offset: int, length: int) -> bytes:
        """Up to `length` bytes of stored media from `offset` (fewer at the end of the file).

        The caller bounds `length` (e.g. to limits.MEDIA_CHUNK_BYTES); this reads what it asks.
        """
        if offset < 0 or length < 0:
            raise MediaError(ErrorCode.INVALID, "Offset and length must not be negative.")
        try:
            with self.path(sha).open("rb") as f:
                total = os.fstat(f.fileno()).st_size
                if offset > total:
                    raise MediaError(
                        ErrorCode.INVALID,
                        f"Offset {offset} is past the end of the file ({total} bytes).",
                    )
                f.seek(offset)
                return f.read(length)
        except FileNotFoundError:
            raise _not_found(sha) from None

    # ------------------------------------------------------------------ upload

    def write_chunk(
        self, sha: str, declared_size: int, offset: int, data: bytes, owner: str | None = None
    ) -> int:
        """Append `data` at `offset` to the partial upload; returns the bytes received so far.

        Chunks must arrive in order: `offset` must equal what was received. A chunk sent
        again (its bytes already covered) is accepted without writing, so a client that
        lost an acknowledgement can simply resend. Without an `owner`, media already
        stored returns its size; an owner's upload always needs its bytes.
        """
        sha = _checked_sha(sha)
        _check_declared_size(declared_size)
        if offset < 0:
            raise MediaError(ErrorCode.INVALID, "Chunk offset must not be negative.")
        with self._lock(sha), self._storage():
            if owner is None and self.has(sha):
                return self.size(sha)
            received = self.received(sha, owner)
            end = offset + len(data)
            if end <= received:
                return received  # a resend of bytes we already have
            if offset > received:
                raise MediaError(
                    ErrorCode.INVALID,
                    f"Chunk at offset {offset} is out of order: expected offset {received}. "
                    f"Resume the upload from byte {received}.",
                )
            if end > declared_size:
                raise MediaError(
                    ErrorCode.MEDIA_TOO_LARGE,
                    f"The upload is longer than the declared {declared_size} bytes.",
                )
            with self._partial(sha, owner).open("ab") as f:
                f.write(data[received - offset :])
            return end

    def discard(self, sha: str, owner: str | None = None) -> None:
        """Drop the partial upload for `sha`, if any (abandoned or refused uploads)."""
        sha = _checked_sha(sha)
        with self._lock(sha):
            self._partial(sha, owner).unlink(missing_ok=True)

    def sweep_partials(self, older_than_s: float, now: float | None = None) -> int:
        """Delete partial uploads untouched for `older_than_s` (a phone that never came back);
        returns how many. A device that returns later simply uploads again from 0."""
        import time

        cutoff = (time.time() if now is None else now) - older_than_s
        removed = 0
        for part in self._partial_dir.glob("*.part"):
            sha = part.name.split(".", 1)[0]  # <sha>.part or <sha>.<owner>.part
            if not _SHA256_RE.fullmatch(sha):
                continue
            with self._lock(sha):
                try:
                    if part.stat().st_mtime < cutoff:
                        part.unlink()
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed

    def finalize(
        self, sha: str, declared_mime: str, declared_size: int, owner: str | None = None
    ) -> None:
        """Verify the complete upload and move it into the store.

        On a verification failure the partial is deleted (the client must upload again)
        and MediaError says why. If fewer bytes than declared have arrived, MediaError
        INVALID is raised and the partial is kept so the upload can resume. Without an
        `owner`, media already stored under this hash is a no-op, once its size and type
        match the declaration. An owner's upload is always verified and moved in (the
        same bytes replace the same bytes), after a receipt for it is written: the caller
        clears it with `clear_receipt` once the database knows the file is stored.
        """
        sha = _checked_sha(sha)
        if owner is not None:
            owner = _checked_owner(owner)
        _check_declared_size(declared_size)
        if declared_mime not in _MIMES:
            raise MediaError(
                ErrorCode.MEDIA_TYPE_MISMATCH,
                f"Media type {declared_mime!r} is not accepted: send JPEG, PNG, WebP or MP4.",
            )
        with self._lock(sha), self._storage():
            dest = self.path(sha)
            partial = self._partial(sha, owner)
            if owner is None and dest.is_file():
                partial.unlink(missing_ok=True)
                _check_existing(dest, declared_mime, declared_size)
                return
            received = self.received(sha, owner)
            if received < declared_size:
                raise MediaError(
                    ErrorCode.INVALID,
                    f"Upload incomplete: {received} of {declared_size} bytes received. "
                    f"Resume from byte {received}.",
                )
            try:
                _verify(partial, sha, declared_mime, declared_size)
                with partial.open("rb") as f:
                    os.fsync(f.fileno())
                if owner is not None:
                    _write_synced(self._receipt(sha, owner))
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(partial, dest)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            _fsync_dir(dest.parent)
            _fsync_dir(self._partial_dir)

    def remove_if(self, sha: str, unused: Callable[[], bool]) -> bool:
        """Delete the stored file for `sha` if `unused()` (asked under the hash's lock, so
        no upload of the same bytes finishes in between); True if a file was removed.
        Erasure (relay/privacy.py) asks whether any report still declares the hash: a
        report's row exists before its upload starts, so a later upload writes it anew."""
        sha = _checked_sha(sha)
        with self._lock(sha):
            dest = self.path(sha)
            if not dest.is_file() or not unused():
                return False
            dest.unlink()
            _fsync_dir(dest.parent)
            return True

    # ------------------------------------------------------------------ receipts

    def receipts(self) -> list[tuple[str, str]]:
        """(owner, sha) of every upload moved into the store that the database may not
        have recorded yet (the relay stopped between the two): finish them at start-up."""
        found = []
        for path in self._receipt_dir.iterdir():
            sha, _, owner = path.name.partition(".")
            if _SHA256_RE.fullmatch(sha) and _OWNER_RE.fullmatch(owner):
                found.append((owner, sha))
        return sorted(found)

    def clear_receipt(self, sha: str, owner: str) -> None:
        """The database now records this upload as stored."""
        self._receipt(_checked_sha(sha), _checked_owner(owner)).unlink(missing_ok=True)

    def verifies(self, sha: str, declared_mime: str, declared_size: int) -> bool:
        """True if the stored file for `sha` is intact and exactly what was declared."""
        dest = self.path(sha)
        if not dest.is_file():
            return False
        try:
            _verify(dest, sha, declared_mime, declared_size)
        except MediaError:
            return False
        return True

    def probe(self) -> bool:
        """Try one small synced write: clears `problem` once storage works again (True)."""
        probe = self._partial_dir / ".probe"
        try:
            with self._storage():
                _write_synced(probe, bytes(64 * 1024))  # a block's worth: space, not an inode
        except MediaError:
            return False
        finally:
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)
        return True

    # ------------------------------------------------------------------ internals

    def _partial(self, sha: str, owner: str | None = None) -> Path:
        if owner is None:
            return self._partial_dir / f"{_checked_sha(sha)}.part"
        return self._partial_dir / f"{_checked_sha(sha)}.{_checked_owner(owner)}.part"

    def _receipt(self, sha: str, owner: str) -> Path:
        return self._receipt_dir / f"{sha}.{owner}"

    @contextlib.contextmanager
    def _storage(self) -> Iterator[None]:
        """Turn a full or read-only disk into UNAVAILABLE and remember it until a write works."""
        try:
            yield
        except OSError as exc:
            if exc.errno not in _STORAGE_ERRNOS:
                raise
            problem = f"media storage: {exc.strerror or exc}"
            if problem != self.problem:  # one line when it starts, not one per retry
                log.warning("media write failed: %s", problem)
            self.problem = problem
            raise MediaError(
                ErrorCode.UNAVAILABLE,
                "The relay cannot store media right now; nothing was lost: retry later.",
            ) from None
        self.problem = None

    def _lock(self, sha: str) -> threading.Lock:
        return self._locks[int(sha[:4], 16) % _LOCK_STRIPES]


def _checked_sha(sha: object) -> str:
    """`sha` if it is 64 lowercase hex digits; anything else never reaches a path."""
    if not isinstance(sha, str) or _SHA256_RE.fullmatch(sha) is None:
        raise MediaError(ErrorCode.INVALID, "Media hash must be 64 lowercase hex digits.")
    return sha


def _checked_owner(owner: object) -> str:
    """An upload owner (a report key) if it is decimal digits; never a path otherwise."""
    if not isinstance(owner, str) or _OWNER_RE.fullmatch(owner) is None:
        raise MediaError(ErrorCode.INVALID, "Upload owner must be decimal digits.")
    return owner


def _write_synced(path: Path, data: bytes = b"") -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    _fsync_dir(path.parent)


def _check_declared_size(declared_size: int) -> None:
    if declared_size <= 0:
        raise MediaError(ErrorCode.INVALID, "Declared media size must be positive.")
    if declared_size > limits.MAX_MEDIA_BYTES:
        raise MediaError(
            ErrorCode.MEDIA_TOO_LARGE,
            f"Media files may be at most {limits.MAX_MEDIA_BYTES} bytes.",
        )


def _not_found(sha: str) -> MediaError:
    return MediaError(ErrorCode.NOT_FOUND, f"No stored media with hash {sha}.")


def _check_existing(dest: Path, declared_mime: str, declared_size: int) -> None:
    """Same hash means same bytes; still refuse a declaration that misdescribes them."""
    if dest.stat().st_size != declared_size:
        raise MediaError(
            ErrorCode.MEDIA_HASH_MISMATCH,
            f"Declared size {declared_size} does not match the media with this hash.",
        )
    with dest.open("rb") as f:
        actual = sniff_mime(f.read(SNIFF_BYTES))
    if actual != declared_mime:
        raise _type_mismatch(declared_mime, actual)


def _verify(partial: Path, sha: str, declared_mime: str, declared_size: int) -> None:
    """Raise MediaError unless the partial file is exactly what was declared."""
    digest = hashlib.sha256()
    size = 0
    with partial.open("rb") as f:
        head = f.read(SNIFF_BYTES)
        f.seek(0)
        while block := f.read(_READ_BLOCK):
            digest.update(block)
            size += len(block)
    if size > declared_size:
        raise MediaError(
            ErrorCode.MEDIA_TOO_LARGE,
            f"Received {size} bytes but {declared_size} were declared.",
        )
    if size != declared_size:
        raise MediaError(
            ErrorCode.MEDIA_CORRUPT,
            f"Received {size} bytes but {declared_size} were declared. Upload it again.",
        )
    if digest.hexdigest() != sha:
        raise MediaError(
            ErrorCode.MEDIA_HASH_MISMATCH,
            "The bytes received do not match the declared SHA-256. Upload the file again.",
        )
    actual = sniff_mime(head)
    if actual != declared_mime:
        raise _type_mismatch(declared_mime, actual)
    if declared_mime == "video/mp4":
        _verify_mp4(partial, size)
    else:
        _verify_image(partial, _PIL_FORMAT[declared_mime])


def _type_mismatch(declared_mime: str, actual: str | None) -> MediaError:
    found = actual or "not a supported image or video"
    return MediaError(
        ErrorCode.MEDIA_TYPE_MISMATCH,
        f"Declared as {declared_mime} but the content is {found}.",
    )


def _verify_image(path: Path, pil_format: str) -> None:
    """Pixel count from the header, then a structural check and a real decode."""
    too_many = MediaError(
        ErrorCode.IMAGE_TOO_MANY_PIXELS,
        f"The image has more than {limits.MAX_IMAGE_PIXELS} pixels; send a smaller one.",
    )
    corrupt = MediaError(
        ErrorCode.MEDIA_CORRUPT, "The image is damaged or incomplete and cannot be shown."
    )
    try:
        with Image.open(path, formats=[pil_format]) as im:
            width, height = im.size
            if width * height > limits.MAX_IMAGE_PIXELS:
                raise too_many
            im.verify()  # checksums and structure (PNG); cheap, no pixel buffer
        # verify() does not decode JPEG or WebP and leaves the image unusable: decode anew.
        with _DECODE_SLOTS, Image.open(path, formats=[pil_format]) as im:
            if pil_format == "JPEG":
                # DCT scaling: every entropy-coded byte is still read, at 1/64 the memory.
                im.draft(im.mode, (max(1, width // 8), max(1, height // 8)))
            im.load()
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_many from None
    except Exception:  # any failure to parse untrusted bytes means the file is bad
        raise corrupt from None


def _verify_mp4(path: Path, size: int) -> None:
    """Top-level ISO BMFF boxes must tile the file exactly: ftyp first, a moov somewhere.

    This is a sanity check of the container, not a decode; the console plays the video.
    """
    corrupt = MediaError(
        ErrorCode.MEDIA_CORRUPT, "The video file is damaged or incomplete; send it again."
    )
    seen: list[bytes] = []
    pos = 0
    with path.open("rb") as f:
        while pos < size:
            header = f.read(8)
            if len(header) < 8:
                raise corrupt
            box_size, box_type = struct.unpack(">I4s", header)
            if not all(0x20 <= c <= 0x7E for c in box_type):
                raise corrupt
            header_len = 8
            if box_size == 1:
                large = f.read(8)
                if len(large) < 8:
                    raise corrupt
                (box_size,) = struct.unpack(">Q", large)
                header_len = 16
            elif box_size == 0:
                box_size = size - pos  # "extends to the end of the file"
            if box_size < header_len or pos + box_size > size:
                raise corrupt
            seen.append(box_type)
            pos += box_size
            f.seek(pos)
    if not seen or seen[0] != b"ftyp" or b"moov" not in seen or seen.count(b"ftyp") > 1:
        raise corrupt


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
