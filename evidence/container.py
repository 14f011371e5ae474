"""A package's ZIP container, read strictly and with bounded memory (docs/evidence.md,
"The container"). Standard library only, like the verifier.

Opening a package checks its layout before any entry is read: the file is exactly its
local entries back to back from byte 0, the central directory, the (ZIP64) end records,
and nothing after them (no comment); every entry stored or deflated, not encrypted, its
local header agreeing with the central directory, and its name in the allowed form
(`evidence.format.name_problem`). What does not hold is listed in `problems` as
(check, entry, why), and an entry with a problem of its own is never read.

Reading is the one boundary where a hostile ZIP can raise: `chunks` and `read` stream an
entry with a hard cap (never more than `limit` + 1 bytes decompressed, checked against
the size the ZIP declares before the first byte is read) and turn every error zipfile,
zlib or the file can raise into `EntryError` naming the entry.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

from evidence import format as f

_CHUNK: Final = 1 << 20
_EOCD: Final = b"PK\x05\x06"
_ZIP64_EOCD: Final = b"PK\x06\x06"
_ZIP64_LOCATOR: Final = b"PK\x06\x07"
_LOCAL: Final = b"PK\x03\x04"
_DESCRIPTOR: Final = b"PK\x07\x08"
#: general-purpose flag bits: 0 encrypted, 6 strong encryption, 13 masked local headers
_ENCRYPTED: Final = 0x0001 | 0x0040 | 0x2000
_DATA_DESCRIPTOR: Final = 0x0008
_UTF8: Final = 0x0800
#: what zipfile, zlib and the file can raise while an entry is opened or read
READ_ERRORS: Final = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    RuntimeError,
    NotImplementedError,
    zlib.error,
    OSError,
    ValueError,
    OverflowError,
    KeyError,
    struct.error,
)


class ContainerError(Exception):
    """The file is not a ZIP that can be read at all."""


class EntryError(Exception):
    """One entry cannot be read within the format's rules; `str()` says why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(reason)
        self.name = name
        self.reason = reason


