"""How the console words a citizen's erasure (`report.erased`), once for every pane.

Pure text, no Qt: the detail pane, the chat and the map's popups say the same thing.
"""

from __future__ import annotations

#: where an erased report was showing (the detail pane, an open conversation)
ERASED_TEXT = "This report was erased at the citizen's request."
#: after the reporter's pseudonym on a kept report whose citizen erased their data
TOMBSTONE_NOTE = "erased their data; report kept for the incident"


def reporter_text(reporter: str, tombstoned: bool) -> str:
    """The reporter as a pane shows it: a kept report's tombstone says it is one, so no
    officer tries to reach a citizen who is no longer there."""
    return f"{reporter} ({TOMBSTONE_NOTE})" if tombstoned else reporter
