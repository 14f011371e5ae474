"""Alert and chat delivery to connected phones, and the alert counts waiting to be pushed.

Used after commit by the endpoints (through their context) and by the server's chores. A
send is one encode and one `websockets.broadcast` over the connected recipients: phones
not connected now get the alert or message from the database when they reconnect.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np

from backend_client import codec
from backend_client import messages as m
from relay import alerts, node_notes, reports, wire
from relay.db.uow import Database
from relay.hub import Hub
from relay.metrics import Metrics


class Delivery:
    def __init__(self, db: Database, hub: Hub, metrics: Metrics) -> None:
        self._db = db
        self._hub = hub
        self._metrics = metrics
        #: alerts (primary keys) whose delivered/read counts changed since the last push
        self._dirty: set[int] = set()

    def deliver_alert(
        self, alert: m.Alert, keys: Iterable[int] | np.ndarray, started: float | None = None
    ) -> None:
        """Push one alert frame to every connected recipient: one encode, one broadcast.

        `started` (perf_counter) is when the officer's request arrived: the fan-out
        histogram measures from there to the last frame handed to its connection."""
        frame = codec.encode_text(m.AlertDeliver(alert=wire.citizen_alert(alert)))
        sent = self._hub.send_to_devices(np.asarray(keys, dtype=np.int64).tolist(), frame)
        exercise = alert.info.pilot_id is not None  # counted apart from live statistics
        (
            self._metrics.exercise_alerts_delivered if exercise else self._metrics.alerts_delivered
        ).inc(sent)
        if started is not None:
            self._metrics.alert_fanout.observe(time.perf_counter() - started)

    async def redeliver(self, alert_id: str, started: float | None = None) -> None:
        """Send an alert's current version to everyone it reaches (read back after commit)."""
        alert, _refs = await self._db.read(alerts.load(alert_id))
        keys = await self._db.read(alerts.recipients_of(alert_id))
        self.deliver_alert(alert, keys, started)

    async def mark_delivered_to_officers(self, ids: list[str]) -> None:
        moved = await self._db.write(
            node_notes.telling_chat_marks(reports.mark_chat_delivered_to_officers(ids))
        )
        self.tell_citizens_chat_status(moved)

    async def mark_awaiting_delivered_to_officers(self) -> None:
        """A console has just caught up (its replay included them): every citizen message
        that waited for one is now delivered, and its sender is told."""
        ids = await self._db.read(reports.citizen_chat_awaiting_officers())
        if ids:
            await self.mark_delivered_to_officers(ids)

    def tell_citizens_chat_status(self, moved: list[tuple[int, m.ChatMessage]]) -> None:
        for device_key, msg in moved:
            frame = codec.encode_text(
                m.ChatStatusUpdate(message_id=msg.message_id, status=msg.status)
            )
            self._hub.send_to_devices([device_key], frame)

    def counts_changed(self, alert_pk: int) -> None:
        """An acknowledgement moved this alert's counts: the next chore round pushes them
        (throttled, so a thousand acks make one event, not a thousand)."""
        self._dirty.add(alert_pk)

    def take_dirty(self) -> list[int]:
        """The alerts whose counts changed since the last call, in key order."""
        dirty = sorted(self._dirty)
        self._dirty.clear()
        return dirty
