"""Verification started as the program starts, before Qt and the workspace's widgets are
imported (about a second): hashing a package's media releases the GIL, so a gigabyte is
mostly checked by the time the window can show it. No Qt here.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from evidence.verify import Result, verify


def start_verification(
    path: Path, fingerprint: str | None, parent_fingerprint: str | None = None
) -> Future[Result]:
    pool = ThreadPoolExecutor(1, thread_name_prefix="lookout-verify")
    try:
        return pool.submit(
            verify, path, fingerprint=fingerprint, parent_fingerprint=parent_fingerprint
        )
    finally:
        pool.shutdown(wait=False)  # the one job still runs; the pool takes no more
