"""The verification result, prominent above everything else in the workspace.

It says "Verifying…" until the worker thread is done, then green (verified, pinned
signer), amber (verified, signer not pinned) or red (failed, every failed check listed).
Between the two, once the signature and records have verified, it says so and how far the
media check is ("checking", not yet a verdict). Problems added beside the verdict (what
the reader could not read) stay listed when the verdict follows.
Everything it shows is plain text: a tampered package may hold markup in its file names.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QListWidget, QVBoxLayout

from console.evidence.model import Verdict
from console.theme import current

_COLOUR = {"verified": "success", "unpinned": "warning", "failed": "danger", "checking": "muted"}


class VerificationBanner(QFrame):
    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("verification-banner")
        self.verdict: Verdict | None = None
        #: problems added with `add_problems`, and whether each is about the package
        self._problems: list[tuple[str, bool]] = []
        self.headline = QLabel("Verifying the package…")
        self.headline.setTextFormat(Qt.TextFormat.PlainText)
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.headline.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.headline.setFont(font)
        self.failures = QListWidget()
        self.failures.setMaximumHeight(120)
        self.failures.setWordWrap(True)  # a failure names a hash: show all of it
        self.failures.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.failures.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 6, 10, 6)
        lay.addWidget(self.headline)
        lay.addWidget(self.failures)
        self._paint("muted")

    def show_verdict(self, verdict: Verdict) -> None:
        self.verdict = verdict
        self.headline.setText(verdict.headline)
        self.failures.clear()
        self.failures.addItems([*verdict.failures, *(text for text, _ in self._problems)])
        self.failures.setVisible(self.failures.count() > 0)
        about_package = any(about for _, about in self._problems)
        self._paint("danger" if about_package else _COLOUR[verdict.level])

    def add_problems(self, problems: list[str], *, about_package: bool = True) -> None:
        """What the package reader could not read: listed with the failures, in red. A
        problem of the review's own files (the notes) is listed without turning a package
        that verified red: it does not make the package unsound."""
        self._problems += [(text, about_package) for text in problems]
        self.failures.addItems(problems)
        self.failures.show()
        if about_package:
            self._paint("danger")

    def show_error(self, text: str) -> None:
        """Verification itself could not run: as bad as a failure, and said so."""
        self.show_verdict(Verdict("failed", f"VERIFICATION COULD NOT RUN: {text}"))

    def _paint(self, role: str) -> None:
        colours = current()
        self.setStyleSheet(
            f"#verification-banner {{ border: 2px solid {colours[role]}; border-radius: 4px; }}"
            f"#verification-banner QLabel {{ color: {colours[role]}; }}"
        )