class Container:
    """A package opened read-only. `names` is the central directory's list (a name twice
    is listed twice); `problems` what the layout breaks, each (check, entry, why)."""

    def __init__(self, source: str | Path | IO[bytes]) -> None:
        self._own = isinstance(source, str | Path)
        try:
            self._fp: IO[bytes] = open(source, "rb") if isinstance(source, str | Path) else source  # noqa: SIM115
        except OSError as exc:
            raise ContainerError(f"cannot be opened: {exc}") from None
        try:
            self._zf = zipfile.ZipFile(self._fp)
        except (*READ_ERRORS, RecursionError) as exc:
            self.close()
            raise ContainerError(f"not a readable ZIP file: {exc}") from None
        self.names: list[str] = [i.orig_filename for i in self._zf.infolist()]
        self.problems: list[tuple[str, str, str]] = []
        #: entries that must not be read, and why
        self._bad: dict[str, str] = {}
        try:
            self._check_layout()
        except (*READ_ERRORS, RecursionError) as exc:
            self.problems.append(("container", "(the ZIP)", f"its layout cannot be read: {exc}"))

    # ------------------------------------------------------------------ reading

    def declared_size(self, name: str) -> int | None:
        """The uncompressed size the central directory declares, None if no such entry."""
        info = self._zf.NameToInfo.get(name)
        return info.file_size if info is not None else None

    def chunks(self, name: str, limit: int) -> Iterator[bytes]:
        """The entry's bytes in pieces; EntryError if it cannot be read, or if it declares
        or holds more than `limit` bytes (at most `limit` + 1 are ever decompressed)."""
        if name in self._bad:
            raise EntryError(name, self._bad[name])
        info = self._zf.NameToInfo.get(name)
        if info is None:
            raise EntryError(name, "is not in the package")
        if info.file_size > limit:
            raise EntryError(
                name, f"the ZIP declares {info.file_size} bytes, more than the {limit} allowed"
            )
        total = 0
        try:
            with self._zf.open(info) as src:
                while piece := src.read(min(_CHUNK, limit + 1 - total)):
                    total += len(piece)
                    if total > limit:
                        raise EntryError(name, f"holds more than the {limit} bytes allowed")
                    yield piece
        except READ_ERRORS as exc:
            raise EntryError(name, f"cannot be read: {exc or type(exc).__name__}") from None

    def read(self, name: str, limit: int) -> bytes:
        return b"".join(self.chunks(name, limit))

    def close(self) -> None:
        zf = getattr(self, "_zf", None)
        if zf is not None:
            zf.close()
        if self._own:
            self._fp.close()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ layout

    def _bad_entry(self, name: str, why: str) -> None:
        self.problems.append(("entry", name, why))
        self._bad.setdefault(name, why)

    def _check_layout(self) -> None:
        fp = self._fp
        end = fp.seek(0, 2)
        for name in self.names:
            if problem := f.name_problem(name):
                self._bad_entry(name, problem)
        seen: dict[str, str] = {}
        for name in self.names:
            key = f.name_key(name)
            if key in seen and seen[key] != name:
                self._bad_entry(
                    name, f"its name collides with {seen[key]!r} (case or Unicode form)"
                )
            seen.setdefault(key, name)
        if self._zf.comment:
            self.problems.append(("container", "(the ZIP)", "has a ZIP comment"))
        cd_offset = self._end_records(end)
        pos = 0
        stop = cd_offset if cd_offset is not None else end
        for info in sorted(self._zf.infolist(), key=lambda i: i.header_offset):
            pos = self._check_entry(info, pos)
            if pos > stop:
                self._bad_entry(
                    info.orig_filename,
                    "its data runs past the central directory (truncated, or entries overlap)",
                )
        if cd_offset is not None and pos < cd_offset:
            self.problems.append(
                (
                    "container",
                    "(the ZIP)",
                    f"bytes {pos}..{cd_offset} between the last entry and the central "
                    "directory are no entry's (entries overlap or data was inserted)",
                )
            )

    def _end_records(self, end: int) -> int | None:
        """Where the central directory starts and ends, from the end record, which must be
        the file's last 22 bytes (no comment, nothing appended); the directory must be
        followed directly by the (ZIP64) end records."""
        fp = self._fp
        if end < 22:
            self.problems.append(("container", "(the ZIP)", "too short for a ZIP end record"))
            return None
        fp.seek(end - 22)
        eocd = fp.read(22)
        if eocd[:4] != _EOCD or eocd[20:22] != b"\0\0":
            self.problems.append(
                (
                    "container",
                    "(the ZIP)",
                    "does not end with the end-of-central-directory record (data or a "
                    "second archive appended, or a ZIP comment)",
                )
            )
            return None
        _, disk, cd_disk, _n_disk, count, cd_size, cd_offset, _c = struct.unpack("<4sHHHHIIH", eocd)
        records_start = end - 22
        if 0xFFFF in (disk, cd_disk, count) or 0xFFFFFFFF in (cd_size, cd_offset):
            fp.seek(end - 42)
            loc = fp.read(20)
            if loc[:4] != _ZIP64_LOCATOR:
                self.problems.append(("container", "(the ZIP)", "a ZIP64 locator is missing"))
                return None
            z64_at = struct.unpack("<Q", loc[8:16])[0]
            fp.seek(z64_at)
            rec = fp.read(56)
            if len(rec) < 56 or rec[:4] != _ZIP64_EOCD:
                self.problems.append(("container", "(the ZIP)", "no ZIP64 end record"))
                return None
            rec_size = struct.unpack("<Q", rec[4:12])[0]
            if z64_at + 12 + rec_size != end - 42:
                self.problems.append(
                    ("container", "(the ZIP)", "data between the ZIP64 end records")
                )
            cd_size, cd_offset = struct.unpack("<QQ", rec[40:56])
            records_start = z64_at
        if cd_offset + cd_size != records_start:
            self.problems.append(
                (
                    "container",
                    "(the ZIP)",
                    f"the central directory does not end where the end records start "
                    f"(byte {cd_offset + cd_size}, not {records_start}): data was put "
                    "before the first entry or inside the directory",
                )
            )
            return None
        return int(cd_offset)

    def _check_entry(self, info: zipfile.ZipInfo, pos: int) -> int:
        """One entry's local header and data, which must start at `pos`; returns where
        the next entry must start."""
        name = info.orig_filename
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            self._bad_entry(
                name, f"compression method {info.compress_type} (only stored or deflated)"
            )
        if not info.flag_bits & _UTF8 and not name.isascii():
            self._bad_entry(name, "a name that is not ASCII without the UTF-8 flag (bit 11)")
        if info.flag_bits & _ENCRYPTED:
            self._bad_entry(name, "is flagged encrypted")
        if name.startswith("media/") and info.compress_type != zipfile.ZIP_STORED:
            self._bad_entry(name, "is compressed, but a media entry is stored")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            self._bad_entry(name, "stored, but its compressed and uncompressed sizes differ")
        if info.header_offset != pos:
            self._bad_entry(
                name,
                f"starts at byte {info.header_offset}, not {pos} (data before or between "
                "entries, or entries overlap)",
            )
        self._fp.seek(info.header_offset)
        head = self._fp.read(30)
        if len(head) < 30 or head[:4] != _LOCAL:
            self._bad_entry(name, "has no local header where the directory says")
            return info.header_offset + 30
        _, _ver, flags, method, _t, _d, _crc, _cs, _us, n, x = struct.unpack("<4sHHHHHIIIHH", head)
        raw_name = self._fp.read(n)
        extra = self._fp.read(x)
        cd_name = name.encode("utf-8" if info.flag_bits & _UTF8 else "cp437")
        if raw_name != cd_name:
            self._bad_entry(name, f"its local header names {raw_name[:80]!r}")
        if method != info.compress_type or (flags ^ info.flag_bits) & (_ENCRYPTED | _UTF8):
            self._bad_entry(name, "its local header disagrees with the central directory")
        data_end = info.header_offset + 30 + n + x + info.compress_size
        if info.flag_bits & _DATA_DESCRIPTOR:
            self._fp.seek(data_end)
            sig = self._fp.read(4) == _DESCRIPTOR
            wide = _has_zip64(extra) or info.compress_size >= 0xFFFFFFFF
            data_end += (4 if sig else 0) + (20 if wide else 12)
        return int(data_end)


def _has_zip64(extra: bytes) -> bool:
    at = 0
    while at + 4 <= len(extra):
        tag, size = struct.unpack("<HH", extra[at : at + 4])
        if tag == 0x0001:
            return True
        at += 4 + size
    return False
