"""Chat with reporters: conversations with unread counts, one pane per conversation.

Citizen text is untrusted: every label showing it is fixed to `Qt.PlainText`, and the
conversation list's delegate paints plain strings. Replies go through the outbox
(`session.submit`), so one written while offline shows as queued and is sent on
reconnecting; the relay's confirmation replaces the queued bubble with the real message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QKeyEvent, QPainter, QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from backend_client import messages as m
from backend_client.limits import MAX_TEXT_CHARS
from backend_client.outbox import OutboxEntry
from console.chat.model import (
    ChatEntry,
    ChatModel,
    conversation_matches,
    conversation_title,
    list_text,
    mark_text,
    meta_text,
)
from console.common.erasure import ERASED_TEXT
from console.common.exercise import is_exercise_report
from console.common.exercise_banner import exercise_banner, show_exercise
from console.common.labels import plain_label
from console.session import ConsoleSession
from console.theme import current as theme_colours

UNREAD_ROLE = Qt.ItemDataRole.UserRole + 1
REPORT_ROLE = Qt.ItemDataRole.UserRole + 2
_READ_BATCH = 500  # OfficerChatRead takes at most this many ids


# ---------------------------------------------------------------------- message pane


class Bubble(QFrame):
    def __init__(self, entry: ChatEntry) -> None:
        super().__init__()
        self.entry = entry
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("bubble")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 3, 8, 4)
        lay.setSpacing(1)
        self.meta_label = plain_label(selectable=False, shrink=False)
        small = QFont(self.meta_label.font())
        small.setPointSizeF(small.pointSizeF() * 0.85)
        self.meta_label.setFont(small)
        self.text_label = plain_label()  # shrinks: a long word must not widen the bubble
        self.text_label.setMinimumWidth(60)
        self.mark_label = plain_label(selectable=False, shrink=False)
        self.mark_label.setFont(small)
        self.mark_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        top = QHBoxLayout()  # who and when, and the delivery mark, share one line
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.meta_label, 1)
        top.addWidget(self.mark_label)
        lay.addLayout(top)
        lay.addWidget(self.text_label)
        self.update_entry(entry)

    def update_entry(self, entry: ChatEntry) -> None:
        self.entry = entry
        self.meta_label.setText(meta_text(entry))
        if self.text_label.text() != entry.text:
            self.text_label.setText(entry.text)
        self.mark_label.setText(mark_text(entry))
        self.mark_label.setVisible(entry.sender == "officer")
        self._restyle()

    def _restyle(self) -> None:
        """Colours from the current theme; only re-set when they change, because a new
        style sheet re-polishes the bubble (and sends it another PaletteChange)."""
        entry = self.entry
        c = theme_colours()
        colour = {"read": c["highlight"], "refused": c["danger"]}.get(entry.status, c["muted"])
        _set_sheet(self.mark_label, f"color: {colour};")
        bg = c["alt"] if entry.sender == "citizen" else c["button"]
        border = c["danger"] if entry.status == "refused" else c["border"]
        _set_sheet(
            self,
            f"QFrame#bubble {{ background: {bg}; border: 1px solid {border}; border-radius: 8px; }}",
        )

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.PaletteChange:
            self._restyle()  # the theme was switched
        super().changeEvent(event)


def _set_sheet(widget: QWidget, sheet: str) -> None:
    if widget.styleSheet() != sheet:
        widget.setStyleSheet(sheet)


class MessagePane(QScrollArea):
    """The messages of one conversation, oldest at the top, kept in the model's order."""

    def __init__(self, report_id: str) -> None:
        super().__init__()
        self.report_id = report_id
        self.bubbles: dict[str, Bubble] = {}
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._inner = inner = QWidget()
        self._lay = QVBoxLayout(inner)
        self._lay.setContentsMargins(6, 6, 6, 6)
        self._lay.addStretch(1)
        self.empty_label = plain_label(
            "No messages yet. Write to the reporter below.", selectable=False, shrink=False
        )
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._lay.addWidget(self.empty_label)
        self.setWidget(inner)
        self._rows: list[QWidget] = []
        #: follow new messages while scrolled to the bottom (the layout grows after a sync,
        #: so the bar's range is followed, not read once)
        self._stick = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._scrolled)
        bar.rangeChanged.connect(self._range_changed)

    def sync(self, entries: list[ChatEntry]) -> None:
        keys = {e.key for e in entries}
        for key in [k for k in self.bubbles if k not in keys]:
            row = self.bubbles.pop(key).parentWidget()  # a queued reply, now confirmed
            if row is None:
                continue
            self._lay.removeWidget(row)
            row.hide()
            row.deleteLater()
        at_bottom = self._at_bottom()
        added = False
        for e in entries:
            bubble = self.bubbles.get(e.key)
            if bubble is None:
                self.bubbles[e.key] = bubble = Bubble(e)
                added = True
            elif bubble.entry != e:
                bubble.update_entry(e)
        rows = [self._row(self.bubbles[e.key]) for e in entries]
        if rows != self._rows:
            for row in rows:
                self._lay.removeWidget(row)
            for i, row in enumerate(rows):
                self._lay.insertWidget(1 + i, row)  # after the top stretch
            self._rows = rows
        self.empty_label.setVisible(not entries)
        if added and at_bottom:
            self.scroll_to_bottom()

    def scroll_to_bottom(self) -> None:
        self._stick = True
        self._inner.adjustSize()
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _scrolled(self, value: int) -> None:
        self._stick = value >= self.verticalScrollBar().maximum() - 8

    def _range_changed(self, _low: int, high: int) -> None:
        if self._stick:
            self.verticalScrollBar().setValue(high)

    def _at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 8

    @staticmethod
    def _row(bubble: Bubble) -> QWidget:
        row = bubble.parentWidget()
        if row is not None and row.property("chat_row"):
            return row
        row = QWidget()
        row.setProperty("chat_row", True)
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        mine = bubble.entry.sender == "officer"
        if mine:
            lay.addStretch(1)
        lay.addWidget(bubble, 4)
        if not mine:
            lay.addStretch(1)
        return row


