"""`report.mine`: a device sees its own reports and where each stands, newest first, and
never another device's or an officer's name."""

from __future__ import annotations

from backend_client import messages as m
from backend_client.limits import MAX_SHORT_CHARS
from tests.conftest import RunningRelay
from tests.support.flows import device, officer, report
from tests.support.peer import next_id


async def test_a_device_lists_only_its_own_reports_with_their_status(relay: RunningRelay) -> None:
    mine, _ = await device(relay)
    other, _ = await device(relay)
    off = await officer(relay)
    first = await report(mine, text="x" * 500)
    second = await report(mine, text="second", category="vehicle")
    await report(other, text="not yours")
    assert isinstance(
        await off.request(m.ReportClaim(id=next_id(), idem=next_id(), report_id=first.report_id)),
        m.Ack,
    )

    listed = await mine.request(m.ReportsMine(id=next_id()))
    assert isinstance(listed, m.ReportsListed)
    assert [r.report_id for r in listed.reports] == [second.report_id, first.report_id]
    newest, oldest = listed.reports
    assert (newest.category, newest.summary, newest.status) == ("vehicle", "second", "new")
    assert oldest.status == "claimed" and oldest.summary == "x" * MAX_SHORT_CHARS
    assert "dana" not in str(listed)  # the officer holding it is not named

    theirs = await other.request(m.ReportsMine(id=next_id()))
    assert isinstance(theirs, m.ReportsListed)
    assert [r.summary for r in theirs.reports] == ["not yours"]
    for p in (mine, other, off):
        await p.close()
