"""The .deb: built by installer/deb.py, checked with Debian's own tools, installed with
dpkg on this machine (as root), then purged, leaving the machine as it was.

The bundle is $LOOKOUT_BUNDLE, else dist/lookout when it has been built, else a stand-in:
three shell scripts that answer --version and --help, enough to test the packaging itself.
Run with `pytest -m installer tests/installer`.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import stat
import struct
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

#: the first test also builds the package (dpkg-deb compressing a ~730 MB bundle): minutes
#: on a busy 2-core machine, more than the suite's default 300 s per test
pytestmark = [pytest.mark.installer, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "installer"))
import deb as builder  # noqa: E402

from tests.support.serving import serving  # noqa: E402

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
APP_ID = builder.APP_ID
DESKTOP = f"/usr/share/applications/{APP_ID}.desktop"
METAINFO = f"/usr/share/metainfo/{APP_ID}.metainfo.xml"
UNIT = "/usr/lib/systemd/system/lookout-relay.service"
ICONS = [f"/usr/share/icons/hicolor/scalable/apps/{APP_ID}.svg"] + [
    f"/usr/share/icons/hicolor/{n}x{n}/apps/{APP_ID}.png" for n in builder.ICON_SIZES
]
PROGRAMS = tuple(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])
assert builder.PROGRAMS == PROGRAMS and "lookout-evidence" in PROGRAMS

STAND_IN = """#!/bin/sh
case "$1" in
--version) echo "{name} {version} (stand-in bundle)" ;;
--help|-h) echo "usage: {name} [-h] (stand-in bundle)" ;;
*) echo "{name}: stand-in bundle" >&2; exit 2 ;;
esac
"""


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not installed (the Makefile's SYSDEPS_INSTALLER has it)")
    return path


def sysdeps() -> list[str]:
    """The Makefile's SYSDEPS, asked of make itself (no target of the Makefile runs)."""
    need("make")
    out = subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(ROOT),
            "--eval=print-sysdeps: ; @echo $(SYSDEPS)",
            "print-sysdeps",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert len(out) > 20 and "libnss3" in out
    return out


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bool]:
    """(the bundle directory, whether it is the stand-in)."""
    given = os.environ.get("LOOKOUT_BUNDLE")
    if given:
        return Path(given), False
    if (ROOT / "dist" / "lookout" / "lookout").exists():
        return ROOT / "dist" / "lookout", False
    d = tmp_path_factory.mktemp("bundle")
    for name in PROGRAMS:
        (d / name).write_text(STAND_IN.format(name=name, version=VERSION))
        (d / name).chmod(0o755)
    (d / "_internal").mkdir()
    (d / "_internal" / "base_library.zip").write_bytes(b"stand-in")
    return d, True


@pytest.fixture(scope="module")
def deb(bundle: tuple[Path, bool], tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("dpkg-deb")
    out = tmp_path_factory.mktemp("deb")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "installer" / "deb.py"),
            "--bundle",
            str(bundle[0]),
            "--version",
            VERSION,
            "--depends",
            " ".join(sysdeps()),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr
    path = out / f"lookout_{VERSION}_amd64.deb"
    assert done.stdout.strip() == str(path) and path.is_file()
    return path


