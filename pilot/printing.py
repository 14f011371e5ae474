"""Running the console's printers (Qt's PDF writer) from the pilot tools, in a child
process: this package imports no Qt. Offscreen unless QT_QPA_PLATFORM says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


class PrintError(RuntimeError):
    """A console printer failed or timed out; the message says which and why."""


def run_console_tool(
    module: str, args: list[str], output: Path, what: str, timeout_s: float = 300.0
) -> None:
    """`python -m MODULE ARGS...`; PrintError unless it exits 0 and `output` exists."""
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        done = subprocess.run(
            [sys.executable, "-m", module, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as exc:
        raise PrintError(f"{what} took over {timeout_s:.0f} s") from exc
    if done.returncode != 0 or not output.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PrintError(f"{what} failed: " + " | ".join(tail))
