"""No location oracle: an officer bisecting previews cannot place a phone, against the real
relay over TLS with its default limits (fewer than 5, 10,000 m², a burst of 30).

Before issue 8 about 40 shrinking rectangles pinned one phone to 2-3 m and a 0.5 m circle
counted 1; a sent alert's `recipients` and an edge-slid `approval_required` told exact
counts too. Known limit (docs/security.md): an alert that reaches 5 phones or more shows
exact delivery counts, so an officer with colluding phones inside an area, sending real
alerts to it again and again (each audited, rate-limited and shown on every phone in it),
could still learn whether one more phone is inside.
"""

from __future__ import annotations

import json
import math

from sqlalchemy import text

from backend_client import messages as m
from relay import admin
from tests.conftest import start_relay
from tests.support.flows import PRESTON, alert_info, device, officer, square
from tests.support.peer import next_id

DEFAULTS = {"min_count_shown": 5, "preview_burst": 30, "min_area_m2": 10_000.0}
METRES_PER_DEG = math.radians(1.0) * 6371008.8


def box(west: float, south: float, east: float, north: float) -> m.Polygon:
    return m.Polygon(coordinates=[(west, south), (east, south), (east, north), (west, north)])


def width_m(b: tuple[float, float, float, float]) -> float:
    west, south, east, north = b
    dx = (east - west) * METRES_PER_DEG * math.cos(math.radians(PRESTON[0]))
    dy = (north - south) * METRES_PER_DEG
    return min(dx, dy)


async def test_bisecting_previews_cannot_place_a_phone_closer_than_a_street(tmp_path):
    running = await start_relay(tmp_path / "r", **DEFAULTS)  # type: ignore[arg-type]
    try:
        target_lat, target_lon = PRESTON[0] + 0.00123, PRESTON[1] - 0.00217
        await device(running, lat=target_lat, lon=target_lon)
        far = (PRESTON[0] + 0.05, PRESTON[1] + 0.05)  # about 6 km away
        for i in range(6):
            await device(running, lat=far[0] + i * 1e-4, lon=far[1])
        eve = await officer(running, "dana")

        async def count(area: m.Area) -> m.AlertCount | m.Error:
            reply = await eve.request(
                m.AlertPreview(id=next_id(), area=area, categories=["burglary"])
            )
            assert isinstance(reply, m.AlertCount | m.Error), reply
            return reply

        # the attacker knows the phone is somewhere in a 2 km box and halves it
        best = (PRESTON[1] - 0.01, PRESTON[0] - 0.01, PRESTON[1] + 0.01, PRESTON[0] + 0.01)
        asked = 0
        for step in range(20):
            west, south, east, north = best
            if step % 2 == 0:
                mid = (west + east) / 2
                halves = [(west, south, mid, north), (mid, south, east, north)]
            else:
                mid = (south + north) / 2
                halves = [(west, south, east, mid), (west, mid, east, north)]
            answers = []
            for half in halves:
                asked += 1
                answers.append(await count(box(*half)))
            hits = [
                h
                for h, a in zip(halves, answers, strict=True)
                if isinstance(a, m.AlertCount) and a.fewer_than is None and a.recipients > 0
            ]
            for a in answers:  # one phone and none answer alike
                if isinstance(a, m.AlertCount):
                    assert a.recipients == 0 and a.fewer_than == 5
                else:
                    assert a.code == "invalid_geometry", a
            if len(hits) != 1:
                break
            best = hits[0]
        assert width_m(best) >= 100.0, f"phone placed within {width_m(best):.1f} m"

        # shrinking circles: a 0.5 m circle on the phone is refused, not counted
        for radius in (200.0, 50.0, 0.5):
            asked += 1
            reply = await count(m.Circle(lat=target_lat, lon=target_lon, radius_m=radius))
            if radius < 56.0:
                assert isinstance(reply, m.Error) and reply.code == "invalid_geometry"
                assert "too small" in reply.message
            else:
                assert isinstance(reply, m.AlertCount) and reply.fewer_than == 5
        # sending to a street-sized box is refused too: send reveals a count
        tiny = m.Polygon(
            coordinates=[
                (target_lon - 1e-4, target_lat - 1e-4),
                (target_lon + 1e-4, target_lat - 1e-4),
                (target_lon + 1e-4, target_lat + 1e-4),
                (target_lon - 1e-4, target_lat + 1e-4),
            ]
        )
        sent = await eve.request(
            m.AlertSend(id=next_id(), idem=next_id(), info=alert_info(area=tiny))
        )
        assert isinstance(sent, m.Error) and sent.code == "invalid_geometry"
        asked += 1

        # an honest preview of the neighbourhood still gets its exact count
        honest = await count(square(0.1))
        asked += 1
        assert isinstance(honest, m.AlertCount) and honest.fewer_than is None
        assert honest.recipients == 7

        # and a script that keeps going is slowed down, told when to come back
        limited = None
        for _ in range(40):
            reply = await count(square(0.1))
            asked += 1
            if isinstance(reply, m.Error):
                limited = reply
                break
        assert limited is not None and limited.code == "rate_limited", limited
        assert limited.retry_after_s is not None and limited.retry_after_s > 0
        assert asked <= 40, "the burst of 30 (plus refill) stopped the script"
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]

    engine = admin.open_engine(running.data_dir)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT subject, detail FROM audit_log WHERE action='alert.preview'")
            ).all()
        assert len(rows) >= 10
        details = [json.loads(d) for _, d in rows]
        assert all("area" in d and "count" in d for d in details)
        assert {"<5", "7"} <= {d["count"] for d in details}
        assert all(s == "dana" for s, _ in rows), "the subject is the officer, never a device"
        assert all(set(d) == {"area", "categories", "count"} for d in details), details[0]
        assert admin.verify_audit(engine).ok
    finally:
        engine.dispose()


