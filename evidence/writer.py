"""Writing a package's ZIP container (docs/evidence.md, "The container"): what the relay's
export and the analyst's disclosure both write. Media are stored, everything else deflated;
no directory entries; every entry has the export's time and mode 0644; each listed
entry's SHA-256 and size are remembered for the manifest."""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from collections.abc import Iterable
from typing import IO

_CHUNK = 1 << 20


class PackageWriter:
    def __init__(self, raw: IO[bytes], now: float) -> None:
        self.zip = zipfile.ZipFile(raw, "w", allowZip64=True)
        self.stamp = time.gmtime(now)[:6]
        #: (path, sha256, size) of every listed entry, in the order written
        self.files: list[tuple[str, str, int]] = []

    def _info(self, path: str, stored: bool) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(path, date_time=self.stamp)
        info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    def put(self, path: str, data: bytes, *, listed: bool = True, stored: bool = False) -> None:
        """An entry of `data`; `listed=False` for the manifest and its signature."""
        self.zip.writestr(self._info(path, stored), data)
        if listed:
            self.files.append((path, hashlib.sha256(data).hexdigest(), len(data)))

    def put_json(self, path: str, value: object) -> None:
        text = json.dumps(value, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
        self.put(path, text.encode("utf-8"))

    def put_lines(self, path: str, lines: Iterable[str]) -> None:
        """An entry of many lines (the audit extract), written as they come."""
        self._stream(path, (line.encode("utf-8") for line in lines), stored=False)

    def put_stream(self, path: str, src: IO[bytes], *, stored: bool) -> str:
        """An entry copied from `src` byte for byte, in pieces; its SHA-256 (the caller
        checks it against what the bytes should hash to)."""
        return self._stream(path, iter(lambda: src.read(_CHUNK), b""), stored=stored)

    def _stream(self, path: str, pieces: Iterable[bytes], *, stored: bool) -> str:
        h = hashlib.sha256()
        size = 0
        with self.zip.open(self._info(path, stored), "w", force_zip64=True) as dst:
            for piece in pieces:
                dst.write(piece)
                h.update(piece)
                size += len(piece)
        self.files.append((path, h.hexdigest(), size))
        return h.hexdigest()

    def close(self) -> None:
        self.zip.close()
