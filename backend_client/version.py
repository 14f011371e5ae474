"""Lookout's one version string: `project.version` of pyproject.toml, as installed.

Every command's `--version`, the console's About box, the bundle's name and the .deb all
read it from here (the bundle carries the distribution's metadata for it)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["lookout_version"]


def lookout_version() -> str:
    """The installed distribution's version; "0+unknown" when run from an uninstalled tree."""
    try:
        return version("lookout")
    except PackageNotFoundError:
        return "0+unknown"
