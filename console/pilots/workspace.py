"""The inspector's plan editor: the plan's fields, its tables, the timeline, the problems.

It edits one `PlanEdit` through its `PlanDocument`; every widget redraws from the model
after each edit. The map is not part of this feature: the window that composes the
workspace puts the map widget in `map_slot` and answers `draw_area_requested`, handing a
drawn ring back through `take_area`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from backend_client import messages as m
from backend_client import scenarios as sc
from backend_client.pilots import ACTIONS, Problem
from console.common.labels import plain_label
from console.pilots.plan_edit import READY, Headers, Issue, Locator, Path_, PlanEdit, counted
from console.pilots.records import Column, PlanDocument, RecordsDelegate, RecordsModel, Row
from console.pilots.text import plain_tip
from console.pilots.timeline_view import TimelineView
from console.theme import current

PLAN_FIELDS = ("name", "title", "timezone", "area_description", "description", "area")
INJECT_KINDS = (
    ("report", "Scripted report"),
    ("burst", "Burst of reports"),
    ("prompt", "Prompt to officers"),
    ("alert", "Alert by a stand-in"),
)


#: a column's least width by its kind; a text column is no wider than MAX_COLUMN to start
_WIDTHS = {"text": 180, "time": 70, "date": 110, "int": 60, "float": 70, "minutes": 80}
MAX_COLUMN = 320


class RecordsTable(QWidget):
    """A table of rows with Add and Remove under it."""

    def __init__(
        self,
        model: RecordsModel,
        add: Callable[[], int | None] | None = None,
        *,
        add_menu: QMenu | None = None,
        what: str = "row",
    ) -> None:
        super().__init__()
        self.model = model
        self.view = QTableView()
        self.view.setModel(model)
        self.view.setItemDelegate(RecordsDelegate(model, self.view))
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.AnyKeyPressed
        )
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().setDefaultSectionSize(24)
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.view.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.add_button = QToolButton()
        self.add_button.setText(f"Add {what}")
        self.add_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        if add_menu is not None:
            self.add_button.setMenu(add_menu)
            self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        elif add is not None:
            self.add_button.clicked.connect(lambda: self._added(add()))
        self.remove_button = QToolButton()
        self.remove_button.setText(f"Remove {what}")
        self.remove_button.clicked.connect(self._remove)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view, 1)
        lay.addLayout(buttons)
        model.modelReset.connect(self.fit_columns)
        self.fit_columns()

    def fit_columns(self) -> None:
        """Each column as wide as its header and its widest cell (a text column no wider
        than MAX_COLUMN); widened, never narrowed, as rows come, so a dragged width stays."""
        header = self.view.horizontalHeader()
        for n, c in enumerate(self.model.columns):
            base = _WIDTHS.get(c.kind, 120) if c.key != "id" else 130
            want = max(base, header.sectionSizeHint(n), self.view.sizeHintForColumn(n) + 8)
            width = max(self.view.columnWidth(n), min(want, MAX_COLUMN))
            if width != self.view.columnWidth(n):
                self.view.setColumnWidth(n, width)

    def current_row(self) -> int:
        index = self.view.currentIndex()
        return index.row() if index.isValid() else -1

    def select(self, row: int, column: int = 0) -> None:
        index = self.model.index(row, column)
        if index.isValid():
            self.view.setCurrentIndex(index)
            self.view.scrollTo(index)

    def _added(self, row: int | None) -> None:
        if row is not None:
            self.select(row, 0)

    def _remove(self) -> None:
        row = self.current_row()
        if row >= 0 and self.model.table is not None:
            self.model.edit.remove((*self.model.table, row))
            self.select(min(row, self.model.rowCount() - 1))


class PlanForm(QWidget):
    """The plan's own fields and its area."""

    draw_area_requested = Signal()

    def __init__(self, document: PlanDocument) -> None:
        super().__init__()
        self.document = document
        self.fields: dict[str, QWidget] = {}
        #: each field's label, as the problems list names it
        self.labels = {
            "name": "Name",
            "title": "Title",
            "timezone": "Time zone",
            "area_description": "Area, in words",
            "area": "Area",
            "description": "Description",
        }
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for key, tip in (
            ("name", "The file's name: lower-case letters, digits, '-' and '_'"),
            ("title", "What the pilot is called in the console and the report"),
        ):
            line = QLineEdit()
            line.setToolTip(tip)
            line.textEdited.connect(lambda text, k=key: self._set(k, text))
            self.fields[key] = line
            form.addRow(self.labels[key], line)
        zone = QComboBox()
        zone.setEditable(True)
        zone.addItems(sorted(zoneinfo.available_timezones()))
        zone.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        zone.currentTextChanged.connect(lambda text: self._set("timezone", text))
        self.fields["timezone"] = zone
        form.addRow(self.labels["timezone"], zone)
        area_desc = QLineEdit()
        area_desc.textEdited.connect(lambda text: self._set("area_description", text, True))
        self.fields["area_description"] = area_desc
        form.addRow(self.labels["area_description"], area_desc)
        self.area_label = plain_label(selectable=False)
        self.draw_button = QPushButton("Draw area on the map")
        self.draw_button.setToolTip(
            "Click the corners of the pilot area on the map; click the first corner to finish"
        )
        self.draw_button.clicked.connect(self.draw_area_requested)
        area_row = QHBoxLayout()
        area_row.addWidget(self.area_label, 1)
        area_row.addWidget(self.draw_button)
        area_box = QWidget()
        area_box.setLayout(area_row)
        area_row.setContentsMargins(0, 0, 0, 0)
        self.fields["area"] = self.draw_button
        form.addRow(self.labels["area"], area_box)
        desc = QPlainTextEdit()
        desc.setTabChangesFocus(True)
        desc.textChanged.connect(lambda: self._set("description", desc.toPlainText(), True))
        self.fields["description"] = desc
        form.addRow(self.labels["description"], desc)
        self.summary = plain_label(selectable=False)
        self.summary.setStyleSheet(f"color: {current()['muted']};")
        form.addRow("", self.summary)
        document.changed.connect(self.refresh)
        self.refresh()

    def _set(self, key: str, value: str, optional: bool = False) -> None:
        self.document.edit.set((key,), None if optional and not value else value)

    def refresh(self) -> None:
        edit = self.document.edit
        for key in ("name", "title", "area_description"):
            line = self.fields[key]
            assert isinstance(line, QLineEdit)
            value = str(edit.get((key,), "") or "")
            if line.text() != value:
                line.setText(value)
        zone = self.fields["timezone"]
        assert isinstance(zone, QComboBox)
        tz = str(edit.get(("timezone",), ""))
        if zone.currentText() != tz:
            zone.blockSignals(True)
            zone.setCurrentText(tz)
            zone.blockSignals(False)
        desc = self.fields["description"]
        assert isinstance(desc, QPlainTextEdit)
        text = str(edit.get(("description",), "") or "")
        if desc.toPlainText() != text:
            desc.blockSignals(True)
            desc.setPlainText(text)
            desc.blockSignals(False)
        ring = edit.get(("area", "coordinates"), []) or []
        corners = len(ring) - (1 if len(ring) > 1 and ring[0] == ring[-1] else 0)
        zones = len(edit.rows(("zones",)))
        self.area_label.setText(
            f"Polygon, {counted(corners, 'corner')}"
            + (f"; {counted(zones, 'zone')}" if zones else "")
        )
        groups = edit.rows(("groups",))
        people = sum(int(g.get("count", 0) or 0) for g in groups if isinstance(g.get("count"), int))
        acts = edit.rows(("acts",))
        self.summary.setText(
            f"{counted(len(edit.rows(('days',))), 'day')} · {counted(len(groups), 'group')}, "
            f"{counted(people, 'participant')} · {counted(len(acts), 'act')} · "
            f"{counted(sum(len(a.get('injects', [])) for a in acts), 'inject')}"
        )


