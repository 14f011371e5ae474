"""Where `lookout --run-pilot` keeps its runs' logs (how plan time ran, when prompts were
shown: `backend_client.pilots.timemap.RunLog`), so Review… can map a real pilot's plan
time afterwards: one JSON file per run in the console's data folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths

from backend_client.pilots.timemap import RunLog, RunLogError


def runs_dir() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".lookout") / "pilot-runs"


def logs_of(pilot_id: str, directory: Path | None = None) -> list[tuple[Path, RunLog]]:
    """The saved runs of a pilot, newest first (files that cannot be read are left out)."""
    found = []
    for path in sorted((directory or runs_dir()).glob("*.run.json")):
        try:
            log = RunLog.load(path)
        except RunLogError:
            continue
        if log.pilot_id == pilot_id:
            found.append((path, log))
    return sorted(found, key=lambda f: f[1].segments[0].at, reverse=True)
