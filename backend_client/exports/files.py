"""How an export reaches the disk, for the console and `lookout-relay export` alike.

Exports hold citizens' words, so the file is the writer's alone (mode 0600), and it is
written whole or not at all: into a temporary file that `mkstemp` creates afresh beside
the target (`O_EXCL`, an unguessable name: a symlink planted there is never followed),
flushed, then renamed over the target with `os.replace`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

#: the mode of every export file: the user who wrote it, no one else
MODE = 0o600


def write_private(
    path: Path, data: bytes, before_replace: Callable[[], None] | None = None
) -> Path:
    """Write `data` to `path` (mode 0600) whole or not at all. `before_replace` runs once
    the bytes are on disk and before the file takes its name (the relay audits there); if
    it raises, nothing is left behind and the target is untouched."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), MODE)  # mkstemp's 0600 already; said, not assumed
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
