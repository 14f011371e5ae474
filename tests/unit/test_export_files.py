"""Export files (backend_client/exports/files.py): mode 0600 whatever the umask, written
whole or not at all, and a symlink planted at a name an attacker could guess (the old
`.NAME.PID.tmp`) is never followed."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend_client.exports import files
from console.exports import model as em


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o022)  # a usual login's: 0644 for a plain open()
    try:
        yield
    finally:
        os.umask(old)


def _plant(target: Path, victim: Path) -> Path:
    link = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    link.symlink_to(victim)
    return link


@pytest.mark.usefixtures("open_umask")
@pytest.mark.parametrize("write", [files.write_private, em.write_atomically])
def test_mode_0600_and_a_planted_symlink_is_not_followed(tmp_path: Path, write: object) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    target = tmp_path / "out.csv"
    link = _plant(target, victim)
    write(target, b"citizen words")  # type: ignore[operator]
    assert target.read_bytes() == b"citizen words"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert victim.read_bytes() == b"precious" and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([victim.name, link.name, "out.csv"])


@pytest.mark.usefixtures("open_umask")
def test_an_existing_file_becomes_0600(tmp_path: Path) -> None:
    target = tmp_path / "out.kml"
    target.write_bytes(b"old")
    target.chmod(0o644)
    files.write_private(target, b"new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and target.read_bytes() == b"new"


def test_failure_before_replace_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.geojson"
    target.write_bytes(b"old")

    def refuse() -> None:
        raise RuntimeError("audit failed")

    with pytest.raises(RuntimeError):
        files.write_private(target, b"new", before_replace=refuse)
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]
