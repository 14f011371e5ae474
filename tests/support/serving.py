"""`lookout-relay serve` as a child process, for the tests that run the real command."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Served:
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    @property
    def url(self) -> str:
        """The relay's wss:// address, from its "listening on" line."""
        return self.text.split("Lookout relay listening on ")[1].split()[0]


@contextmanager
def serving(
    cmd: Sequence[str], until: str, timeout: float = 60.0, **popen: object
) -> Iterator[Served]:
    """Start `cmd`, read its output until a line holds `until` (failing with what it
    printed if it exits or the time runs out), and SIGTERM it on the way out; the caller
    may then check `served.proc.returncode`."""
    proc = subprocess.Popen(
        list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen
    )  # type: ignore[call-overload]
    served = Served(proc)
    try:
        deadline = time.monotonic() + timeout
        assert proc.stdout is not None
        while not any(until in x for x in served.lines):
            assert time.monotonic() < deadline and proc.poll() is None, served.text
            served.lines.append(proc.stdout.readline())
        yield served
    finally:
        proc.terminate()
        proc.wait(timeout=60)
