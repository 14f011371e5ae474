"""What the Help menu shows, worked out without Qt: where the guide is, the licences of
Lookout and the main parts it is built from (read from the installed packages' metadata
where they say), and the keyboard shortcuts as rows.
"""

from __future__ import annotations

import importlib.metadata as md
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: the checkout's root, or `_internal/` in the bundle (installer/lookout.spec ships docs/)
ROOT = Path(__file__).resolve().parents[2]


def guide_path(role: str = "dispatcher", root: Path = ROOT) -> Path | None:
    """The role's guide (docs/guide-<role>.md), or None when it is not installed."""
    path = root / "docs" / f"guide-{role}.md"
    return path if path.is_file() else None


@dataclass(frozen=True)
class Part:
    name: str  # as people know it
    distribution: str | None  # the installed package to read version and licence from
    licence: str  # what it is released under when the metadata does not say
    note: str = ""


#: the main third-party parts of the console; the full list is docs/dependencies.md
PARTS: tuple[Part, ...] = (
    Part("Qt", "PySide6_Essentials", "LGPL-3.0-only", "through Qt for Python"),
    Part("Qt for Python (PySide6)", "PySide6", "LGPL-3.0-only"),
    Part("Qt WebEngine (Chromium)", None, "LGPL-3.0-only; Chromium: BSD-3-Clause and others"),
    Part("Leaflet", None, "BSD-2-Clause", "the map, shipped by folium-offline"),
    Part("folium", "folium", "MIT"),
    Part("folium-offline", "folium-offline", "MIT"),
    Part("qasync", "qasync", "BSD-2-Clause"),
    Part("websockets", "websockets", "BSD-3-Clause"),
    Part("msgspec", "msgspec", "BSD-3-Clause"),
    Part("SQLAlchemy", "SQLAlchemy", "MIT"),
    Part("cryptography", "cryptography", "Apache-2.0 OR BSD-3-Clause"),
    Part("NumPy", "numpy", "BSD-3-Clause"),
    Part("Shapely", "shapely", "BSD-3-Clause"),
    Part("keyring", "keyring", "MIT"),
)

_LICENCE_CLASSIFIER = re.compile(r"^License :: (?:OSI Approved :: )?(.+)$")


def _installed(distribution: str) -> tuple[str | None, str | None]:
    """(version, licence) from the installed metadata; (None, None) if not installed."""
    try:
        meta = md.metadata(distribution)
    except md.PackageNotFoundError:
        return None, None
    fields = meta.json  # lower-case keys; "classifier" is a list
    licence = fields.get("license_expression")
    if not licence:
        classifiers = [
            found.group(1)
            for c in fields.get("classifier", [])
            if (found := _LICENCE_CLASSIFIER.match(c))
        ]
        licence = "; ".join(classifiers) or None
    if not licence:
        short = str(fields.get("license", "")).strip()
        licence = short if short and "\n" not in short and len(short) < 80 else None
    return str(fields.get("version")), str(licence) if licence else None


def licence_lines(parts: Iterable[Part] = PARTS) -> list[str]:
    """One line per part: name, version when installed, licence."""
    lines = []
    for part in parts:
        version, licence = _installed(part.distribution) if part.distribution else (None, None)
        name = f"{part.name} {version}" if version else part.name
        note = f" ({part.note})" if part.note else ""
        lines.append(f"{name}: {licence or part.licence}{note}")
    return lines


def lookout_licence() -> str:
    _version, licence = _installed("lookout")
    return licence or "Apache-2.0"


def about_text(version: str, relay_url: str, username: str) -> str:
    """The About box, plain text (the relay address is not ours to trust as HTML)."""
    return "\n".join(
        [
            f"Lookout {version}",
            "Community-policing command system: citizen reports, the control room's map and "
            "feed, chat with reporters and geofenced alerts.",
            "",
            f"Relay: {relay_url}",
            f"Signed in as: {username or '(nobody)'}",
            "",
            f"Lookout is released under the {lookout_licence()} licence.",
            "Built with (name, version, licence):",
            *(f"  {line}" for line in licence_lines()),
            "",
            "Qt and Qt for Python are used under the LGPL version 3; their source is "
            "available from qt.io. The full list is in docs/dependencies.md.",
        ]
    )


def action_name(text: str) -> str:
    """A menu text as read aloud: 'Sign &out' -> 'Sign out', '&&' -> '&', no ellipsis."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").strip()


def shortcut_rows(actions: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(what, keys) rows from (action text, its shortcuts as text), sorted by what, each
    once; actions without a shortcut are left out."""
    rows = {(action_name(text), keys) for text, keys in actions if keys and text}
    return sorted(rows, key=lambda r: (r[0].lower(), r[1]))
