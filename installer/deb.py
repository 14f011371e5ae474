"""Build the Lookout .deb around a PyInstaller one-folder bundle, with dpkg-deb.

    python installer/deb.py --bundle dist/lookout --version 0.1.0 \
        --depends "pkg1 pkg2 ..." --out dist    # --depends: the Makefile's SYSDEPS

writes dist/lookout_<version>_amd64.deb holding:

- /opt/lookout/: the bundle as it is (every [project.scripts] command, _internal/)
- /usr/bin/<each command>: symlinks into it. The bundle's own
  bootloader finds _internal/ through the symlink, and `lookout` itself turns Chromium's
  sandbox off only when run as root (console/app.py), so a normal user keeps it
- the desktop entry, AppStream metainfo and hicolor icons under the id APP_ID
- the relay service: /usr/lib/systemd/system/lookout-relay.service, its settings
  /etc/lookout/relay.toml (a conffile) and the maintainer scripts that create its user
- /usr/share/doc/lookout/: install.md and copyright

Only the standard library, dpkg-deb, and PySide6 from the project's environment (to draw
the PNG icons, in a child process: installer/icons.py). Files in installer/deb/ are the
package's text; this script only assembles them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEB = HERE / "deb"

PACKAGE = "lookout"
#: the reverse-DNS id of the desktop entry, metainfo and icons (one name everywhere)
APP_ID = "org.lookout.Console"
#: every command of the bundle, as [project.scripts] names them (a new one joins by itself)
PROGRAMS = tuple(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])
PREFIX = Path("opt/lookout")
UNIT = "lookout-relay.service"
CONFFILES = ("/etc/lookout/relay.toml",)
#: needed by the maintainer scripts themselves (adduser/deluser; deb-systemd-helper)
SCRIPT_DEPENDS = ("adduser", "init-system-helpers")
MAINTAINER = "Lookout maintainers <lookout@localhost>"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

_PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_VERSION = re.compile(r"[0-9][A-Za-z0-9.+~-]*")


class BuildError(Exception):
    """The inputs cannot make a package; the message says which and why."""


def check_bundle(bundle: Path) -> None:
    if not bundle.is_dir():
        raise BuildError(f"--bundle {bundle}: not a directory (build the bundle first)")
    for name in PROGRAMS:
        exe = bundle / name
        if not (exe.is_file() and os.access(exe, os.X_OK)):
            raise BuildError(f"--bundle {bundle}: no executable {name} in it")


def parse_depends(text: str) -> list[str]:
    names = text.replace(",", " ").split()
    for name in names:
        if not _PACKAGE_NAME.fullmatch(name):
            raise BuildError(f"--depends: {name!r} is not a Debian package name")
    return list(dict.fromkeys([*names, *SCRIPT_DEPENDS]))


def _release_date() -> str:
    """SOURCE_DATE_EPOCH when set (reproducible builds), else today (UTC)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC)
    return when.strftime("%Y-%m-%d")


def _install(src: Path, dst: Path, mode: int = 0o644) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    dst.chmod(mode)


def _render_icons(root: Path) -> None:
    hicolor = root / "usr/share/icons/hicolor"
    _install(HERE / "icons/lookout.svg", hicolor / "scalable/apps" / f"{APP_ID}.svg")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        subprocess.run(
            [sys.executable, str(HERE / "icons.py"), tmp], check=True, env=env, capture_output=True
        )
        for size in ICON_SIZES:
            png = Path(tmp) / f"{size}x{size}.png"
            _install(png, hicolor / f"{size}x{size}/apps" / f"{APP_ID}.png")


def _normalise_modes(root: Path) -> None:
    """Directories 0755, files 0644 or 0755 (if executable by their owner): the bundle
    arrives with whatever umask built it."""
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = Path(dirpath, d)
            if not p.is_symlink():
                p.chmod(0o755)
        for f in filenames:
            p = Path(dirpath, f)
            if not p.is_symlink():
                p.chmod(0o755 if p.stat().st_mode & 0o100 else 0o644)


