"""The live map: report markers, drawn alert areas, a heat map and the tile source.

The page is built and loaded once (see page.py). After that every change goes through
the QWebChannel bridge: report changes are coalesced for `FLUSH_MS` and sent as one JSON
batch, so a burst of reports is one call into the page, never a re-render. The page's
profile has a request guard that records every URL and lets nothing out except the tile
server the officer configured.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile, QWebEngineSettings
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import (
    QCompleter,
    QHBoxLayout,
    QLineEdit,
    QSizePolicy,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from backend_client import messages as m
from backend_client.places import Gazetteer, PlaceError, load_gazetteer, resolve
from console.common.labels import plain_label
from console.map.bridge import MapBridge
from console.map.dialog import TileSourceDialog
from console.map.guard import RequestGuard
from console.map.model import (
    AreaError,
    Bounds,
    alert_payload,
    alert_visible,
    area_from_geojson,
    outline_payload,
    report_payload,
    view_bounds,
)
from console.map.page import build_page, page_config
from console.map.tiles import SCHEME, MBTilesHandler, TileSource, parse_tile_source
from console.session import ConsoleSession
from console.settings import ConsoleSettings
from console.theme import current

log = logging.getLogger(__name__)


class MapWidget(QWidget):
    report_selected = Signal(str)
    area_drawn = Signal(object)  # m.Polygon | m.Circle
    page_settled = Signal()  # the page holds everything sent to it so far

    FLUSH_MS = 100
    #: how close "go to" zooms: a street and its neighbours
    GOTO_ZOOM = 17

    def __init__(
        self,
        session: ConsoleSession,
        settings: ConsoleSettings,
        *,
        cache_dir: Path | None = None,
        places: Gazetteer | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        #: the named places "go to" knows (and the page labels when it has no street map)
        self.places = places if places is not None else load_gazetteer()
        #: the feed's filters (None: every report shows); see set_report_filter
        self._filter: Callable[[m.Report], bool] | None = None
        #: how many times the page has been loaded (stays 1: updates never reload it)
        self.load_count = 0
        self.loaded = False
        self.ready = False
        self._seq = 0
        self._applied = 0
        self._reports: dict[str, dict[str, Any]] = {}
        self._alerts: dict[str, dict[str, Any]] = {}
        self._hidden_alerts: set[str] = set()
        self._removed: set[str] = set()  # erased reports whose markers the page must drop
        self._pinned_alerts: set[str] = set()
        #: the versions an alert went through, where they were asked for (see show_alert_area)
        self._versions: dict[str, tuple[m.Alert, ...]] = {}
        #: the report ids the page shows (None: every report); see show_only
        self._only: list[str] | None = None
        #: exercise reports' markers left off the map (the feed's "Hide exercise traffic")
        self._hide_exercise = False
        self._commands: list[dict[str, Any]] = []
        self._tiles: TileSource = parse_tile_source("")

        self._toolbar = self._build_toolbar()
        self._finder = self._build_finder()
        self.view = QWebEngineView(self)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        # created after the view, so it is destroyed after the page that uses it
        self.profile = QWebEngineProfile(self)
        self.guard = RequestGuard(self.profile)
        self.profile.setUrlRequestInterceptor(self.guard)
        self.tile_handler = MBTilesHandler(self.profile)
        self.profile.installUrlSchemeHandler(SCHEME, self.tile_handler)
        page = QWebEnginePage(self.profile, self.view)
        web = page.settings()
        # file: pages may not load other schemes by default; the guard decides instead
        web.setAttribute(QWebEngineSettings.WebAttribute.LocalContentCanAccessRemoteUrls, True)
        web.setAttribute(QWebEngineSettings.WebAttribute.PluginsEnabled, False)
        #: what the officer sees (west, south, east, north), once the page has said
        self.visible_bounds: Bounds | None = None
        self.bridge = MapBridge(self)
        self.channel = QWebChannel(page)
        self.channel.registerObject("bridge", self.bridge)
        page.setWebChannel(self.channel)
        page.loadStarted.connect(self._load_started)
        page.loadFinished.connect(self._load_finished)
        page.renderProcessTerminated.connect(self._render_process_gone)
        self.view.setPage(page)
        self.page = page

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._toolbar)
        layout.addWidget(self._finder)
        layout.addWidget(self.view, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.FLUSH_MS)
        self._timer.timeout.connect(self.flush)

        self.bridge.page_ready.connect(self._page_ready)
        self.bridge.batch_applied.connect(self._batch_applied)
        self.bridge.report_clicked.connect(self.report_selected)
        self.bridge.area_geojson.connect(self._area_from_page)
        self.bridge.view_changed.connect(self._view_changed)
        self.bridge.page_error.connect(self._page_error)
        session.report_changed.connect(self._report_changed)
        session.alert_changed.connect(self._alert_changed)
        session.reports_erased.connect(self._reports_erased)
        session.history_lost.connect(self._alerts_lost)

        for report in session.reports.values():
            self._reports[report.report_id] = self._report_payload(report)
        for alert in session.alerts.values():
            if alert_visible(alert):
                self._alerts[alert.alert_id] = alert_payload(alert)
        self._use_tiles(settings.tile_source())
        #: the theme baked into the page file, and the one the console shows now
        self._page_theme = self._theme = page_config()
        self.page_url = QUrl.fromLocalFile(str(build_page(cache_dir)))
        self._restyle()
        page.load(self.page_url)

    # ------------------------------------------------------------ public interface

    @property
    def requests(self) -> list[str]:
        """Every URL the page has requested (the guard's record)."""
        return list(self.guard.requests)

    def select_report(self, report_id: str) -> None:
        self._command({"op": "select", "id": report_id})

    def focus_report(self, report_id: str) -> None:
        self._command({"op": "focus", "id": report_id})

    def show_alert_area(self, alert: m.Alert, versions: Sequence[m.Alert] = ()) -> None:
        """Show the alert's area (whatever its state) and fit the map to it. `versions`,
        every message the alert went through, oldest first (the evidence workspace has
        them), adds the areas of those before the last, drawn as superseded."""
        self._pinned_alerts.add(alert.alert_id)
        self._hidden_alerts.discard(alert.alert_id)
        if versions:
            self._versions[alert.alert_id] = tuple(versions)
        self._alerts[alert.alert_id] = self._payload(alert)
        self._command({"op": "fitAlert", "id": alert.alert_id})

    def show_only(self, report_ids: Iterable[str] | None) -> None:
        """Keep only these reports' markers on the map (None: every report), e.g. what a
        narrowed list shows. The markers stay in the page; reports that arrive later
        are held to the same narrowing."""
        only = None if report_ids is None else sorted(report_ids)
        if only == self._only:
            return
        self._only = only
        self._command({"op": "only", "ids": only})

    def set_hide_exercise(self, hide: bool) -> None:
        """Leave exercise reports' markers off the map (True) or show them, marked. Unlike
        `show_only` it holds for reports that arrive later: a real one always shows."""
        if hide == self._hide_exercise:
            return
        self._hide_exercise = hide
        self._command({"op": "hideExercise", "on": hide})

    @property
    def hiding_exercise(self) -> bool:
        return self._hide_exercise

    def set_report_filter(self, predicate: Callable[[m.Report], bool] | None) -> None:
        """Show only the reports `predicate` accepts (None: every report), as the feed's
        filters do. The page keeps every marker and only takes the rejected ones out of
        the cluster group, in one command; each later report update carries its own
        verdict, so a report that comes to match (or stops matching) follows."""
        self._filter = predicate
        self._command({"op": "filter", "hidden": self._filtered_out()})

    def _filtered_out(self) -> list[str]:
        keep = self._filter
        if keep is None:
            return []
        return [r.report_id for r in self.session.reports.values() if not keep(r)]

    def clear_draft(self) -> None:
        """Take the draft area off the map: the shape drawn for an alert that was
        cancelled, and any drawing still under way."""
        self._command({"op": "clearDraft"})

    def go_to(self, text: str) -> bool:
        """Centre the map on typed coordinates or a named place; False (and the reason
        said on the toolbar) when the text points nowhere."""
        try:
            place = resolve(text, self.places)
        except PlaceError as exc:
            self._say(str(exc))
            return False
        self._say("")
        self._command(
            {
                "op": "goto",
                "lat": place.lat,
                "lon": place.lon,
                "zoom": self.GOTO_ZOOM,
                "label": place.name,
            }
        )
        return True

    def measure(self, on: bool) -> None:
        """Start measuring (clicks on the map add points) or stop."""
        self._command({"op": "measure", "on": on})

    def show_outline(
        self,
        outline_id: str,
        area: m.Polygon,
        title: str,
        label: str,
        *,
        dashed: bool = False,
        fit: bool = False,
    ) -> None:
        """Outline an area that is not an alert (the inspector's pilot area and zones)."""
        self._hidden_alerts.discard(outline_id)
        self._alerts[outline_id] = outline_payload(outline_id, area, title, label, dashed=dashed)
        if fit:
            self._command({"op": "fitAlert", "id": outline_id})
        else:
            self._schedule()

    def hide_outline(self, outline_id: str) -> None:
        self._alerts.pop(outline_id, None)
        self._hidden_alerts.add(outline_id)
        self._schedule()

    def clear_drawn(self) -> None:
        """Take the shape just drawn off the page (once it has been used)."""
        self._command({"op": "clearDrawn"})

    def draw(self, kind: str) -> None:
        """Start drawing an alert area in the page: "polygon" or "circle"."""
        self._command({"op": "draw", "kind": kind})

    def show_alert_tools(self, on: bool) -> None:
        """Show or hide the tools only an alert's area uses (a circle, the heat map of
        open reports); the inspector's plan map hides them."""
        self._circle.setVisible(on)
        self._heat.setVisible(on)

    def set_heat_map(self, on: bool) -> None:
        if self._heat.isChecked() != on:
            self._heat.setChecked(on)  # toggled -> back here
            return
        self._command({"op": "heat", "on": on})

    def set_tile_source(self, value: str) -> None:
        self.settings.set_tile_source(value)
        self._use_tiles(value)

    @property
    def batches_sent(self) -> int:
        """Calls into the page since it loaded (one per coalescing window, not per event)."""
        return self._seq

    @property
    def settled(self) -> bool:
        return (
            self.ready
            and not self._reports
            and not self._alerts
            and not self._hidden_alerts
            and not self._removed
            and not self._commands
            and self._applied >= self._seq
        )

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until the page has loaded and drawn everything sent to it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.settled:
            if self.ready and (
                self._reports or self._alerts or self._hidden_alerts or self._removed
            ):
                self.flush()
            if loop.time() > deadline:
                log.warning("the map page did not settle within %.0f s", timeout)
                return
            await asyncio.sleep(0.05)

    def run_js(self, script: str, callback: Any = None) -> None:
        """Run a script in the page (for tests and the bench); `callback` gets its value."""
        if callback is None:
            self.page.runJavaScript(script, 0)
        else:
            self.page.runJavaScript(script, 0, callback)

    # ------------------------------------------------------------ batching

    def _report_changed(self, report: m.Report, created: bool) -> None:
        self._reports[report.report_id] = self._report_payload(report)
        self._schedule()

    def _report_payload(self, report: m.Report) -> dict[str, Any]:
        payload = report_payload(report, report.report_id in self.session.tombstoned)
        if self._filter is not None and not self._filter(report):
            payload["hide"] = True  # the feed's filters leave it out
        return payload

    def _reports_erased(self, event: m.ReportErased) -> None:
        """Erased reports' markers go; kept ones say their reporter is a tombstone now."""
        for report_id in event.report_ids:
            self._reports.pop(report_id, None)
            self._removed.add(report_id)
        for report_id in event.tombstoned:
            report = self.session.reports.get(report_id)
            if report is not None:
                self._reports[report_id] = self._report_payload(report)
        self._schedule()

    def _alerts_lost(self, alert_ids: frozenset[str]) -> None:
        """The relay lost the history these alerts came from: off the map."""
        for alert_id in alert_ids:
            self._alerts.pop(alert_id, None)
            self._versions.pop(alert_id, None)
            self._hidden_alerts.add(alert_id)
        self._schedule()

    def _alert_changed(self, alert: m.Alert) -> None:
        if alert_visible(alert) or alert.alert_id in self._pinned_alerts:
            self._hidden_alerts.discard(alert.alert_id)
            self._alerts[alert.alert_id] = self._payload(alert)
        else:
            self._alerts.pop(alert.alert_id, None)
            self._hidden_alerts.add(alert.alert_id)
        self._schedule()

    def _payload(self, alert: m.Alert) -> dict[str, Any]:
        return alert_payload(alert, self._versions.get(alert.alert_id, ()))

    def _schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Send what has changed since the last batch, as one call into the page."""
        self._timer.stop()
        if not self.ready:
            return  # sent when the page says it is ready
        if self._reports or self._alerts or self._hidden_alerts or self._removed:
            self._seq += 1
            batch = {
                "seq": self._seq,
                "reports": list(self._reports.values()),
                "removeReports": sorted(self._removed),
                "alerts": list(self._alerts.values()),
                "hideAlerts": sorted(self._hidden_alerts),
            }
            self._reports, self._alerts, self._hidden_alerts = {}, {}, set()
            self._removed = set()
            self.bridge.batch.emit(json.dumps(batch, separators=(",", ":")))
        commands, self._commands = self._commands, []
        for command in commands:
            self.bridge.command.emit(json.dumps(command))

    def _command(self, command: dict[str, Any]) -> None:
        self._commands.append(command)
        self.flush()  # pending data first, so the command finds its marker

    # ------------------------------------------------------------ page events

    def _load_started(self) -> None:
        self.load_count += 1
        self.loaded = False
        self.ready = False

    def _load_finished(self, ok: bool) -> None:
        self.loaded = ok
        if not ok:
            self._say("The map page could not be loaded; restart the console.")

    def _page_ready(self) -> None:
        self.ready = True
        if self.load_count > 1:  # a reloaded page starts empty: send everything again
            for report in self.session.reports.values():
                self._reports.setdefault(report.report_id, self._report_payload(report))
            self._seq = self._applied = 0
            if self._only is not None:  # it would show every report again
                self._commands.append({"op": "only", "ids": self._only})
        if self._hide_exercise and not any(c["op"] == "hideExercise" for c in self._commands):
            self._commands.append({"op": "hideExercise", "on": True})
        refilter = self.load_count > 1 and self._filter is not None  # a reloaded page
        if refilter and not any(c["op"] == "filter" for c in self._commands):
            self._commands.append({"op": "filter", "hidden": self._filtered_out()})
        places = [{"name": p.name, "lat": p.lat, "lon": p.lon} for p in self.places.places]
        self._commands.insert(0, {"op": "places", "items": places})
        self._commands.insert(0, {"op": "tiles", "spec": self._tiles.page_spec()})
        if self._theme != self._page_theme:  # switched while the page was loading
            self._commands.insert(0, {"op": "theme", "cfg": self._theme})
        if self._heat.isChecked():
            self._commands.append({"op": "heat", "on": True})
        self.flush()

    def _batch_applied(self, seq: int) -> None:
        self._applied = max(self._applied, seq)
        if self.settled:
            self.page_settled.emit()

    def _render_process_gone(self, status: Any, code: int) -> None:
        log.warning("the map page's renderer stopped (%s, %s); reloading it", status, code)
        self.ready = False
        self.page.load(self.page_url)

    def _page_error(self, message: str) -> None:
        log.warning("map page: %s", message)

    def _view_changed(self, text: str) -> None:
        bounds = view_bounds(text)
        if bounds is not None:
            self.visible_bounds = bounds

    def _area_from_page(self, text: str) -> None:
        try:
            area = area_from_geojson(json.loads(text))
        except (ValueError, AreaError) as exc:
            self._say(str(exc) if isinstance(exc, AreaError) else "The area was unreadable.")
            return
        self._say("")
        self.area_drawn.emit(area)

    # ------------------------------------------------------------ toolbar and tiles

    def _build_toolbar(self) -> QToolBar:
        bar = QToolBar("Map", self)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        polygon = QAction("Draw area", self)
        polygon.setToolTip("Draw a polygon for an alert: click the corners, click the first to end")
        polygon.triggered.connect(lambda: self.draw("polygon"))
        circle = self._circle = QAction("Draw circle", self)
        circle.setToolTip("Draw a circle for an alert: press at the centre and drag")
        circle.triggered.connect(lambda: self.draw("circle"))
        self._heat = QAction("Heat map", self, checkable=True)
        self._heat.setToolTip("Show where open reports concentrate")
        self._heat.toggled.connect(lambda on: self._command({"op": "heat", "on": on}))
        tiles = QAction("Background…", self)
        tiles.setToolTip("Choose the map background: none, a tile server or a tile pack")
        tiles.triggered.connect(self._choose_tiles)
        for action in (polygon, circle, self._heat):
            bar.addAction(action)
        bar.addSeparator()
        bar.addAction(tiles)
        return bar

    def _build_finder(self) -> QWidget:
        """The row under the tools: "go to" on the left, what the map has to say on the
        right (its own row, so a narrow map never hides either in the toolbar's overflow)."""
        row = QWidget(self)
        line = QHBoxLayout(row)
        line.setContentsMargins(4, 2, 4, 2)
        self.goto = QLineEdit(row)
        self.goto.setPlaceholderText("Go to: a place, or 53.76, -2.70")
        self.goto.setToolTip(
            "Type a place name (the list offers the known places) or coordinates, "
            "decimal (53.76, -2.70) or degrees, minutes, seconds (53°45'36\"N 2°42'W); "
            "Enter goes there"
        )
        self.goto.setClearButtonEnabled(True)
        self.goto.setMinimumWidth(160)
        self.goto.setMaximumWidth(320)
        completer = QCompleter(self.places.names(), self.goto)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.goto.setCompleter(completer)
        self.goto.returnPressed.connect(lambda: self.go_to(self.goto.text()))
        completer.activated.connect(self.go_to)
        line.addWidget(self.goto, 1)
        self._message = plain_label(selectable=False, wrap=True, shrink=True)
        self._message.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._message.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        line.addWidget(self._message, 1)
        return row

    # ------------------------------------------------------------ theme

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "_theme"):
            self._restyle()  # the theme was switched
        super().changeEvent(event)

    def _restyle(self) -> None:
        """Follow a theme switch: the page rewrites its style sheet, it is not reloaded."""
        sheet = f"color: {current()['warning']}; padding-right: 8px;"
        if self._message.styleSheet() != sheet:
            self._message.setStyleSheet(sheet)
        cfg = page_config()
        if cfg == self._theme:
            return
        self._theme = cfg
        if self.ready:
            self._command({"op": "theme", "cfg": cfg})

    def _say(self, text: str) -> None:
        self._message.setText(text)

    def _choose_tiles(self) -> None:
        dialog = TileSourceDialog(self.settings.tile_source(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.set_tile_source(dialog.value()))
        dialog.open()

    def _use_tiles(self, value: str) -> None:
        source = parse_tile_source(value)
        self._tiles = source
        self.guard.allow_tile_host(source.host)
        self.tile_handler.open(source.path if source.kind == "mbtiles" else None)
        self._say(source.problem)
        if self.ready:
            self._command({"op": "tiles", "spec": source.page_spec()})

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt naming
        self.tile_handler.close()
        super().closeEvent(event)
