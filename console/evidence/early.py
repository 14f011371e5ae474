"""Verification started as the program starts, before Qt and the workspace's widgets are
imported (about a second): hashing a package's media releases the GIL, so much of it is
checked by the time the window can show it. No Qt here.

It runs in two stages (`evidence.verify.Verification`): `structure` resolves once the
manifest, signature, pin, Merkle root, records and audit chain have been checked (what the
workspace needs before it shows the package), `final` once every media file has been
hashed too (the verdict). `progress` is the media stage's latest `Progress`, for a reader
on any thread to poll. With `hold_media`, the media stage waits after a first stage that
passed until `release_media()` (the workspace releases it once it has shown the package:
hashing beside Qt's start and the first paint slows both on two cores), or `HOLD_BOUND_S`
at most, so a verdict is never withheld because nobody released it. Callbacks added with `add_done_callback` run on the verifying
thread (or at once, if the stage is already over).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from evidence.verify import Cancelled, Progress, Result, Verification

#: the longest a held media stage waits for `release_media`
HOLD_BOUND_S = 10.0


class StagedVerification:
    def __init__(
        self, on_progress: Callable[[Progress], None] | None = None, *, hold_media: bool = False
    ) -> None:
        #: the first stage's result: `holds_so_far` says whether it passed
        self.structure: Future[Result] = Future()
        #: the final result, exactly `verify`'s
        self.final: Future[Result] = Future()
        #: the media stage's latest progress (None before it starts)
        self.progress: Progress | None = None
        self._cancelled = threading.Event()
        self._on_progress = on_progress
        self._go = threading.Event()
        if not hold_media:
            self._go.set()

    def cancel(self) -> None:
        """Stop hashing media (the window closed): `final` then fails with `Cancelled`."""
        self._cancelled.set()
        self._go.set()

    def release_media(self) -> None:
        """Let a held media stage start (harmless if it was not held or has started)."""
        self._go.set()

    def _report(self, progress: Progress) -> None:
        if self._cancelled.is_set():
            raise Cancelled("the media check was stopped")
        self.progress = progress
        if self._on_progress is not None:
            self._on_progress(progress)

    def run(self, checking: Verification) -> None:
        """Both stages, here and now (`start_verification` runs this on its own thread)."""
        try:
            first = checking.structure()
        except BaseException as exc:
            checking.close()
            self.structure.set_exception(exc)
            self.final.set_exception(exc)
            return
        self.structure.set_result(first)
        if first.holds_so_far:  # after a failure, the verdict is all that is waited for
            self._go.wait(HOLD_BOUND_S)
        try:
            final = checking.media(self._report)
        except BaseException as exc:
            self.final.set_exception(exc)
            return
        self.final.set_result(final)


def start_verification(
    path: Path,
    fingerprint: str | None,
    *,
    parent_fingerprint: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    hold_media: bool = False,
) -> StagedVerification:
    """Verify `path` on a thread of its own, in two stages. `on_progress` is called on that
    thread with each media progress report, before the next file is hashed; `hold_media`
    holds the media stage until `release_media()` (see above)."""
    staged = StagedVerification(on_progress, hold_media=hold_media)
    checking = Verification(path, fingerprint=fingerprint, parent_fingerprint=parent_fingerprint)
    threading.Thread(
        target=staged.run, args=(checking,), name="lookout-verify", daemon=False
    ).start()
    return staged
