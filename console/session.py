"""The one bridge between `RelayClient` (asyncio, no Qt) and the console's widgets.

It owns the asyncio tasks that read the client's event stream and turns each event into
a Qt signal named for what happened. Widgets never touch the client or a coroutine: they
connect to these signals, call `submit()` for actions (durable, via the outbox), and call
`run()` for a request whose answer comes back through a callback on the GUI thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QObject, Signal

from backend_client import messages as m
from backend_client.client import RelayClient
from backend_client.errors import ProtocolError
from backend_client.outbox import OutboxEntry
from backend_client.state import ConnectionStatus

log = logging.getLogger(__name__)


class ConsoleSession(QObject):
    event_received = Signal(object)  # every officer event as it came off the wire (seq, at, by)
    report_changed = Signal(object, bool)  # m.Report, True when newly created
    chat_posted = Signal(object)  # m.ChatMessage
    chat_status_changed = Signal(str, str, str)  # message_id, report_id, status
    alert_changed = Signal(object)  # m.Alert
    incident_opened = Signal(str, str)  # incident_ref, title
    #: a citizen erased their data: m.ReportErased, after the session forgot those reports
    reports_erased = Signal(object)
    #: m.PilotInfo: a pilot was created, ended or purged, or a participant joined or left
    pilot_changed = Signal(object)
    connection_state_changed = Signal(object)  # ConnectionStatus
    outbox_changed = Signal(object, object)  # OutboxEntry, reply (None = queued; m.Error = refused)
    request_failed = Signal(str)  # a message for the user
    #: this officer opened a report for the first time (it is no longer unread for them)
    report_opened = Signal(str)
    #: the relay lost the history the views were built from (a restore, a new database):
    #: the session has dropped every report, chat and alert (and told the report views
    #: through `reports_erased`); a view keeping items of its own drops them now. It
    #: carries the ids of the alerts dropped (a frozenset). The replay from seq 0 that
    #: follows brings back what is true.
    history_lost = Signal(object)

    #: what the report pane says while a media file is on its way, and its video button's tip
    media_loading_text = "Fetching from the relay…"
    video_load_tip = "Fetch the video from the relay (the view is audited)"

    def __init__(self, client: RelayClient, cache: Any | None = None) -> None:
        super().__init__()
        self.client = client
        self.cache = cache
        self.reports: dict[str, m.Report] = {}
        self.chats: dict[str, list[m.ChatMessage]] = {}
        self.alerts: dict[str, m.Alert] = {}
        #: kept reports (linked to an incident) whose citizen erased their data
        self.tombstoned: set[str] = set()
        self._media: dict[str, tuple[str, bytes]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listeners: list[Callable[[m.Msg], None]] = []
        #: reports this officer has opened, on any sign-in (kept in the cache, per officer):
        #: read before any report arrives, so replayed and cached ones are judged alike
        self.opened: set[str] = self._cached_opened()
        client.on_status(self.connection_state_changed.emit)
        client.on_outbox(self.outbox_changed.emit)

    @property
    def username(self) -> str:
        return self.client.username

    @property
    def role(self) -> str:
        return self.client.role or "?"

    @property
    def status(self) -> ConnectionStatus:
        return self.client.status

    # ------------------------------------------------------------ opened by this officer

    def _cached_opened(self) -> set[str]:
        reader = getattr(self.cache, "opened_reports", None)
        if reader is None:
            return set()
        try:
            return set(reader(self.client.credentials.username))
        except Exception:
            log.exception("the cache's opened marks could not be read; all reports count unread")
            return set()

    def is_opened(self, report_id: str) -> bool:
        """Has this officer opened the report (on this or an earlier sign-in)?"""
        return report_id in self.opened

    def mark_opened(self, report_id: str) -> bool:
        """The officer opened a report: remembered for their next sign-ins. True the first
        time."""
        if report_id in self.opened:
            return False
        self.opened.add(report_id)
        writer = getattr(self.cache, "mark_opened", None)
        if writer is not None:
            username = self.client.credentials.username
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # no loop (a widget test): a one-row write, here
                writer(username, [report_id])
            else:
                self._spawn(asyncio.to_thread(writer, username, [report_id]))
        self.report_opened.emit(report_id)
        return True

    # ------------------------------------------------------------ lifecycle

    def load_cached(self) -> None:
        """Show what the local cache holds before (or without) a live link."""
        if self.cache is None:
            return
        self.tombstoned = self.cache.tombstoned()
        for report in reversed(self.cache.reports(include_closed=True)):
            self._report(report, created=True)
            for msg in self.cache.chat(report.report_id):
                self._chat(msg)
        for alert in self.cache.alerts():
            self.alerts[alert.alert_id] = alert
            self.alert_changed.emit(alert)

    async def start(self) -> None:
        queue = self.client.subscribe_queue()
        self._spawn(self._pump(queue))
        await self.client.start()

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.stop()

    def reconnect_now(self) -> bool:
        """The officer pressed "Reconnect now": skip the rest of the backoff wait (the
        policy itself stays the client's). False when the link is not backing off."""
        return self.client.reconnect_now()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _pump(self, queue: asyncio.Queue[m.Msg]) -> None:
        while True:
            event = await queue.get()
            try:
                self.dispatch(event)
            except Exception:
                log.exception("a console view failed on %s", type(event).__name__)

    def subscribe(self, listener: Callable[[m.Msg], None]) -> Callable[[], None]:
        """Hand every officer event this session dispatches to `listener` too (Qt-free
        code such as a pilot's live runner, which cannot connect to a signal); returns
        the call that unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def dispatch(self, event: m.Msg) -> None:
        """Turn one officer event into the matching signal (public for tests and replay)."""
        if isinstance(event, m.Subscribed):  # not an event: the client's word on history
            if event.history_lost:
                self._start_over()
            return
        self.event_received.emit(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("an event listener failed on %s", type(event).__name__)
        if isinstance(event, m.ReportCreated):
            self._report(event.report, created=True)
        elif isinstance(event, m.ReportUpdated):
            self._report(event.report, created=event.report.report_id not in self.reports)
        elif isinstance(event, m.ChatPosted):
            self._chat(event.message)
        elif isinstance(event, m.ChatStatusChanged):
            for i, msg in enumerate(self.chats.get(event.report_id, [])):
                if msg.message_id == event.message_id:
                    self.chats[event.report_id][i] = _with_status(msg, event.status)
            self.chat_status_changed.emit(event.message_id, event.report_id, event.status)
        elif isinstance(event, m.AlertChanged):
            self.alerts[event.alert.alert_id] = event.alert
            self.alert_changed.emit(event.alert)
        elif isinstance(event, m.IncidentOpened):
            self.incident_opened.emit(event.incident_ref, event.title)
        elif isinstance(event, m.ReportErased):
            self._erased(event)
        elif isinstance(event, m.PilotChanged):
            self.pilot_changed.emit(event.pilot)

    def _erased(self, event: m.ReportErased) -> None:
        """Forget erased reports, their chat and the media fetched for them (the cache has
        purged its copies already: the client applies an event there first)."""
        dropped: set[str] = set()
        for report_id in event.report_ids:
            report = self.reports.pop(report_id, None)
            self.chats.pop(report_id, None)
            if report is not None:
                dropped.update(x.sha256 for x in report.media)
        if dropped:  # another report may have sent the same bytes: its copy stays
            still = {x.sha256 for r in self.reports.values() for x in r.media}
            for sha in dropped - still:
                self._media.pop(sha, None)
        self.tombstoned.update(event.tombstoned)
        self.reports_erased.emit(event)

    def _start_over(self) -> None:
        """Forget everything the events brought (the client emptied the cache already)."""
        gone, alerts = list(self.reports), frozenset(self.alerts)
        self.reports.clear()
        self.chats.clear()
        self.alerts.clear()
        self.tombstoned = set()
        self._media.clear()
        if gone:  # the path every report view already follows to drop a report
            self.reports_erased.emit(m.ReportErased(seq=0, at=time.time(), report_ids=gone))
        self.history_lost.emit(alerts)

    def _report(self, report: m.Report, created: bool) -> None:
        self.reports[report.report_id] = report
        self.report_changed.emit(report, created)

    def _chat(self, msg: m.ChatMessage) -> None:
        thread = self.chats.setdefault(msg.report_id, [])
        if any(x.message_id == msg.message_id for x in thread):
            return
        thread.append(msg)
        self.chat_posted.emit(msg)

    # ------------------------------------------------------------ actions and requests

    def submit(self, action: Any) -> OutboxEntry:
        """An officer action: written to the outbox, then sent (now, or after reconnecting)."""
        return self.client.submit(action)

    def run(
        self,
        request: Any,
        on_reply: Callable[[m.Msg], None],
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        """Send a request now; `on_reply` or `on_error` is called on the GUI thread."""

        async def go() -> None:
            try:
                reply = await self.client.request(request)
            except ProtocolError as exc:
                (on_error or self.request_failed.emit)(exc.message)
                return
            except Exception as exc:  # not live, timeout, link lost
                (on_error or self.request_failed.emit)(_plain(exc))
                return
            on_reply(reply)

        self._spawn(go())

    def fetch_media(
        self,
        sha256: str,
        on_done: Callable[[str, bytes], None],
        on_error: Callable[[str], None],
    ) -> None:
        """Fetch a report's media file (in pieces), verify its SHA-256, keep it cached."""
        if sha256 in self._media:
            mime, data = self._media[sha256]
            on_done(mime, data)
            return
        if self.cache is not None:
            try:
                hit = self.cache.get_media(sha256)
            except Exception:  # a damaged or unreadable copy: fetch it again from the relay
                log.warning("cached media %s unreadable; fetching it again", sha256[:12])
                hit = None
            if hit is not None:
                self._media[sha256] = hit
                on_done(*hit)
                return

        async def go() -> None:
            parts: list[bytes] = []
            offset, total, mime = 0, None, "application/octet-stream"
            try:
                while total is None or offset < total:
                    reply = await self.client.request(
                        m.MediaGet(id="", sha256=sha256, offset=offset)
                    )
                    assert isinstance(reply, m.MediaData)
                    total, mime = reply.total, reply.mime
                    parts.append(reply.data)
                    offset += len(reply.data)
                    if not reply.data:
                        break
            except Exception as exc:
                on_error(_plain(exc))
                return
            data = b"".join(parts)
            if hashlib.sha256(data).hexdigest() != sha256:
                on_error("The file received does not match its fingerprint; it was not shown.")
                return
            self._media[sha256] = (mime, data)
            if self.cache is not None:
                await asyncio.to_thread(self.cache.put_media, sha256, mime, data)
            on_done(mime, data)

        self._spawn(go())


def _with_status(msg: m.ChatMessage, status: str) -> m.ChatMessage:
    import msgspec

    return msgspec.structs.replace(msg, status=status)


def _plain(exc: BaseException) -> str:
    from backend_client.client import NotLive

    if isinstance(exc, NotLive):
        return "Not connected to the relay right now; try again when the status bar shows Live."
    if isinstance(exc, TimeoutError):
        return "The relay did not answer in time; try again."
    return f"The request failed: {exc}"
