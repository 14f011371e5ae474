"""The Alerts pane: every alert in the package, one row per CAP message it went through
(Alert, Update, Cancel), under a search box that finds a row by any of its text.

Selecting a row raises `alert_chosen` with the alert as that message left it (its area
then, for the map) and `incident_chosen` with its incident, and shows the message's CAP
XML exactly as the package holds it, as plain text in a read-only box: an officer's
headline is shown as the XML carries it, never read as markup. The XML is read off the
GUI thread and checked against the manifest's SHA-256 for its entry; a mismatch is said
above the text. Delivered and read counts belong to the alert as it stands now (the
package has no per-message counts), so they are shown on its latest message's row.
"""

from __future__ import annotations

import hashlib
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from backend_client import messages as m
from console.common.ops import run_off_thread
from console.evidence.model import Package
from console.evidence.table_filter import SEARCH_ROLE, FilteredTable

_COLUMNS = ("Alert", "#", "Type", "Sent (UTC)", "Headline", "Category", "Area", "Delivered / read")
_ROW_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass(frozen=True)
class VersionRow:
    """One CAP message of one alert, as the pane lists it."""

    alert_id: str
    n: int
    cells: tuple[str, ...]
    #: text the row is also found by: description, instruction, event, area, people
    search_text: str
    #: the package entry holding its CAP XML (`cap/<alert_id>/<n>.xml`), if named
    cap_entry: str | None
    incident_ref: str | None
    #: the alert as this message left it (its area, type and state then)
    alert: m.Alert


def _when(at: object) -> str:
    if not isinstance(at, int | float):
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))


def area_kind(area: m.Area) -> str:
    if isinstance(area, m.Circle):
        return f"circle, {area.radius_m:,.0f} m"
    return f"polygon, {len(area.coordinates)} points"


def counts_text(alert: m.Alert) -> str:
    if alert.fewer_than is not None:
        return f"fewer than {alert.fewer_than} phones"
    return f"{alert.delivered} / {alert.read} of {alert.recipients}"


def _as_of(alert: m.Alert, version: dict[str, Any]) -> m.Alert:
    """The alert as one of its messages left it; the alert now if that cannot be read."""
    try:
        info = msgspec.convert(version.get("info"), type=m.AlertInfo)
        return msgspec.structs.replace(
            alert,
            info=info,
            msg_type=version.get("msg_type", alert.msg_type),
            state=version.get("state", alert.state),
        )
    except (msgspec.ValidationError, TypeError):
        return alert


def version_rows(package: Package) -> list[VersionRow]:
    """Every alert's messages in order, alerts by when they were first sent."""
    rows = []
    records = sorted(package.alerts, key=lambda r: (r.alert.sent_at, r.alert.alert_id))
    for record in records:
        now = record.alert
        versions = record.versions or ({"n": 1, "msg_type": now.msg_type},)
        for i, v in enumerate(versions):
            then = _as_of(now, v)
            info = then.info
            latest = i == len(versions) - 1
            n = v.get("n", i + 1)
            cells = (
                now.alert_id,
                str(n),
                str(v.get("msg_type", "")),
                _when(v.get("sent_at") or v.get("recorded_at")),
                info.headline,
                f"{info.cap_category}: {', '.join(info.categories)}",
                area_kind(info.area),
                counts_text(now) if latest else "",
            )
            people = (now.sender, str(v.get("approved_by") or ""), str(v.get("cap_identifier", "")))
            search = " ".join(
                (
                    info.description,
                    info.instruction,
                    info.event,
                    info.area_desc,
                    info.contact,
                    info.incident_ref or "",
                    then.state,
                    *people,
                )
            )
            cap = v.get("cap")
            rows.append(
                VersionRow(
                    now.alert_id,
                    int(n) if isinstance(n, int) else i + 1,
                    cells,
                    search,
                    cap if isinstance(cap, str) and cap.startswith("cap/") else None,
                    info.incident_ref,
                    then,
                )
            )
    return rows


@dataclass(frozen=True)
class CapText:
    entry: str
    text: str
    #: the entry's bytes match the manifest's SHA-256 (None: the manifest does not list it)
    matches: bool | None


