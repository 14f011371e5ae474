"""Many phones acknowledging one alert at the same moment, against the real relay over TLS
on SQLite and on PostgreSQL: their acknowledgements land in the same writer batches (the
relay looks the alert up once per batch and writes the changes at COMMIT), and every
count and every recipient's status comes out as if each had been applied alone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from backend_client import messages as m
from relay.db import models as db
from tests.conftest import RunningRelay
from tests.support import postgres
from tests.support.flows import alert_info, device, officer
from tests.support.peer import next_id
from tests.support.pg_relay import start_pg_relay

PHONES = 24


async def _acks_at_once_add_up(r: RunningRelay) -> None:
    off = await officer(r)
    phones = [(await device(r))[0] for _ in range(PHONES)]
    acc = await off.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
    assert isinstance(acc, m.AlertAccepted) and acc.alert.recipients == PHONES, acc
    alert_id = acc.alert.alert_id
    for p in phones:
        await p.wait_for(lambda x: isinstance(x, m.AlertDeliver) and x.alert.alert_id == alert_id)

    def ack(i: int, status: str, alert: str = alert_id) -> m.AlertAck:
        return m.AlertAck(id=f"ack-{i}-{status}-{next_id()}", alert_id=alert, status=status)  # type: ignore[arg-type]

    # everyone "delivered" at once; a third "read" straight away (a read first counts as
    # delivered too), some twice; one asks about an alert that does not exist
    first = [ack(i, "read" if i % 3 == 0 else "delivered") for i in range(PHONES)]
    replies = await asyncio.gather(*(p.request(a) for p, a in zip(phones, first, strict=True)))
    assert all(isinstance(x, m.Ack) for x in replies), replies
    again = [(phones[i], ack(i, "read")) for i in range(0, PHONES, 3)]
    again += [(phones[1], ack(1, "delivered")), (phones[2], ack(2, "delivered", "A-NOPE"))]
    replies = await asyncio.gather(*(p.request(a) for p, a in again))
    assert all(isinstance(x, m.Ack) for x in replies[:-1]), replies
    assert isinstance(replies[-1], m.Error) and replies[-1].code == "not_found", replies[-1]
    reads = len(range(0, PHONES, 3))
    await off.wait_for(
        lambda e: (
            isinstance(e, m.AlertChanged)
            and e.alert.alert_id == alert_id
            and (e.alert.delivered, e.alert.read) == (PHONES, reads)
        )
    )

    def stored(s: object) -> tuple[int, int, list[str]]:
        a = s.scalar(select(db.Alert).where(db.Alert.public_id == alert_id))  # type: ignore[attr-defined]
        statuses = s.scalars(  # type: ignore[attr-defined]
            select(db.AlertRecipient.status).where(db.AlertRecipient.alert_id == a.id)
        )
        return a.delivered, a.read, sorted(statuses)

    want = ["delivered"] * (PHONES - reads) + ["read"] * reads
    assert r.relay.db.read_sync(stored) == (PHONES, reads, want)  # type: ignore[attr-defined]
    for p in [off, *phones]:
        await p.close()


async def test_acknowledgements_at_once_add_up_on_sqlite(relay: RunningRelay) -> None:
    await _acks_at_once_add_up(relay)


async def test_acknowledgements_at_once_add_up_on_postgresql(
    tmp_path: Path, pg_cluster: postgres.PostgresCluster
) -> None:
    pytest.importorskip("psycopg", reason="PostgreSQL runs need the psycopg[binary] driver")
    running = await start_pg_relay(tmp_path / "relay", pg_cluster.create_database())
    try:
        await _acks_at_once_add_up(running)
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]