async def test_an_alert_to_fewer_than_five_phones_never_shows_its_counts(tmp_path):
    """Sending is a count too: one phone and none must look alike in the reply, in every
    `alert.changed` (as the phone acknowledges) and in a console's replay."""
    running = await start_relay(tmp_path / "r", **DEFAULTS)  # type: ignore[arg-type]
    try:
        phone, _ = await device(running)
        eve = await officer(running, "dana")
        sent = await eve.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
        assert isinstance(sent, m.AlertAccepted) and sent.alert.state == "active"
        shown = sent.alert
        assert (shown.recipients, shown.delivered, shown.read, shown.fewer_than) == (0, 0, 0, 5)
        got = await phone.wait_for(lambda x: isinstance(x, m.AlertDeliver))
        assert got.alert.alert_id == shown.alert_id  # it did reach the phone
        ack = m.AlertAck(id=next_id(), alert_id=shown.alert_id, status="read")
        assert isinstance(await phone.request(ack), m.Ack)
        cancel = await eve.request(
            m.AlertCancel(id=next_id(), idem=next_id(), alert_id=shown.alert_id)
        )
        assert isinstance(cancel, m.AlertAccepted) and cancel.alert.state == "cancelled"
        assert cancel.alert.fewer_than == 5 and cancel.alert.recipients == 0

        later = await officer(running, "dev")  # a console replaying the log from the start
        await later.wait_for(
            lambda e: isinstance(e, m.AlertChanged) and e.alert.state == "cancelled"
        )
        for p in (eve, later):
            changes = [e.alert for e in p.seen if isinstance(e, m.AlertChanged)]
            assert changes, "the officer saw the alert's events"
            assert all(
                (a.recipients, a.delivered, a.read, a.fewer_than) == (0, 0, 0, 5) for a in changes
            ), changes

        # five phones: an ordinary alert shows exact counts again
        for i in range(4):
            await device(running, lat=PRESTON[0] + i * 1e-4)
        big = await eve.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
        assert isinstance(big, m.AlertAccepted)
        assert (big.alert.recipients, big.alert.fewer_than) == (5, None)
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def test_approval_required_cannot_tell_two_spots_of_one_cell_apart(tmp_path):
    """The threshold-crowd attack: an area already holding `approval_threshold` phones,
    its edge slid across the target metre by metre. Decided on exact recipients,
    `approval_required` flips exactly where the phone stands; decided on the cells the
    area touches, the target at two spots ~40 m apart in one cell gets the same answers."""
    config = dict(DEFAULTS, approval_threshold=3, preview_burst=1000, preview_rate_per_s=100.0)
    running = await start_relay(tmp_path / "r", **config)  # type: ignore[arg-type]
    try:
        cell_lat, cell_lon = _cell_centre(PRESTON[0] + 0.004, PRESTON[1] + 0.002)
        spots = [(cell_lat - 0.0002, cell_lon - 0.0003), (cell_lat + 0.0002, cell_lon + 0.0003)]
        crowd_lon = cell_lon + 0.02  # 1.3 km east: always inside the swept areas
        for i in range(3):
            await device(running, lat=cell_lat + i * 1e-4, lon=crowd_lon)
        target, _ = await device(running, lat=spots[0][0], lon=spots[0][1])
        eve = await officer(running, "dana", subscribe=None)

        async def sweep() -> list[bool]:
            answers = []
            for step in range(-30, 31):  # the west edge, ~7 m steps over 400 m
                west = cell_lon + step * 0.0001
                area = box(west, cell_lat - 0.005, crowd_lon + 0.005, cell_lat + 0.005)
                reply = await eve.request(
                    m.AlertPreview(id=next_id(), area=area, categories=["burglary"])
                )
                assert isinstance(reply, m.AlertCount), reply
                answers.append(reply.approval_required)
            return answers

        first = await sweep()
        moved = m.LocationUpdate(id=next_id(), lat=spots[1][0], lon=spots[1][1])
        assert isinstance(await target.request(moved), m.Ack)
        second = await sweep()
        assert first == second
        assert any(first) and not all(first)  # the sweep did cross the target's cell
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


def _cell_centre(lat: float, lon: float) -> tuple[float, float]:
    """The centre of the relay's ~100 m grid cell holding (lat, lon)."""
    import numpy as np

    from relay import targeting

    la, lo = targeting.snap(np.array([lat]), np.array([lon]))
    return float(la[0]), float(lo[0])