@pytest.fixture(scope="module")
def tree(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package unpacked (files and DEBIAN/), as dpkg would lay it down."""
    d = tmp_path_factory.mktemp("tree")
    subprocess.run(["dpkg-deb", "-R", str(deb), str(d)], check=True)
    return d


def field(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "--field", str(deb), name], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_control_declares_every_sysdep_and_what_its_scripts_need(deb: Path) -> None:
    assert field(deb, "Package") == "lookout" and field(deb, "Version") == VERSION
    assert field(deb, "Architecture") == "amd64"
    depends = [d.strip() for d in field(deb, "Depends").split(",")]
    missing = [p for p in [*sysdeps(), "adduser", "init-system-helpers"] if p not in depends]
    assert missing == []
    for name in ("Section", "Priority", "Maintainer", "Description"):
        assert field(deb, name), name
    assert int(field(deb, "Installed-Size")) > 0


def test_contents_paths_symlinks_and_owner(deb: Path, tree: Path) -> None:
    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    owners = {line.split()[1] for line in listing}
    assert owners == {"root/root"}  # --root-owner-group
    paths = {line.split()[5].lstrip(".") for line in listing}
    wanted = {
        *(f"/opt/lookout/{p}" for p in PROGRAMS),
        "/opt/lookout/_internal/",
        *(f"/usr/bin/{p}" for p in PROGRAMS),
        DESKTOP,
        METAINFO,
        UNIT,
        "/etc/lookout/relay.toml",
        "/usr/share/doc/lookout/install.md",
        "/usr/share/doc/lookout/copyright",
        *ICONS,
    }
    assert wanted - paths == set()
    for p in PROGRAMS:
        assert os.readlink(tree / f"usr/bin/{p}") == f"/opt/lookout/{p}"
        assert os.access(tree / f"opt/lookout/{p}", os.X_OK)
    assert (tree / "DEBIAN/conffiles").read_text() == "/etc/lookout/relay.toml\n"
    shipped = (tree / "etc/lookout/relay.toml").read_text()
    assert shipped == (ROOT / "installer/deb/relay.toml").read_text()
    for script in ("postinst", "prerm", "postrm"):
        path = tree / "DEBIAN" / script
        assert stat.S_IMODE(path.stat().st_mode) == 0o755
        syntax = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True)
        assert syntax.returncode == 0, syntax.stderr


def test_desktop_file_validates(tree: Path) -> None:
    tool = need("desktop-file-validate")
    path = tree / DESKTOP.lstrip("/")
    done = subprocess.run([tool, str(path)], capture_output=True, text=True)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
    entry = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    assert entry["Exec"] == "lookout" and entry["Icon"] == APP_ID
    assert "--no-sandbox" not in path.read_text()


def test_metainfo_validates_and_names_this_release(tree: Path) -> None:
    path = tree / METAINFO.lstrip("/")
    if shutil.which("appstreamcli"):
        done = subprocess.run(
            ["appstreamcli", "validate", "--no-net", str(path)], capture_output=True, text=True
        )
    else:
        tool = need("appstream-util")
        done = subprocess.run([tool, "validate-relax", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "E:" not in done.stdout and "W:" not in done.stdout, done.stdout
    text = path.read_text()
    assert f'<release version="{VERSION}" date="' in text and "@" not in text
    assert f'<launchable type="desktop-id">{APP_ID}.desktop</launchable>' in text


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_icons_are_rendered_at_their_sizes_and_not_blank(tree: Path) -> None:
    for n in builder.ICON_SIZES:
        path = tree / f"usr/share/icons/hicolor/{n}x{n}/apps/{APP_ID}.png"
        assert png_size(path) == (n, n)
        assert path.stat().st_size > 200  # a transparent square compresses to ~100 bytes
    svg = tree / ICONS[0].lstrip("/")
    assert svg.read_bytes() == (ROOT / "installer/icons/lookout.svg").read_bytes()


def verify_unit(unit: Path) -> str:
    tool = need("systemd-analyze")
    done = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    # verify exits 0 on a mistyped key or value: its warnings are the verdict
    return (done.stdout + done.stderr).strip() + ("" if done.returncode == 0 else " (failed)")


def test_unit_verifies_and_is_hardened(tree: Path, tmp_path: Path) -> None:
    text = (tree / UNIT.lstrip("/")).read_text()
    # systemd-analyze checks ExecStart exists: point it at the unpacked bundle
    unit = tmp_path / "lookout-relay.service"
    unit.write_text(text.replace("/opt/lookout/", f"{tree}/opt/lookout/"))
    assert verify_unit(unit) == ""
    for line in (
        "User=lookout",
        "StateDirectory=lookout",
        "ConfigurationDirectory=lookout",
        "ExecStart=/opt/lookout/lookout-relay serve --config /etc/lookout/relay.toml",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "CapabilityBoundingSet=",
        "SystemCallFilter=@system-service",
    ):
        assert line in text.splitlines(), line
    bad = tmp_path / "bad.service"  # the check can fail
    bad.write_text(unit.read_text().replace("ProtectSystem=", "ProtectSystm="))
    assert "Unknown key" in verify_unit(bad)


# ------------------------------------------------------------------ installed for real


def _installed() -> bool:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Status}", "lookout"], capture_output=True, text=True
    )
    return done.returncode == 0 and done.stdout not in ("", "not-installed", "config-files")


def _exists(name: str, db: str) -> bool:
    try:
        (pwd.getpwnam if db == "passwd" else grp.getgrnam)(name)
    except KeyError:
        return False
    return True


def _unmet(deb: Path) -> list[str]:
    """Depends that no installed package is or provides (dpkg -i would leave it half-set-up)."""
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Status}\t${Package}, ${Provides}\n"],
        capture_output=True,
        text=True,
    )
    have: set[str] = set()
    for line in done.stdout.splitlines():
        status, _, names = line.partition("\t")
        if status == "installed":
            have.update(re.findall(r"([a-z0-9][a-z0-9+.-]+)(?:\s*\([^)]*\))?(?:,|$)", names))
    wanted = [d.strip().split()[0] for d in field(deb, "Depends").split(",")]
    return [w for w in wanted if w not in have]


@pytest.fixture
def installed(deb: Path) -> Iterator[Path]:
    """The package installed with dpkg -i, and purged afterwards whatever happened."""
    if os.geteuid() != 0:
        pytest.skip("installing a .deb needs root (dpkg -i); the checks above ran unprivileged")
    need("dpkg")
    if _installed():
        pytest.skip("a lookout package is already installed here: not touching it")
    if _exists("lookout", "passwd") or Path("/var/lib/lookout").exists():
        pytest.skip("a lookout user or /var/lib/lookout already exists: purge would remove it")
    unmet = _unmet(deb)
    if unmet:
        pytest.skip(f"Depends not installed here (make sysdeps): {' '.join(unmet)}")
    try:
        done = subprocess.run(["dpkg", "-i", str(deb)], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "systemctl enable --now lookout-relay" in done.stdout  # the next steps
        yield deb
    finally:
        if subprocess.run(["dpkg", "-s", "lookout"], capture_output=True).returncode == 0:
            subprocess.run(["dpkg", "--purge", "lookout"], capture_output=True, timeout=600)
        for leftover in ("/var/lib/lookout", "/etc/lookout"):  # a purge that failed midway
            shutil.rmtree(leftover, ignore_errors=True)
        if _exists("lookout", "passwd"):
            subprocess.run(["deluser", "--system", "lookout"], capture_output=True)
        if _exists("lookout", "group"):
            subprocess.run(["delgroup", "--system", "lookout"], capture_output=True)


def run(*cmd: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)


def test_install_run_and_purge(installed: Path, bundle: tuple[Path, bool]) -> None:
    version = run("/usr/bin/lookout", "--version")
    assert version.returncode == 0 and VERSION in version.stdout, version
    helped = run("/usr/bin/lookout-relay", "--help")
    assert helped.returncode == 0 and "usage: lookout-relay" in helped.stdout, helped
    on_path = subprocess.run(
        ["sh", "-c", f"for p in {' '.join(PROGRAMS)}; do command -v $p; done"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    assert on_path.stdout.split() == [f"/usr/bin/{p}" for p in PROGRAMS]
    checked = run("/usr/bin/lookout-evidence", "--version")
    assert checked.returncode == 0 and VERSION in checked.stdout, checked

    user = pwd.getpwnam("lookout")
    assert user.pw_dir == "/var/lib/lookout" and user.pw_shell == "/usr/sbin/nologin"
    assert user.pw_uid < 1000  # a system user
    state = os.stat("/var/lib/lookout")
    assert stat.S_IMODE(state.st_mode) == 0o700 and state.st_uid == user.pw_uid
    conf = os.stat("/etc/lookout/relay.toml")
    assert stat.S_IMODE(conf.st_mode) == 0o640 and conf.st_gid == user.pw_gid
    for path in (DESKTOP, METAINFO, UNIT, *ICONS):
        assert Path(path).is_file(), path
    assert verify_unit(Path(UNIT)) == ""
    # not enabled on a first install (docs/install.md says why)
    assert not Path("/etc/systemd/system/multi-user.target.wants/lookout-relay.service").exists()

    if not bundle[1]:  # the real bundle: the packaged relay runs as its user, from its config
        _serve_as_the_lookout_user()

    purged = run("dpkg", "--purge", "lookout", timeout=600)
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert not _installed()
    assert not _exists("lookout", "passwd") and not _exists("lookout", "group")
    for path in (
        "/opt/lookout",
        "/var/lib/lookout",
        "/etc/lookout",
        DESKTOP,
        METAINFO,
        UNIT,
        *ICONS,
        *(f"/usr/bin/{p}" for p in PROGRAMS),
    ):
        assert not os.path.lexists(path), path


def _serve_as_the_lookout_user() -> None:
    # loopback here, whatever the file says (flags win over it); no metrics listener.
    # setpriv execs the relay as the service user (as systemd's User= does), so the
    # SIGTERM at the end reaches the relay itself; runuser would fork and die of it
    cmd = [
        *("setpriv", "--reuid=lookout", "--regid=lookout", "--init-groups", "--reset-env"),
        *("/usr/bin/lookout-relay", "serve", "--config", "/etc/lookout/relay.toml"),
        *("--host", "127.0.0.1", "--port", "0", "--no-metrics"),
    ]
    with serving(cmd, "fingerprint", timeout=120, cwd="/") as served:
        ca = Path("/var/lib/lookout/tls/ca.pem")
        assert ca.exists() and ca.stat().st_uid == pwd.getpwnam("lookout").pw_uid
    assert served.proc.returncode == 0, "the relay did not stop cleanly on SIGTERM"