def read_cap(path: Path, entry: str, manifest: dict[str, Any]) -> CapText:
    """The CAP XML of one message, as the package holds it (any thread; the package is
    only read). Raises OSError, KeyError or BadZipFile when it cannot be read."""
    with zipfile.ZipFile(path) as zf:
        data = zf.read(entry)
    files = manifest.get("files")
    listed = {
        f.get("path"): f.get("sha256")
        for f in (files if isinstance(files, list) else [])
        if isinstance(f, dict)
    }
    expected = listed.get(entry)
    matches = None if expected is None else hashlib.sha256(data).hexdigest() == expected
    return CapText(entry, data.decode("utf-8", errors="replace"), matches)


class AlertsWidget(QWidget):
    #: the selected message's alert as it left it (`m.Alert`), for the map
    alert_chosen = Signal(object)
    #: the selected alert's incident reference, or None when it names none
    incident_chosen = Signal(object)
    #: the CAP XML of this entry is on show now (or the reason it could not be read)
    cap_shown = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[VersionRow] = []
        self._path: Path | None = None
        self._manifest: dict[str, Any] = {}
        self._wanted: str | None = None

        self.table = QTableWidget(0, len(_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(_COLUMNS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._chosen)
        self.filter = FilteredTable(
            self.table, range(len(_COLUMNS)), "Search alerts: any text, e.g. a street or officer"
        )

        self.cap_label = QLabel("Select a message to read the CAP XML that was sent.")
        self.cap_label.setTextFormat(Qt.TextFormat.PlainText)
        self.cap_label.setWordWrap(True)
        self.cap = QPlainTextEdit()
        self.cap.setReadOnly(True)
        self.cap.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.cap.setPlaceholderText("CAP XML")
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.cap_label)
        rl.addWidget(self.cap, 1)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.filter)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)

    def set_package(self, package: Package) -> None:
        self._path, self._manifest = package.path, package.manifest
        self.rows = version_rows(package)
        self.table.blockSignals(True)
        try:
            self.table.setRowCount(len(self.rows))
            for row, version in enumerate(self.rows):
                for col, text in enumerate(version.cells):
                    item = QTableWidgetItem(text)  # plain text: a headline stays inert
                    item.setData(_ROW_ROLE, row)
                    if col == 0:
                        item.setData(SEARCH_ROLE, version.search_text)
                    if col == len(_COLUMNS) - 1 and text:
                        item.setToolTip(
                            "Delivered / read of the phones it reached, as it stands now"
                        )
                    self.table.setItem(row, col, item)
        finally:
            self.table.blockSignals(False)
        self.table.resizeColumnsToContents()
        self.filter.apply()

    def select_version(self, alert_id: str, n: int) -> None:
        for row, version in enumerate(self.rows):
            if (version.alert_id, version.n) == (alert_id, n):
                self.table.selectRow(row)
                return

    def selected(self) -> VersionRow | None:
        items = self.table.selectedItems()
        return self.rows[int(items[0].data(_ROW_ROLE))] if items else None

    def _chosen(self) -> None:
        version = self.selected()
        if version is None:
            return
        self.alert_chosen.emit(version.alert)
        self.incident_chosen.emit(version.incident_ref)
        self._show_cap(version)

    def _show_cap(self, version: VersionRow) -> None:
        self.cap.clear()
        entry, path, manifest = version.cap_entry, self._path, self._manifest
        if entry is None or path is None:
            self.cap_label.setText(
                f"{version.alert_id} message {version.n}: the package names no CAP XML for it."
            )
            self._wanted = None
            return
        self._wanted = entry
        self.cap_label.setText(f"Reading {entry}…")
        run_off_thread(
            lambda: read_cap(path, entry, manifest),
            self._cap_read,
            lambda exc: self._cap_failed(entry, exc),
            owner=self,
        )

    def _cap_read(self, cap: CapText) -> None:
        if cap.entry != self._wanted:
            return  # another message was selected meanwhile
        verdict = {
            True: "matches the manifest",
            False: "DOES NOT MATCH THE MANIFEST: this file was altered after signing",
            None: "not listed in the manifest",
        }[cap.matches]
        self.cap_label.setText(f"{cap.entry} ({verdict}), exactly as the package holds it:")
        self.cap.setPlainText(cap.text)
        self.cap_shown.emit(cap.entry)

    def _cap_failed(self, entry: str, exc: BaseException) -> None:
        if entry != self._wanted:
            return
        self.cap_label.setText(f"{entry} cannot be read from the package: {exc}")
        self.cap_shown.emit(entry)