# ---------------------------------------------------------------------- conversation list


class UnreadDelegate(QStyledItemDelegate):
    """Paints the item's plain text, plus a round unread badge on the right."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        unread = int(index.data(UNREAD_ROLE) or 0)
        opt = QStyleOptionViewItem(option)
        if unread:
            opt.rect = option.rect.adjusted(0, 0, -34, 0)
            opt.font.setBold(True)
        super().paint(painter, opt, index)
        if not unread:
            return
        text = str(unread) if unread < 100 else "99+"
        r = option.rect
        badge = QRect(r.right() - 30, r.center().y() - 10, 26, 20)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#e5534b"))
        painter.drawRoundedRect(badge, 10, 10)
        painter.setPen(QColor("#ffffff"))
        f = QFont(option.font)
        f.setBold(True)
        painter.setFont(f)
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def sizeHint(  # noqa: N802 - Qt naming
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(size.width() + 34, max(size.height(), 40))


# ---------------------------------------------------------------------- compose


class ComposeEdit(QPlainTextEdit):
    """Enter sends; Shift+Enter starts a new line."""

    send_requested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt naming
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.send_requested.emit()
            event.accept()
            return
        super().keyPressEvent(event)


# ---------------------------------------------------------------------- the widget


class ChatWidget(QWidget):
    def __init__(self, session: ConsoleSession) -> None:
        super().__init__()
        self.session = session
        self.model = ChatModel()
        self.current: str | None = None
        self.panes: dict[str, MessagePane] = {}

        self.list = QListWidget()
        self.list.setItemDelegate(UnreadDelegate(self.list))
        self.list.setUniformItemSizes(True)
        self.list.setMinimumHeight(60)
        self.list.currentItemChanged.connect(self._list_selected)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search conversations: message text or reporter")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _t: self._refresh_list())
        # the search box and the list, hidden together while there is no conversation
        self.list_box = QWidget()
        box = QVBoxLayout(self.list_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addWidget(self.search)
        box.addWidget(self.list, 1)

        self.title = plain_label("", shrink=False)
        bold = QFont(self.title.font())
        bold.setBold(True)
        self.title.setFont(bold)
        self.title.setVisible(False)  # names the open conversation; none is open yet
        #: with a conversation open the list folds away so its messages get the room;
        #: this button (naming how many there are, and how many unread) unfolds it
        self.list_open = False
        self.list_toggle = QToolButton()
        self.list_toggle.setCheckable(True)
        self.list_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.list_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.list_toggle.setAutoRaise(True)
        self.list_toggle.setToolTip("Show or hide the list of conversations")
        self.list_toggle.toggled.connect(self._toggle_list)
        self.list_toggle.setVisible(False)
        #: "EXERCISE — pilot <id>: not a real incident" over an exercise conversation
        self.exercise_banner = exercise_banner()
        #: report id -> pilot, for exercise chat whose report this console has not seen
        self._exercise_chat: dict[str, str | None] = {}
        self.stack = QStackedWidget()
        self.placeholder = QWidget()
        empty_title = plain_label("No conversation open", selectable=False, shrink=False)
        empty_title.setFont(bold)
        self.empty_hint = plain_label(selectable=False, shrink=False)
        self.empty_hint.setEnabled(False)  # drawn in the theme's muted text colour
        empty = QVBoxLayout(self.placeholder)
        empty.addStretch(1)
        for label in (empty_title, self.empty_hint):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            empty.addWidget(label)
        empty.addStretch(1)
        self.stack.addWidget(self.placeholder)

        self.compose = ComposeEdit()
        self.compose.setPlaceholderText("Reply… (Enter sends, Shift+Enter new line)")
        self.compose.setFixedHeight(52)  # two lines and a half: the messages get the room
        self.compose.send_requested.connect(self.send)
        self.compose.textChanged.connect(self._count)
        self.send_button = QPushButton("Send")
        self.send_button.setAutoDefault(False)
        self.send_button.clicked.connect(self.send)
        self.notice = plain_label(selectable=False, shrink=False)
        self.notice.setVisible(False)
        self._restyle()
        self.counter = plain_label(selectable=False, wrap=False, shrink=False)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(6, 4, 6, 4)
        rl.addWidget(self.exercise_banner)
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.list_toggle)
        header.addWidget(self.title, 1)
        rl.addLayout(header)
        rl.addWidget(self.stack, 1)
        rl.addWidget(self.notice)
        # the reply box exists only with a conversation open (see `_set_compose_enabled`)
        self.compose_row = QWidget()
        row = QHBoxLayout(self.compose_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.compose, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.counter)
        row.addLayout(buttons)
        rl.addWidget(self.compose_row)

        # the chat dock is usually tall and narrow: conversations above, messages below
        self._split = split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.list_box)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 4)
        split.setSizes([110, 400])
        split.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self._set_compose_enabled(False)

        for thread in session.chats.values():
            self.model.add_messages(thread)
            for msg in thread:
                if msg.exercise or msg.pilot_id is not None:
                    self._exercise_chat[msg.report_id] = msg.pilot_id
        for report_id in list(session.chats):
            self.model.set_title(report_id, self._title_for(report_id))
        self._load_queued()
        session.chat_posted.connect(self._on_posted)
        session.chat_status_changed.connect(self._on_status)
        session.outbox_changed.connect(self._on_outbox)
        session.report_changed.connect(self._on_report)
        session.reports_erased.connect(self._on_erased)
        self._refresh_list()

    # ------------------------------------------------------------------ public

    def open_conversation(self, report_id: str) -> None:
        if not self.model.has(report_id):
            self.model.conversation(report_id)
        self.model.set_title(report_id, self._title_for(report_id))
        self.current = report_id
        pane = self._pane(report_id)
        pane.sync(self.model.messages(report_id))
        self.stack.setCurrentWidget(pane)
        pane.scroll_to_bottom()
        self.title.setText(self.model.conversation(report_id).title)
        self.title.setVisible(True)
        self._show_exercise()
        self._set_compose_enabled(True)
        self.notice.setVisible(False)
        self._mark_read()
        self._refresh_list()

    def set_time_range(self, between: tuple[float, float] | None) -> None:
        """List only the conversations with a message in [start, end] (unix seconds), e.g.
        the evidence timeline's brush; None lists them all again."""
        if between != self.between:
            self.between = between
            self._refresh_list()

    def send(self) -> None:
        """Queue the compose box's text as a reply (through the outbox)."""
        if self.current is None:
            return
        text = self.compose.toPlainText().strip()
        if not text:
            return
        if len(text) > MAX_TEXT_CHARS:
            self._notice(f"The reply is {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}.")
            return
        try:
            self.session.submit(
                m.OfficerChatSend(id="", idem="", report_id=self.current, text=text)
            )
        except Exception as exc:  # the outbox could not write: keep the text, say why
            self._notice(f"The reply was not queued ({exc}); your text is kept, try again.")
            return
        self.compose.clear()
        self.notice.setVisible(False)

    def focus_reply(self) -> None:
        """Put the cursor in the reply box (the detail pane's "Chat" button asks for it)."""
        self.compose.setFocus()

    # ------------------------------------------------------------------ session events

    def _on_posted(self, msg: m.ChatMessage) -> None:
        if msg.exercise or msg.pilot_id is not None:
            self._exercise_chat[msg.report_id] = msg.pilot_id
            if msg.report_id == self.current:
                self._show_exercise()
        if not self.model.has(msg.report_id):
            self.model.set_title(msg.report_id, self._title_for(msg.report_id))
        if self.model.add_message(msg):
            self._changed(msg.report_id)
            if msg.report_id == self.current and msg.sender == "citizen":
                self._mark_read()

    def _on_status(self, message_id: str, report_id: str, status: str) -> None:
        if self.model.set_status(message_id, report_id, status):
            self._changed(report_id)

    def _on_outbox(self, entry: OutboxEntry, reply: object) -> None:
        action = entry.message
        if not isinstance(action, m.OfficerChatSend):
            return
        if reply is None:
            changed = self.model.queue(
                entry.idem, action.report_id, action.text, self.session.username, entry.created_at
            )
            if changed:
                if not self.model.conversation(action.report_id).title:
                    self.model.set_title(action.report_id, self._title_for(action.report_id))
                self._changed(action.report_id)
        elif isinstance(reply, m.ChatSent):
            self.model.confirm(entry.idem, reply.message)
            self._changed(reply.message.report_id)
        elif isinstance(reply, m.Error):
            report_id = self.model.refuse(entry.idem, reply.message)
            if report_id is not None:
                self._changed(report_id)

    def _on_report(self, report: m.Report, _created: bool) -> None:
        if self.model.has(report.report_id):
            title = self._title_for(report.report_id)
            if title != self.model.conversation(report.report_id).title:
                self.model.set_title(report.report_id, title)
                if report.report_id == self.current:
                    self.title.setText(title)
                    self._show_exercise()
                self._refresh_list()

    def _on_erased(self, event: m.ReportErased) -> None:
        """Erased reports' conversations go, messages and all; an open one says why."""
        changed = False
        for report_id in event.report_ids:
            changed = self.model.remove(report_id) or changed
            self._exercise_chat.pop(report_id, None)
            pane = self.panes.pop(report_id, None)
            if pane is not None:
                self.stack.removeWidget(pane)
                pane.deleteLater()
            if report_id == self.current:
                self.current = None
                self.stack.setCurrentWidget(self.placeholder)
                self.title.setVisible(False)
                self._show_exercise()
                self.compose.clear()
                self._set_compose_enabled(False)
                self._notice(ERASED_TEXT)
        for report_id in event.tombstoned:
            if self.model.has(report_id):
                self.model.set_title(report_id, self._title_for(report_id))
                changed = True
        if changed:
            self._refresh_list()

    # ------------------------------------------------------------------ internals

    def _load_queued(self) -> None:
        """Replies left in the outbox (offline, or the console closed) show as queued."""
        try:
            pending = self.session.client.outbox.pending()
        except Exception:  # a broken outbox is the status bar's news, not the chat's
            return
        for entry in pending:
            self._on_outbox(entry, None)

    def _changed(self, report_id: str) -> None:
        pane = self.panes.get(report_id)
        if pane is not None:
            pane.sync(self.model.messages(report_id))
        self._refresh_list()

    def _mark_read(self) -> None:
        """Tell the relay the officer has seen the open conversation's citizen messages."""
        report_id = self.current
        if report_id is None or not self.isVisible():
            return
        ids = self.model.mark_read_locally(report_id)
        for start in range(0, len(ids), _READ_BATCH):
            batch = ids[start : start + _READ_BATCH]

            def failed(reason: str, batch: list[str] = batch) -> None:
                self.model.unmark_read(report_id, batch)
                self._refresh_list()
                if report_id == self.current:
                    self._notice(f"Could not mark messages as read: {reason}")

            self.session.run(
                m.OfficerChatRead(id="", message_ids=batch), lambda _reply: None, failed
            )

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt naming
        super().showEvent(event)
        if self.current is not None and self.model.unread(self.current):
            self._mark_read()
            self._refresh_list()

    def _pane(self, report_id: str) -> MessagePane:
        pane = self.panes.get(report_id)
        if pane is None:
            pane = self.panes[report_id] = MessagePane(report_id)
            if self.read_only:  # a transcript: nobody can write to the reporter from here
                pane.empty_label.setText("No messages about this report.")
            self.stack.addWidget(pane)
        return pane

    #: inside `batch()`: the list is rebuilt once when it ends
    _batching = False
    #: the time range the list is narrowed to (see `set_time_range`); None = every conversation
    between: tuple[float, float] | None = None

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Many messages at once (a whole transcript loaded): the conversation list is
        rebuilt once at the end, not once per message (which is quadratic)."""
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
            self._refresh_list()

    def _refresh_list(self) -> None:
        if self._batching:
            return
        # an empty list is only a dark box: hidden until there is a conversation to pick
        every = self.model.conversations(self.between)
        has_any = bool(self.model.conversations())
        shown = has_any and (self.current is None or self.list_open)
        if shown != (not self.list_box.isHidden()):
            self.list_box.setVisible(shown)
            if shown:  # unfolded: the list gets a few rows, the messages keep the rest
                total = sum(self._split.sizes())
                self._split.setSizes([min(110, total // 3), max(0, total - min(110, total // 3))])
            else:  # folded: the messages take the list's room too
                self._split.setSizes([0, sum(self._split.sizes())])
        self._update_toggle(has_any)
        needle = self.search.text()
        conversations = [c for c in every if conversation_matches(c, needle)]
        if not has_any:
            hint = "Select a report in the feed or on the map to chat with its reporter."
        elif not every:
            hint = "No conversation has a message in the chosen time range."
        elif not conversations:
            hint = "No conversation holds that text; clear the search to see them all."
        else:
            hint = "Pick a conversation above, or select a report to chat with its reporter."
        self.empty_hint.setText(hint)
        self.list.blockSignals(True)
        try:
            self.list.clear()
            for conv in conversations:
                item = QListWidgetItem(list_text(conv))
                item.setData(UNREAD_ROLE, conv.unread)
                item.setData(REPORT_ROLE, conv.report_id)
                self.list.addItem(item)
                if conv.report_id == self.current:
                    self.list.setCurrentItem(item)
        finally:
            self.list.blockSignals(False)

    def _toggle_list(self, shown: bool) -> None:
        self.list_open = shown
        self._refresh_list()
        if shown:
            self.list.setFocus()

    def _update_toggle(self, has_any: bool) -> None:
        folding = has_any and self.current is not None
        self.list_toggle.setVisible(folding)
        if not folding:
            return
        every = self.model.conversations()
        total, unread = len(every), sum(1 for c in every if c.unread)
        text = f"Conversations ({total}" + (f", {unread} unread)" if unread else ")")
        self.list_toggle.setText(text)
        self.list_toggle.setArrowType(
            Qt.ArrowType.DownArrow if self.list_open else Qt.ArrowType.RightArrow
        )
        if self.list_toggle.isChecked() != self.list_open:
            self.list_toggle.blockSignals(True)
            self.list_toggle.setChecked(self.list_open)
            self.list_toggle.blockSignals(False)

    def _list_selected(self, item: QListWidgetItem | None, _prev: QListWidgetItem | None) -> None:
        if item is not None:
            report_id = item.data(REPORT_ROLE)
            if report_id and report_id != self.current:
                # not from inside the list's own signal: opening rebuilds the list
                QTimer.singleShot(0, lambda: self.open_conversation(str(report_id)))

    def _show_exercise(self) -> None:
        """The banner over the open conversation, if its report (or its chat) is a pilot's."""
        report = self.session.reports.get(self.current) if self.current else None
        if report is not None and is_exercise_report(report):
            show_exercise(self.exercise_banner, True, report.pilot_id)
        elif self.current in self._exercise_chat:
            show_exercise(self.exercise_banner, True, self._exercise_chat[self.current])
        else:
            show_exercise(self.exercise_banner, False, None)

    def _title_for(self, report_id: str) -> str:
        return conversation_title(
            report_id, self.session.reports.get(report_id), report_id in self.session.tombstoned
        )

    #: a transcript to read, never to reply to (the evidence workspace): no reply box at all
    read_only = False

    def _set_compose_enabled(self, on: bool) -> None:
        """No reply box without a conversation: hidden, and disabled so no key reaches it."""
        on = on and not self.read_only
        self.compose.setEnabled(on)
        self.send_button.setEnabled(on)
        self.compose_row.setVisible(on)

    def _notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(True)

    def _restyle(self) -> None:
        _set_sheet(self.notice, f"color: {theme_colours()['danger']};")

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "notice"):
            self._restyle()  # the theme was switched
        super().changeEvent(event)

    def _count(self) -> None:
        n = len(self.compose.toPlainText())
        self.counter.setText(f"{n:,}/{MAX_TEXT_CHARS:,}" if n > MAX_TEXT_CHARS * 0.8 else "")

    def unread_count(self, report_id: str) -> int:
        return self.model.unread(report_id)

    def list_rows(self) -> list[tuple[str, str, int]]:
        """(report_id, text, unread) per conversation row, in display order."""
        out = []
        for i in range(self.list.count()):
            item = self.list.item(i)
            out.append((str(item.data(REPORT_ROLE)), item.text(), int(item.data(UNREAD_ROLE))))
        return out
