"""The inspector's workspace window: the plan editor beside the live console's map.

It only composes: the plan editor (`console.pilots.workspace`) and the map widget
(`console.map.widget`), which may not import each other. The map shows the plan's area
and zones as outlines and draws a new area with its own drawing tool (the one the alert
composer uses); a drawn ring goes into the plan through the editor. Offline: the map's
session has a client that is never started, so nothing is sent anywhere.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from backend_client import messages as m
from backend_client.client import ClientConfig, Credentials, RelayClient
from backend_client.outbox import Outbox
from backend_client.pilots import PlanError
from console.common.labels import plain_label
from console.map.widget import MapWidget
from console.pilots.plan_edit import PlanEdit, counted
from console.pilots.workspace import PlanWorkspace
from console.session import ConsoleSession
from console.settings import ConsoleSettings

#: never contacted: the map's session is never started
_NO_RELAY = ClientConfig(url="wss://plan.invalid:1")
AREA_ID = "plan-area"
Button = QMessageBox.StandardButton


class OfflineSession(ConsoleSession):
    """A session with no relay, for the map: no reports, no alerts, nothing sent."""

    def __init__(self) -> None:
        self._home = Path(tempfile.mkdtemp(prefix="lookout-plan-"))
        client = RelayClient(
            _NO_RELAY, Credentials("inspector", "", lambda: None), Outbox(self._home / "o.sqlite")
        )
        super().__init__(client)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.client.outbox.close()
        shutil.rmtree(self._home, ignore_errors=True)


def open_or_new(path: Path) -> PlanEdit:
    """The plan at `path`, or a new one from the template if there is no file there yet;
    PlanError if the file is there but is not a plan."""
    return PlanEdit.open(path) if path.exists() else PlanEdit.new(path)


class InspectorWindow(QMainWindow):
    closed = Signal()

    def __init__(
        self, edit: PlanEdit, settings: ConsoleSettings, *, map_cache_dir: Path | None = None
    ) -> None:
        super().__init__()
        self.resize(1600, 960)
        self.session = OfflineSession()
        self.map = MapWidget(self.session, settings, cache_dir=map_cache_dir)
        self.map.area_drawn.connect(self._area_drawn)
        self.map.show_alert_tools(False)  # a circle or a heat map mean nothing for a plan
        self.message = plain_label(selectable=False, wrap=False)
        self.statusBar().addWidget(self.message, 1)
        self._zones: set[str] = set()
        self._shown: Any = None
        self._discard = False
        self.workspace: PlanWorkspace = self._use(edit)
        self._menus()
        where = edit.path.name if edit.path else "a new plan"
        self.say(
            f"Opened {where}."
            if not edit.dirty
            else f"A new plan for {where}: draw its area, then save."
        )

    @property
    def edit(self) -> PlanEdit:
        return self.workspace.edit

    # ------------------------------------------------------------ composing

    def _use(self, edit: PlanEdit) -> PlanWorkspace:
        old = self.centralWidget()
        workspace = PlanWorkspace(edit)
        workspace.set_map(self.map)
        workspace.draw_area_requested.connect(self.draw_area)
        workspace.document.changed.connect(self._plan_changed)
        self.setCentralWidget(workspace)
        if old is not None:
            old.deleteLater()
        self.workspace = workspace
        self._shown = None
        self._plan_changed(fit=True)
        return workspace

    def _menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        for text, key, slot in (
            ("&New plan", QKeySequence.StandardKey.New, self.new_plan),
            ("&Open plan…", QKeySequence.StandardKey.Open, self.open_plan),
            ("&Save", QKeySequence.StandardKey.Save, self.save),
            ("Save &as…", QKeySequence.StandardKey.SaveAs, self.save_as),
            ("&Close", QKeySequence.StandardKey.Close, self.close),
        ):
            action = QAction(text, self)
            action.setShortcut(key)
            action.triggered.connect(lambda _=False, s=slot: s())
            file.addAction(action)
        plan = self.menuBar().addMenu("&Plan")
        draw = QAction("&Draw area on the map", self)
        draw.triggered.connect(self.draw_area)
        plan.addAction(draw)

    # ------------------------------------------------------------ the map

    def draw_area(self) -> None:
        self.map.draw("polygon")
        self.say(
            "Click the corners of the pilot area on the map; click the first corner to finish."
        )

    def _area_drawn(self, area: m.Polygon | m.Circle) -> None:
        if not isinstance(area, m.Polygon):
            self.map.clear_drawn()
            self.say("A pilot area is a polygon: use Draw area, not Draw circle.")
            return
        problem = self.workspace.take_area(list(area.coordinates))
        if problem is not None:
            self.say(problem.message)
            return
        self.map.clear_drawn()
        self.say(f"The pilot area is the polygon you drew ({len(area.coordinates)} corners).")

    def _plan_changed(self, fit: bool = False) -> None:
        edit = self.edit
        name = edit.path.name if edit.path else "new plan"
        self.setWindowTitle(f"Lookout inspector — {name}{' •' if edit.dirty else ''}")
        shapes = (edit.get(("area",)), edit.get(("zones",)), edit.get(("area_description",)))
        if shapes == self._shown:
            return
        self._shown = copy.deepcopy(shapes)
        area = _polygon(edit.get(("area", "coordinates")))
        if area is not None:
            words = str(edit.get(("area_description",), "") or "") or "Pilot area"
            self.map.show_outline(AREA_ID, area, words, "pilot area", fit=fit)
        zones: set[str] = set()
        for n, zone in enumerate(edit.rows(("zones",))):
            ring = _polygon(zone.get("coordinates"))
            if ring is None:
                continue
            zid = f"plan-zone-{n}"
            zones.add(zid)
            self.map.show_outline(zid, ring, str(zone.get("name", "")), "zone", dashed=True)
        for gone in self._zones - zones:
            self.map.hide_outline(gone)
        self._zones = zones

    # ------------------------------------------------------------ files

    def ask(self, title: str, text: str, buttons: Button, default: Button) -> Button:
        """A question in a message box (plain text: it may quote the plan); tests replace it."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, buttons, self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setDefaultButton(default)
        return Button(box.exec())

    def choose_file(self, saving: bool) -> Path | None:
        """A file dialog; tests replace it."""
        start = str(self.edit.path.parent if self.edit.path else Path.cwd())
        if saving:
            name, _ = QFileDialog.getSaveFileName(
                self, "Save plan as", start, "Pilot plans (*.toml)"
            )
        else:
            name, _ = QFileDialog.getOpenFileName(self, "Open plan", start, "Pilot plans (*.toml)")
        return Path(name) if name else None

    def save(self) -> bool:
        if self.edit.path is None:
            return self.save_as()
        return self._save_to(self.edit.path)

    def save_as(self) -> bool:
        path = self.choose_file(saving=True)
        if path is None:
            return False
        if path.suffix != ".toml":
            path = path.with_suffix(".toml")
        stem = path.stem
        if self.edit.get(("name",)) != stem and self.edit.plan is not None:
            self.edit.rename(stem)  # a plan's name is its file's name (lookout-pilot checks)
        return self._save_to(path)

    def _save_to(self, path: Path) -> bool:
        edit = self.edit
        if not edit.can_save:
            issue = edit.issues[0]
            self.workspace.go_to(issue.locator)
            words = self.workspace.problems.words(issue)
            self.ask(
                "The plan cannot be saved",
                f"{words}\n\nFix this field first; nothing was written.",
                Button.Ok,
                Button.Ok,
            )
            self.say("Not saved: " + words)
            return False
        if edit.issues:
            answer = self.ask(
                "Save a plan with problems?",
                f"The plan has {counted(len(edit.issues), 'problem')}, starting with:\n\n"
                f"{self.workspace.problems.words(edit.issues[0])}\n\nIt can be saved as a draft and opened here again, "
                "but lookout-pilot will not rehearse it until they are fixed.",
                Button.Save | Button.Cancel,
                Button.Cancel,
            )
            if answer != Button.Save:
                self.say("Not saved.")
                return False
        try:
            edit.save(path)
        except OSError as exc:
            self.ask(
                "The plan was not saved",
                f"{path} could not be written ({exc.strerror}). Choose another folder.",
                Button.Ok,
                Button.Ok,
            )
            return False
        self.say(f"Saved {path.name}.")
        return True

    def _may_leave(self) -> bool:
        """True once unsaved changes are saved or given up (asked first)."""
        if self._discard or not self.edit.dirty:
            return True
        answer = self.ask(
            "Unsaved changes",
            "The plan has changes that are not saved. Save them?",
            Button.Save | Button.Discard | Button.Cancel,
            Button.Save,
        )
        if answer == Button.Save:
            return self.save()
        return answer == Button.Discard

    def new_plan(self) -> None:
        if self._may_leave():
            self._use(PlanEdit.new())
            self.say("A new plan: draw its area, then save it.")

    def open_plan(self, path: Path | None = None) -> bool:
        if not self._may_leave():
            return False
        path = path or self.choose_file(saving=False)
        if path is None:
            return False
        try:
            edit = PlanEdit.open(path)
        except PlanError as exc:
            self.ask("The plan cannot be opened", str(exc), Button.Ok, Button.Ok)
            return False
        self._use(edit)
        self.say(f"Opened {path.name}.")
        return True

    # ------------------------------------------------------------ window

    def say(self, text: str) -> None:
        self.message.setText(text)

    async def settle(self) -> None:
        await self.map.settle()

    def close_without_asking(self) -> None:
        self._discard = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt naming
        if not self._may_leave():
            event.ignore()
            return
        super().closeEvent(event)
        self.closed.emit()


def _polygon(ring: Any) -> m.Polygon | None:
    try:
        return m.Polygon(coordinates=[(float(p[0]), float(p[1])) for p in ring])
    except (TypeError, ValueError, IndexError):
        return None
