"""The Help menu's content without Qt: the guide is found, licences are read from the
installed metadata, and shortcut rows come from actions."""

from __future__ import annotations

from pathlib import Path

from console.help.model import (
    PARTS,
    Part,
    about_text,
    action_name,
    guide_path,
    licence_lines,
    shortcut_rows,
)


def test_the_dispatchers_guide_is_found_and_a_missing_one_is_none(tmp_path: Path) -> None:
    path = guide_path("dispatcher")
    assert path is not None and path.name == "guide-dispatcher.md"
    assert guide_path("dispatcher", root=tmp_path) is None


def test_licences_come_from_the_installed_metadata() -> None:
    lines = licence_lines()
    assert len(lines) == len(PARTS)
    pyside = next(line for line in lines if line.startswith("Qt for Python (PySide6) 6."))
    assert "LGPL-3.0" in pyside
    assert any(line.startswith("Leaflet: BSD-2-Clause") for line in lines)
    assert any(line.startswith("folium ") and "MIT" in line for line in lines)
    # a part that is not installed says what it is released under, without a version
    assert licence_lines([Part("Nothing", "no-such-dist-xyz", "MIT")]) == ["Nothing: MIT"]


def test_about_names_the_version_relay_user_and_licences() -> None:
    text = about_text("1.2.3", "wss://relay:8765", "dana")
    assert text.startswith("Lookout 1.2.3\n")
    assert "Relay: wss://relay:8765" in text and "Signed in as: dana" in text
    assert "Apache-2.0" in text and "LGPL" in text and "Leaflet" in text


def test_shortcut_rows_are_sorted_named_and_once() -> None:
    assert action_name("Sign &out") == "Sign out"
    assert action_name("Change &password…") == "Change password"
    assert action_name("Salt && pepper") == "Salt & pepper"
    rows = shortcut_rows(
        [
            ("&Quit", "Ctrl+Q"),
            ("Dispatcher's &guide", "F1"),
            ("&Light theme", ""),
            ("&Quit", "Ctrl+Q"),
        ]
    )
    assert rows == [("Dispatcher's guide", "F1"), ("Quit", "Ctrl+Q")]
