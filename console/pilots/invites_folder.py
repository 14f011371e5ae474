"""A batch of invite codes saved as the pilot's organisers hand them out: one QR PNG per
code and the printable sheet `invites.pdf`, in a folder of the batch's own.

The same cards as `lookout-pilot invites` writes (`backend_client.pilots.running` makes
them, `console.pilots.invites_sheet` prints them), only in this process: the console has
Qt already. Blocking (files and a PDF): the pane runs it off the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backend_client import messages as m
from backend_client.pilots import running
from console.pilots import invites_sheet


@dataclass(frozen=True)
class Saved:
    folder: Path
    pngs: int
    sheet: Path
    pages: int


def save_invites(got: m.PilotInvites, title: str, portal_url: str, folder: Path) -> Saved:
    """Write the batch into `folder` (made; it must not exist yet, so nothing of an
    earlier batch is overwritten)."""
    folder.mkdir(parents=True, exist_ok=False)
    for code in got.codes:
        running.save_png(portal_url, code, folder)
    cards = [running.card(title, got.group, c, portal_url, got.expires_at) for c in got.codes]
    sheet = folder / "invites.pdf"
    pages = invites_sheet.write_sheet(cards, sheet)
    return Saved(folder, len(got.codes), sheet, pages)
