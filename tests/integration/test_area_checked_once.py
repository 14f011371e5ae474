"""The relay checks a request's alert area once: the preview's count, reach and email
count, and the send's recipients, reach and emails, all take the area it checked."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend_client import geometry
from backend_client import messages as m
from relay import targeting
from tests.conftest import start_relay
from tests.integration.test_email_alerts import mail_config, subscribe_confirmed
from tests.support import flows
from tests.support.peer import next_id, wait_until
from tests.support.smtp import Inbox, start_smtp


def _by_the_sender() -> bool:
    """Whether the email sender is checking a stored version's area for its words ("you
    are inside it"): once per batch it claims, in its own job, not a request's check."""
    return any(frame.name == "_with_distances" for frame in traceback.extract_stack())


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every check of an area a request makes, by kind: a polygon's (the shared rules)
    or a circle's."""
    seen: list[str] = []
    polygon_fault, check_circle = geometry.polygon_fault, targeting._check_circle

    def counted_polygon(ring: geometry.Ring) -> geometry.Fault | None:
        if not _by_the_sender():
            seen.append("polygon")
        return polygon_fault(ring)

    def counted_circle(area: m.Circle) -> None:
        if not _by_the_sender():
            seen.append("circle")
        check_circle(area)

    monkeypatch.setattr(geometry, "polygon_fault", counted_polygon)
    monkeypatch.setattr(targeting, "_check_circle", counted_circle)
    yield seen


async def test_preview_send_and_update_each_check_their_area_once(
    tmp_path: Path, checks: list[str]
) -> None:
    inbox = Inbox()
    smtp, ca = start_smtp(tmp_path / "smtp", inbox)
    r = await start_relay(tmp_path / "relay", **mail_config(smtp.port, ca))
    try:
        phone, _ = await flows.device(r)
        await subscribe_confirmed(r, inbox, "resident@example.org")  # emails are counted too
        dana = await flows.officer(r)
        circle = m.Circle(lat=flows.PRESTON[0], lon=flows.PRESTON[1], radius_m=800.0)
        for area, kind in ((flows.square(), "polygon"), (circle, "circle")):
            checks.clear()
            count = await dana.request(
                m.AlertPreview(id=next_id(), area=area, categories=["burglary"])
            )
            assert isinstance(count, m.AlertCount) and count.emails == 1, count
            assert checks == [kind], "a preview checks its area once"

        checks.clear()
        sent = await dana.request(
            m.AlertSend(id=next_id(), idem=next_id(), info=flows.alert_info(status="Test"))
        )
        assert isinstance(sent, m.AlertAccepted) and sent.alert.recipients == 1, sent
        await wait_until(lambda: len(inbox.to("resident@example.org")) == 2)  # emailed
        assert checks == ["polygon"], "a send checks its area once"

        checks.clear()
        info = flows.alert_info(status="Test", area=circle, headline="Suspect seen")
        updated = await dana.request(
            m.AlertUpdate(id=next_id(), idem=next_id(), alert_id=sent.alert.alert_id, info=info)
        )
        assert isinstance(updated, m.AlertAccepted), updated
        await wait_until(lambda: len(inbox.to("resident@example.org")) == 3)
        assert checks == ["circle"], "an update checks its new area once"
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]
        smtp.stop()