class ProblemsList(QWidget):
    """Every problem of the plan in the tables' words (the file's words in its tip);
    choosing one goes to its row. With none, the pane says the plan is ready."""

    problem_chosen = Signal(object)  # Locator

    def __init__(self, document: PlanDocument, headers: Headers | None = None) -> None:
        super().__init__()
        self.document = document
        self.headers: Headers = headers or {}
        self.heading = plain_label(selectable=False)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.itemActivated.connect(self._chosen)
        self.list.itemClicked.connect(self._chosen)
        self.ready = plain_label(READY, selectable=False)
        self.ready.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.ready.setStyleSheet("color: #3fb950; font-weight: 600;")
        self.body = QStackedWidget()
        self.body.addWidget(self.list)
        self.body.addWidget(self.ready)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.heading)
        lay.addWidget(self.body, 1)
        document.changed.connect(self.refresh)
        self.refresh()

    @property
    def issues(self) -> list[Issue]:
        return self.document.edit.issues

    def words(self, issue: Issue) -> str:
        """The problem as this list shows it (the tables' rows, headers and times)."""
        return self.document.edit.describe(issue, self.headers)

    def refresh(self) -> None:
        c = current()
        issues = self.issues
        self.list.clear()
        for n, issue in enumerate(issues):
            item = QListWidgetItem(self.words(issue))  # item text is plain, never HTML
            item.setToolTip(plain_tip(f"In the plan file: {issue}"))
            item.setData(Qt.ItemDataRole.UserRole, n)
            if issue.blocking:
                item.setForeground(QColor(c["warning"]))
            self.list.addItem(item)
        self.body.setCurrentWidget(self.list if issues else self.ready)
        self.heading.setVisible(bool(issues))
        if issues:
            blocking = any(i.blocking for i in issues)
            self.heading.setText(
                counted(len(issues), "problem")
                + (": the plan cannot be saved until the first is fixed" if blocking else "")
            )
            self.heading.setStyleSheet(f"color: {c['warning']}; font-weight: 600;")

    def _chosen(self, item: QListWidgetItem) -> None:
        n = item.data(Qt.ItemDataRole.UserRole)
        if isinstance(n, int) and 0 <= n < len(self.issues):
            self.problem_chosen.emit(self.issues[n].locator)


