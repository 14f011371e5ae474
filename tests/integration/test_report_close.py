"""Closing with a reason and reopening, on the real relay over TLS: the reason reaches every
console in the event, is audited, and a reopen clears it."""

from __future__ import annotations

import json

from sqlalchemy import text

from backend_client import messages as m
from relay import admin
from tests.support.flows import device, officer, report
from tests.support.peer import next_id


def _status(report_id: str, status: str, reason: str | None = None) -> m.ReportSetStatus:
    return m.ReportSetStatus(
        id=next_id(), idem=next_id(), report_id=report_id, status=status, reason=reason
    )  # type: ignore[arg-type]


async def test_close_with_a_reason_then_reopen_clears_it(relay):
    cit, _ = await device(relay)
    acc = await report(cit)
    dana, dev = await officer(relay, "dana"), await officer(relay, "dev")
    rid = acc.report_id
    assert isinstance(
        await dana.request(m.ReportClaim(id=next_id(), idem=next_id(), report_id=rid)), m.Ack
    )
    assert isinstance(await dana.request(_status(rid, "in_progress")), m.Ack)
    assert isinstance(await dana.request(_status(rid, "closed", "Passed to 999/101")), m.Ack)
    closed = await dev.wait_for(
        lambda e: isinstance(e, m.ReportUpdated) and e.report.status == "closed"
    )
    assert closed.report.close_reason == "Passed to 999/101"
    assert closed.report.claimed_by == "dana"

    # another dispatcher may not put dana's report back into progress (only reopen it as
    # theirs); dana may: her undo puts it back where it was, still hers
    err = await dev.request(_status(rid, "in_progress"))
    assert isinstance(err, m.Error) and err.code == "conflict"
    assert isinstance(await dana.request(_status(rid, "in_progress")), m.Ack)
    back = await dev.wait_for(
        lambda e: (
            isinstance(e, m.ReportUpdated)
            and e.report.report_id == rid
            and e.report.status == "in_progress"
        )
    )
    assert back.report.close_reason is None and back.report.claimed_by == "dana"

    # closed again, then reopened by a claim from someone else: the reason goes too
    assert isinstance(await dana.request(_status(rid, "closed", "Duplicate")), m.Ack)
    await dev.wait_for(
        lambda e: isinstance(e, m.ReportUpdated) and e.report.close_reason == "Duplicate"
    )
    assert isinstance(
        await dev.request(m.ReportClaim(id=next_id(), idem=next_id(), report_id=rid)), m.Ack
    )
    taken = await dana.wait_for(
        lambda e: isinstance(e, m.ReportUpdated) and e.by == "dev" and e.report.report_id == rid
    )
    assert taken.report.status == "claimed" and taken.report.close_reason is None

    engine = admin.open_engine(relay.data_dir)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT detail FROM audit_log WHERE action='report.status' AND subject=:s"),
                {"s": rid},
            ).all()
            stored = conn.execute(
                text("SELECT close_reason FROM reports WHERE public_id=:s"), {"s": rid}
            ).scalar_one()
    finally:
        engine.dispose()
    reasons = [json.loads(d).get("reason") for (d,) in rows]
    assert reasons == [None, "Passed to 999/101", None, "Duplicate"]
    assert stored is None
