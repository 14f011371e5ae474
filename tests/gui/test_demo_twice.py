"""`lookout --demo` twice on one `--data-dir`: the second run shows only its own shift.

Each demo starts a new embedded relay (a new certificate, a new event log). Before issue
13 the console kept the first relay's cache and showed that shift, frozen, as "Live". Now
the cache names its relay: the second run sets the old cache aside (kept, not deleted)
and fills a fresh one from the new relay. Run as a user runs it: the `lookout` command in
a child process, twice.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.gui.test_app_live import _lookout

pytestmark = [pytest.mark.gui, pytest.mark.slow]


def _cache(path: Path) -> tuple[set[str], str | None]:
    """(report ids, relay identity) in a console cache file, read as plain SQLite."""
    with sqlite3.connect(path) as db:
        ids = {row[0] for row in db.execute("SELECT report_id FROM reports")}
        relay = db.execute("SELECT value FROM relay WHERE key = 'identity'").fetchone()
    return ids, None if relay is None else relay[0]


def test_the_demo_twice_on_one_data_dir_shows_only_the_new_shift(tmp_path: Path) -> None:
    home = tmp_path / "console-home"
    runs = []
    for n in (1, 2):
        shot = tmp_path / f"run{n}.png"
        done = _lookout(
            tmp_path, "--demo", "--devices", "40", "--data-dir", str(home),
            "--screenshot", str(shot), "--quit-after", "10",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append((_cache(home / "cache.sqlite"), done.stderr))
    (first_ids, first_relay), _ = runs[0]
    (second_ids, second_relay), log = runs[1]
    assert first_ids, "the first demo shift had reports"
    assert second_ids, "the second demo shift had reports"
    assert first_relay and second_relay and first_relay != second_relay
    assert not first_ids & second_ids, "the second run's cache holds the first relay's reports"
    assert "holds the data of another relay" in log
    kept = [
        p
        for p in home.iterdir()
        if p.name.startswith("cache.sqlite.other-relay-") and not p.name.endswith(("-wal", "-shm"))
    ]
    assert len(kept) == 1, "the first shift's cache is kept aside, not deleted"
    assert _cache(kept[0])[0] == first_ids
