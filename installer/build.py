"""Builds the desktop bundle: `dist/lookout/` (one folder, one executable per console
script of pyproject.toml, see installer/lookout.spec), then
`dist/lookout-<version>-linux-<machine>.tar.gz` of it, unpacking to `lookout-<version>/`.

`make installer` runs it with the project's venv, and so does tests/installer/test_bundle.py
when dist/ is older than the sources. Prints one JSON object: the paths, the build time and
the bundle's size.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "installer" / "lookout.spec"
DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"
BUNDLE = DIST / "lookout"


def version() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return str(project["version"])


def tarball() -> Path:
    return DIST / f"lookout-{version()}-linux-{platform.machine()}.tar.gz"


def size_bytes(folder: Path) -> int:
    """What the folder takes unpacked (files and links, not following links)."""
    return sum(p.lstat().st_size for p in folder.rglob("*") if not p.is_dir() or p.is_symlink())


def build() -> dict[str, object]:
    start = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean"]
        + ["--workpath", str(WORK), "--distpath", str(DIST), str(SPEC)],
        cwd=ROOT,
        check=True,
    )
    bundled = time.monotonic()
    out = tarball()
    part = out.with_name(out.name + ".part")
    # GNU tar: stable order and owners, so the same bundle gives the same listing
    subprocess.run(
        ["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner"]
        + ["--transform", f"s,^lookout,lookout-{version()},S"]
        + ["-C", str(DIST), "-czf", str(part), "lookout"],
        check=True,
    )
    os.replace(part, out)
    return {
        "bundle": str(BUNDLE.relative_to(ROOT)),
        "tarball": str(out.relative_to(ROOT)),
        "pyinstaller_s": round(bundled - start, 1),
        "total_s": round(time.monotonic() - start, 1),
        "bundle_mb": round(size_bytes(BUNDLE) / 1e6, 1),
        "tarball_mb": round(out.stat().st_size / 1e6, 1),
    }


if __name__ == "__main__":
    print(json.dumps(build()))
