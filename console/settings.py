"""Per-user console settings (QSettings), so each officer's layout and theme persist."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QSettings


class ConsoleSettings:
    def __init__(self, username: str, store: QSettings | None = None) -> None:
        self._s = store or QSettings("Lookout", "console")
        self._prefix = f"users/{username}/"

    def get(self, key: str, default: Any = None) -> Any:
        return self._s.value(self._prefix + key, default)

    def set(self, key: str, value: Any) -> None:
        self._s.setValue(self._prefix + key, value)
        self._s.sync()

    def theme(self) -> str:
        value = str(self.get("theme", "dark"))
        return value if value in ("dark", "light") else "dark"

    def layout(self) -> tuple[QByteArray | None, QByteArray | None]:
        return self.get("window/geometry"), self.get("window/state")

    def save_layout(self, geometry: QByteArray, state: QByteArray) -> None:
        self.set("window/geometry", geometry)
        self.set("window/state", state)

    # map tiles: an XYZ URL template or a local MBTiles file; empty = neutral offline background
    def tile_source(self) -> str:
        return str(self.get("map/tiles", ""))

    def set_tile_source(self, value: str) -> None:
        self.set("map/tiles", value)

    # exercise traffic (pilots' reports) left out of the feed and the map
    def hide_exercise(self) -> bool:
        value = self.get("feed/hide_exercise", False)
        return value is True or str(value).lower() == "true"

    def set_hide_exercise(self, hide: bool) -> None:
        self.set("feed/hide_exercise", bool(hide))
