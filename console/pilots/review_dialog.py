"""Review…'s form: the plan the pilot ran, how its plan time maps to the relay's clock,
and the folder the review is saved in. It only collects choices; the pane sends
`pilot.review` and saves the answer."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QDateTime
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QFileDialog,
    QFormLayout,
    QLineEdit,
    QWidget,
)

from backend_client import messages as m
from backend_client.pilots.timemap import RunLog
from console.common.labels import plain_label
from console.pilots import pilots_model as pm
from console.pilots.form_parts import lay_out, with_browse

MODES: tuple[tuple[pm.ReviewMode, str], ...] = (
    ("dates", "At the plan's dates and times"),
    ("start", "From a start time (plan time 0 then, never paused)"),
    ("run_log", "From a saved run (lookout --run-pilot's log, with its pauses)"),
)


class ReviewDialog(QDialog):
    def __init__(
        self,
        info: m.PilotInfo,
        plan: Path | None,
        logs: list[tuple[Path, RunLog]],
        folder: Path,
        parent: QWidget | None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Review — {info.pilot_id}")
        self.info = info
        form = QFormLayout()
        form.addRow("Pilot", plain_label(f"{info.title} ({info.state})"))
        self.plan = QLineEdit(str(plan) if plan else "")
        self.plan.setToolTip("The plan file (TOML) the pilot was created from")
        form.addRow("Plan", with_browse(self.plan, self._browse_plan))
        self.mode = QComboBox()
        for key, label in MODES:
            self.mode.addItem(label, key)
        form.addRow("Plan time", self.mode)
        self.started = QDateTimeEdit(QDateTime.currentDateTime())
        self.started.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
        self.started.setCalendarPopup(True)
        self.started.setToolTip("When Start was pressed (your computer's time zone)")
        form.addRow("Started at", self.started)
        self.run_log = QComboBox()
        for path, log in logs:
            self.run_log.addItem(_log_label(log), str(path))
        form.addRow("Run log", with_browse(self.run_log, self._browse_log))
        self.folder = QLineEdit(str(folder))
        form.addRow("Save in", with_browse(self.folder, self._browse_folder))
        self.note = plain_label(
            "The relay computes the metrics from its own records; a new folder gets "
            "metrics.json, metrics.csv and report.pdf."
        )
        lay_out(self, form, "Review", self.note)
        # a saved run is the best mapping there is when there is one
        self.choose_mode("run_log" if logs else "dates")
        self.mode.currentIndexChanged.connect(self._enable)
        self._enable()

    def choose_mode(self, mode: pm.ReviewMode) -> None:
        self.mode.setCurrentIndex(next(i for i, (k, _) in enumerate(MODES) if k == mode))

    def chosen_mode(self) -> pm.ReviewMode:
        return next(k for k, _ in MODES if k == self.mode.currentData())

    def started_at(self) -> float:
        return self.started.dateTime().toSecsSinceEpoch() * 1.0

    def run_log_path(self) -> Path | None:
        data = self.run_log.currentData()
        return Path(str(data)) if data else None

    def add_run_log(self, path: Path, log: RunLog) -> None:
        self.run_log.insertItem(0, _log_label(log), str(path))
        self.run_log.setCurrentIndex(0)

    def _enable(self) -> None:
        mode = self.chosen_mode()
        self.started.setEnabled(mode == "start")
        self.run_log.setEnabled(mode == "run_log")

    def _browse_plan(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "The pilot's plan", self.plan.text(), "Pilot plans (*.toml)"
        )
        if chosen:
            self.plan.setText(chosen)

    def _browse_log(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "A pilot run's log", "", "Pilot run logs (*.run.json)"
        )
        if chosen:
            try:
                log = RunLog.load(Path(chosen))
            except ValueError as exc:
                self.note.setText(str(exc))
                return
            self.add_run_log(Path(chosen), log)
            self.choose_mode("run_log")

    def _browse_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Save the review in", self.folder.text())
        if chosen:
            self.folder.setText(chosen)


def _log_label(log: RunLog) -> str:
    first = QDateTime.fromSecsSinceEpoch(int(log.segments[0].at)).toString("yyyy-MM-dd HH:mm")
    pauses = len(log.segments) - 1
    return f"run started {first}, {pauses} pause{'s' if pauses != 1 else ''} ({log.pilot_id})"