class PlanWorkspace(QWidget):
    """The whole editor; `map_slot` is where the composing window puts the map."""

    draw_area_requested = Signal()

    def __init__(self, edit: PlanEdit) -> None:
        super().__init__()
        self.document = PlanDocument(edit)
        doc = self.document
        self.form = PlanForm(doc)
        self.form.draw_area_requested.connect(self.draw_area_requested)
        self.days = RecordsTable(
            RecordsModel(
                doc,
                ("days",),
                [
                    Column("date", "Date", "date"),
                    Column("start", "Opens", "time"),
                    Column("end", "Closes", "time"),
                    Column("title", "Title", optional=True),
                ],
            ),
            edit.add_day,
            what="day",
        )
        self.groups = RecordsTable(
            RecordsModel(
                doc,
                ("groups",),
                [
                    Column("name", "Name"),
                    Column("title", "Title", optional=True),
                    Column(
                        "role",
                        "Role",
                        "choice",
                        choices=lambda r: ["citizen", "officer", "observer"],
                    ),
                    Column("count", "Count", "int", tip="Participants in the group"),
                ],
            ),
            edit.add_group,
            what="group",
        )
        self.acts = RecordsTable(
            RecordsModel(
                doc,
                ("acts",),
                [
                    Column("id", "Act"),
                    Column("title", "Title", optional=True),
                    Column("day", "Day", "int"),
                    Column("start", "Starts", "time"),
                    Column("end", "Ends", "time"),
                    Column(
                        "scenario",
                        "Scenario",
                        "choice",
                        choices=lambda r: sc.available(),
                        read=_scenario_name,
                        applies=lambda r: isinstance(r.get("scenario"), str),
                        tip="A scenario file; an inline scenario is edited in the plan file",
                    ),
                    Column(
                        "groups",
                        "Groups",
                        "list",
                        optional=True,
                        tip="The citizen groups taking part, comma-separated; empty: all",
                    ),
                    Column(
                        "report_rate_per_min",
                        "Reports/min each",
                        "float",
                        optional=True,
                        tip="Reports per participant per minute; empty: the scenario's",
                    ),
                ],
            ),
            edit.add_act,
            what="act",
        )
        self.injects = RecordsTable(
            RecordsModel(doc, ("acts", 0, "injects"), self._inject_columns()),
            add_menu=self._inject_menu(),
            what="inject",
        )
        self.expect = RecordsTable(
            RecordsModel(doc, ("acts", 0, "expect"), self._expect_columns()),
            lambda: self.edit.add_expectation(self._act()) if self._act() >= 0 else None,
            what="expected action",
        )
        self.objectives = RecordsTable(
            RecordsModel(
                doc,
                ("objectives",),
                [
                    Column("id", "Objective"),
                    Column("text", "Text"),
                    Column("target", "Target", optional=True, tip="e.g. reports > 200"),
                ],
            ),
            lambda: self.edit.insert(
                ("objectives",),
                {
                    "id": f"objective-{len(self.edit.rows(('objectives',))) + 1}",
                    "text": "What the pilot should show",
                },
            ),
            what="objective",
        )
        self.zones = RecordsTable(
            RecordsModel(
                doc,
                ("zones",),
                [
                    Column("name", "Zone"),
                    Column("description", "Description", optional=True),
                    Column(
                        "coordinates",
                        "Corners",
                        editable=False,
                        read=lambda r: len(r.get("coordinates", [])),
                    ),
                ],
            ),
            None,
            what="zone",
        )
        self.zones.add_button.hide()
        self.stand_ins = RecordsTable(
            RecordsModel(
                doc,
                ("stand_ins",),
                [
                    Column("name", "Stand-in"),
                    Column("group", "Officer group", "choice", choices=self._officer_groups),
                    Column("does", "Does", editable=False, read=_does),
                ],
            ),
            None,
            what="stand-in",
        )
        self.stand_ins.add_button.hide()

        self.act_heading = plain_label(selectable=False)
        self.act_heading.setStyleSheet("font-weight: 600;")
        acts_page = QSplitter(Qt.Orientation.Vertical)
        acts_page.addWidget(self.acts)
        lower = QWidget()
        lower_lay = QVBoxLayout(lower)
        lower_lay.setContentsMargins(0, 4, 0, 0)
        lower_lay.addWidget(self.act_heading)
        lower_lay.addWidget(_caption("Injects"))
        lower_lay.addWidget(self.injects, 3)
        lower_lay.addWidget(_caption("Expected officer actions"))
        lower_lay.addWidget(self.expect, 2)
        acts_page.addWidget(lower)
        acts_page.setSizes([220, 420])

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self._pages: dict[str, QWidget] = {}
        for key, title, page in (
            ("plan", "Plan", self.form),
            ("days", "Days", self.days),
            ("groups", "Groups", self.groups),
            ("acts", "Acts and injects", acts_page),
            ("objectives", "Objectives", self.objectives),
            ("zones", "Zones", self.zones),
            ("stand_ins", "Stand-ins", self.stand_ins),
        ):
            self._pages[key] = page
            self.tabs.addTab(page, title)

        self.timeline = TimelineView(doc)
        self.timeline.inject_clicked.connect(
            lambda a, i: self.go_to(Locator("acts", (("acts", a), ("injects", i))))
        )
        self.timeline.deadline_clicked.connect(
            lambda a, i: self.go_to(Locator("acts", (("acts", a), ("expect", i))))
        )
        self.timeline.act_clicked.connect(lambda a: self.go_to(Locator("acts", (("acts", a),))))
        self.problems = ProblemsList(doc, self._headers())
        self.problems.problem_chosen.connect(self.go_to)

        #: the composing window puts the map here (this feature does not import it)
        self.map_slot = QVBoxLayout()
        self.map_slot.setContentsMargins(0, 0, 0, 0)
        map_box = QWidget()
        map_box.setLayout(self.map_slot)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.tabs)
        top.addWidget(map_box)
        top.setStretchFactor(0, 5)
        top.setStretchFactor(1, 4)
        top.setSizes([860, 700])
        bottom = QSplitter(Qt.Orientation.Horizontal)
        timeline_box = QWidget()
        tl = QVBoxLayout(timeline_box)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(_caption("Timeline: acts as bars, injects ◆ and deadlines ▼ at their times"))
        tl.addWidget(self.timeline, 1)
        bottom.addWidget(timeline_box)
        bottom.addWidget(self.problems)
        bottom.setSizes([1100, 460])
        outer = QSplitter(Qt.Orientation.Vertical)
        outer.addWidget(top)
        outer.addWidget(bottom)
        outer.setSizes([600, 300])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(outer)

        self.acts.view.selectionModel().currentChanged.connect(lambda *_: self._act_changed())
        doc.changed.connect(self._act_changed)
        self.acts.select(0)
        self._act_changed()

    @property
    def edit(self) -> PlanEdit:
        return self.document.edit

    def _headers(self) -> Headers:
        """Each table's column headers by field, for the problems list to speak in."""
        tables = {
            "days": self.days,
            "groups": self.groups,
            "acts": self.acts,
            "injects": self.injects,
            "expect": self.expect,
            "objectives": self.objectives,
            "zones": self.zones,
            "stand_ins": self.stand_ins,
        }
        out = {k: {c.key: c.header for c in t.model.columns} for k, t in tables.items()}
        return {"plan": dict(self.form.labels), **out}

    def set_map(self, widget: QWidget) -> None:
        self.map_slot.addWidget(widget)

    def take_area(self, ring: list[tuple[float, float]]) -> Problem | None:
        """A ring drawn on the map becomes the plan's area (or its problem is returned)."""
        return self.edit.set_area(ring)

    # ------------------------------------------------------------ going to a problem

    def go_to(self, where: Locator) -> None:
        table = where.table
        if table in PLAN_FIELDS or not table:
            self.tabs.setCurrentWidget(self._pages["plan"])
            widget = self.form.fields.get(table)
            if widget is not None:
                widget.setFocus()
            return
        if table in ("injects", "expect"):
            table = "acts"
        page = self._pages.get(table)
        if page is None:
            return
        self.tabs.setCurrentWidget(page)
        rows = dict(where.rows)
        field = where.field
        if table == "acts":
            act = rows.get("acts", -1)
            if act >= 0:
                self.acts.select(
                    act, self.acts.model.column_of(field if len(where.rows) == 1 else None)
                )
            self._act_changed()
            for key, box in (("injects", self.injects), ("expect", self.expect)):
                if key in rows:
                    box.select(rows[key], box.model.column_of(field))
                    box.view.setFocus()
                    if key == "injects":
                        self.timeline.select("inject", act, rows[key])
                    return
            self.acts.view.setFocus()
            return
        box = {
            "days": self.days,
            "groups": self.groups,
            "objectives": self.objectives,
            "zones": self.zones,
            "stand_ins": self.stand_ins,
        }[table]
        if table in rows:
            box.select(rows[table], box.model.column_of(field))
        box.view.setFocus()

    # ------------------------------------------------------------ the act's injects

    def _act(self) -> int:
        row = self.acts.current_row()
        return row if 0 <= row < len(self.edit.rows(("acts",))) else -1

    def _act_changed(self) -> None:
        act = self._act()
        for box, key in ((self.injects, "injects"), (self.expect, "expect")):
            table: Path_ | None = ("acts", act, key) if act >= 0 else None
            if box.model.table != table:
                box.model.set_table(table)
            box.setEnabled(act >= 0)
        if act >= 0:
            row = self.edit.rows(("acts",))[act]
            self.act_heading.setText(f"Act {act + 1}: {row.get('title') or row.get('id')}")
        else:
            self.act_heading.setText("Choose an act above to edit its injects")

    def _act_row(self) -> Row:
        act = self._act()
        return self.edit.rows(("acts",))[act] if act >= 0 else {}

    def _inject_menu(self) -> QMenu:
        menu = QMenu(self)
        for kind, label in INJECT_KINDS:
            action = menu.addAction(label)
            action.triggered.connect(lambda _=False, k=kind: self._add_inject(k))
        return menu

    def _add_inject(self, kind: str) -> None:
        act = self._act()
        if act >= 0:
            self.injects.select(self.edit.add_inject(act, kind))

    def _inject_columns(self) -> list[Column]:
        def at_clock(row: Row) -> dt.time | None:
            start = self._act_row().get("start")
            if not isinstance(start, dt.time):
                return None
            secs = start.hour * 3600 + start.minute * 60 + start.second + float(row.get("at_s", 0))
            secs = max(0, min(int(round(secs)), 86399))
            return dt.time(secs // 3600, secs % 3600 // 60, secs % 60)

        def at_from_clock(row: Row, value: Any) -> tuple[str, Any]:
            start = self._act_row().get("start")
            base = start.hour * 3600 + start.minute * 60 + start.second if start else 0
            return "at_s", float(value.hour * 3600 + value.minute * 60 + value.second - base)

        def is_(*kinds: str) -> Callable[[Row], bool]:
            return lambda r: r.get("kind") in kinds

        def text_of(row: Row) -> Any:
            return (
                (row.get("alert") or {}).get("headline")
                if row.get("kind") == "alert"
                else row.get("text")
            )

        def text_to(row: Row, value: Any) -> tuple[str, Any]:
            if row.get("kind") == "alert":
                return "alert", {**(row.get("alert") or {}), "headline": value}
            return "text", value

        return [
            Column("id", "Inject"),
            Column("kind", "Kind", editable=False),
            Column(
                "at_s",
                "Time",
                "time",
                read=at_clock,
                write=at_from_clock,
                tip="Local time on the act's day",
            ),
            Column(
                "text",
                "Text",
                read=text_of,
                write=text_to,
                applies=is_("report", "prompt", "alert"),
            ),
            Column(
                "category",
                "Category",
                "choice",
                choices=lambda r: list(m.CATEGORIES),
                applies=is_("report", "burst"),
                optional=True,
            ),
            Column(
                "place",
                "Place",
                "choice",
                choices=self._places,
                applies=is_("report", "burst"),
                optional=True,
            ),
            Column("count", "Reports", "int", applies=is_("burst")),
            Column("over_s", "Over (min)", "minutes", applies=is_("burst")),
            Column(
                "group",
                "Sent by group",
                "choice",
                choices=self._citizen_groups,
                applies=is_("report"),
                optional=True,
            ),
            Column("by", "Stand-in", "choice", choices=self._stand_in_names, applies=is_("alert")),
        ]

    def _expect_columns(self) -> list[Column]:
        def triggers(row: Row) -> list[str]:
            ids = [f"inject:{i.get('id')}" for i in self._act_row().get("injects", [])]
            return ["act_start", "first_report", "each_report", *ids]

        return [
            Column("id", "Expected action"),
            Column("action", "Action", "choice", choices=lambda r: list(ACTIONS)),
            Column("trigger", "After", "choice", choices=triggers, optional=True),
            Column("within_s", "Within (min)", "minutes", tip="Minutes after the trigger"),
            Column(
                "category",
                "Category",
                "choice",
                choices=lambda r: list(m.CATEGORIES),
                optional=True,
            ),
            Column("area", "Zone", "choice", choices=self._zone_names, optional=True),
            Column("text", "In the evaluator's words", optional=True),
        ]

    def _places(self, row: Row) -> list[str]:
        try:
            resolved = self.edit.scenario(self._act())
        except (sc.ScenarioError, IndexError):
            return []
        return [h.name for h in resolved.hotspots()] if resolved else []

    def _citizen_groups(self, row: Row) -> list[str]:
        return [
            str(g.get("name")) for g in self.edit.rows(("groups",)) if g.get("role") == "citizen"
        ]

    def _officer_groups(self, row: Row) -> list[str]:
        return [
            str(g.get("name")) for g in self.edit.rows(("groups",)) if g.get("role") == "officer"
        ]

    def _stand_in_names(self, row: Row) -> list[str]:
        return [str(s.get("name")) for s in self.edit.rows(("stand_ins",))]

    def _zone_names(self, row: Row) -> list[str]:
        return [str(z.get("name")) for z in self.edit.rows(("zones",))]


def _caption(text: str) -> QLabel:
    label = plain_label(text, selectable=False)
    label.setStyleSheet(f"color: {current()['muted']}; font-weight: 600; padding-top: 4px;")
    return label


def _scenario_name(row: Row) -> str:
    scenario = row.get("scenario")
    if isinstance(scenario, dict):
        return f"inline: {scenario.get('name', '')}"
    return str(scenario or "")


def _does(row: Row) -> str:
    return ", ".join(str(d.get("action")) for d in row.get("does", []))