def installed_size_kib(root: Path) -> int:
    """As dpkg-gencontrol counts it: each file's size rounded up to KiB, one per other entry."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root / "DEBIAN":
            dirnames.clear()
            continue
        for name in filenames:
            p = Path(dirpath, name)
            total += 1 if p.is_symlink() else -(-p.stat().st_size // 1024)
        total += len(dirnames)
    return max(total, 1)


def control(version: str, depends: list[str], size_kib: int) -> str:
    return (
        f"Package: {PACKAGE}\n"
        f"Version: {version}\n"
        "Architecture: amd64\n"
        f"Maintainer: {MAINTAINER}\n"
        f"Installed-Size: {size_kib}\n"
        f"Depends: {', '.join(depends)}\n"
        "Section: net\n"
        "Priority: optional\n"
        "Description: community-policing control room console and relay\n"
        " Lookout is a community-policing command system. Citizens report what they\n"
        " see from their phones; control-room staff see the reports arrive live on a\n"
        " map and in a feed, chat with the reporter, and broadcast alerts to an area\n"
        " drawn on the map, reaching only the phones inside it that asked for them.\n"
        " .\n"
        " This package holds the desktop console (lookout), the relay server\n"
        " (lookout-relay, with a systemd unit that is not enabled on install) and the\n"
        " citizen simulator (lookout-sim) and the evidence verifier (lookout-evidence), as one"
        " self-contained bundle in /opt/lookout.\n"
    )


def stage(root: Path, bundle: Path, version: str, depends: list[str]) -> None:
    """Lay out the package's tree (and DEBIAN/) in the empty directory `root`."""
    shutil.copytree(bundle, root / PREFIX, symlinks=True)
    bindir = root / "usr/bin"
    bindir.mkdir(parents=True)
    for name in PROGRAMS:
        (bindir / name).symlink_to(Path("/") / PREFIX / name)

    share = root / "usr/share"
    _install(DEB / f"{APP_ID}.desktop", share / "applications" / f"{APP_ID}.desktop")
    metainfo = (DEB / f"{APP_ID}.metainfo.xml").read_text(encoding="utf-8")
    metainfo = metainfo.replace("@VERSION@", version).replace("@DATE@", _release_date())
    (share / "metainfo").mkdir(parents=True)
    (share / "metainfo" / f"{APP_ID}.metainfo.xml").write_text(metainfo, encoding="utf-8")
    _render_icons(root)
    _install(DEB / UNIT, root / "usr/lib/systemd/system" / UNIT)
    _install(DEB / "relay.toml", root / "etc/lookout/relay.toml")
    doc = share / "doc" / PACKAGE
    _install(ROOT / "docs/install.md", doc / "install.md")
    _install(DEB / "copyright", doc / "copyright")
    _normalise_modes(root)

    meta = root / "DEBIAN"
    meta.mkdir()
    for script in ("postinst", "prerm", "postrm"):
        _install(DEB / script, meta / script, 0o755)
    (meta / "conffiles").write_text("".join(f"{c}\n" for c in CONFFILES), encoding="utf-8")
    (meta / "control").write_text(
        control(version, depends, installed_size_kib(root)), encoding="utf-8"
    )
    for name in ("conffiles", "control"):
        (meta / name).chmod(0o644)


def build(bundle: Path, version: str, depends_text: str, out: Path) -> Path:
    if not _VERSION.fullmatch(version):
        raise BuildError(f"--version {version!r}: not a Debian version (e.g. 0.1.0)")
    check_bundle(bundle)
    depends = parse_depends(depends_text)
    if shutil.which("dpkg-deb") is None:
        raise BuildError("dpkg-deb not found: build on Debian or Ubuntu (package dpkg)")
    out.mkdir(parents=True, exist_ok=True)
    deb = out / f"{PACKAGE}_{version}_amd64.deb"
    with tempfile.TemporaryDirectory(prefix="lookout-deb-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir(mode=0o755)
        stage(root, bundle, version, depends)
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return deb


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Build the Lookout .deb from a one-folder bundle.")
    p.add_argument("--bundle", type=Path, required=True, help="the bundle (dist/lookout)")
    p.add_argument("--version", required=True, help="the package version, e.g. 0.1.0")
    p.add_argument(
        "--depends",
        default="",
        help="Debian packages the bundle needs at run time, space-separated (the Makefile's "
        "SYSDEPS); adduser and init-system-helpers are added",
    )
    p.add_argument("--out", type=Path, default=Path("dist"), help="output directory")
    args = p.parse_args(argv)
    try:
        deb = build(args.bundle, args.version, args.depends, args.out)
    except BuildError as exc:
        print(f"deb: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip()
        print(f"deb: {exc.cmd[0]} failed ({exc.returncode}): {detail}", file=sys.stderr)
        return 1
    print(deb)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
