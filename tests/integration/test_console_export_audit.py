"""The console's File -> Export is audited by the relay before a file exists (issue 14):
a real client sends `export.audit` to the real relay over TLS; the audit log holds one
`export.<kind>` record with the officer, the count and the file's SHA-256, no citizen
words; a resend with the same key is audited once."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from backend_client import messages as m
from backend_client.state import State
from console.exports import model as export_model
from relay.db import models as db
from tests.support.clients import make_client
from tests.support.flows import device, officer, report
from tests.support.peer import next_id, wait_until

HOSTILE = "<script>alert(1)</script> van outside no. 7"


def _exports(relay: Any) -> list[db.AuditLog]:
    return relay.relay.db.read_sync(  # type: ignore[no-any-return]
        lambda s: list(s.scalars(select(db.AuditLog).where(db.AuditLog.action.like("export.%"))))
    )


async def test_a_console_export_is_audited_with_officer_and_sha256(relay, tmp_path: Path) -> None:
    cit, _ = await device(relay)
    await report(cit, text=HOSTILE)
    client = make_client(relay, tmp_path, "dana")
    q = client.subscribe_queue()
    await client.start()
    try:
        await wait_until(lambda: client.status.state is State.LIVE, timeout=15)
        created = await q.get()
        while not isinstance(created, m.ReportCreated):
            created = await q.get()
        job = export_model.feed_job([created.report], "feed: filter new; 1 rows")
        rendered = export_model.render(job, "geojson")
        msg = export_model.audit_request(job, rendered, tmp_path / "feed.geojson")
        reply = await client.request(msg)
        assert isinstance(reply, m.ExportAudited), reply
        rows = _exports(relay)
        assert len(rows) == 1
        row = rows[0]
        assert (row.actor, row.action, row.subject, row.seq) == (
            "dana",
            "export.reports",
            "feed.geojson",
            reply.audit_seq,
        )
        detail = json.loads(row.detail)
        assert detail["sha256"] == hashlib.sha256(rendered.data).hexdigest()
        assert detail["count"] == 1 and detail["format"] == "geojson"
        assert detail["scope"] == "feed: filter new; 1 rows"
        assert "script" not in row.detail and "van" not in row.detail  # no citizen words
        # the same request again (a resend after a lost reply): one record, same answer
        again = await client.request(msg)
        assert isinstance(again, m.ExportAudited) and again.audit_seq == reply.audit_seq
        assert len(_exports(relay)) == 1
    finally:
        await client.stop()


def _audit(**kw: Any) -> m.ExportAudit:
    fields: dict[str, Any] = dict(
        id=next_id(),
        idem=next_id(),
        kind="reports",
        format="geojson",
        count=1,
        sha256="0" * 64,
        scope="feed: 1 row",
        filename="feed.geojson",
    )
    fields.update(kw)
    return m.ExportAudit(**fields)


async def test_an_analyst_may_export_what_they_see_and_bad_fields_are_refused(relay) -> None:
    ann = await officer(relay, "ann")
    ok = await ann.request(
        _audit(kind="incidents", format="csv", count=0, scope="incident INC-1: 0 reports")
    )
    assert isinstance(ok, m.ExportAudited)
    assert [(r.actor, r.action) for r in _exports(relay)] == [("ann", "export.incidents")]
    frame = {
        "type": "export.audit",
        "v": 1,
        "id": "bad1",
        "idem": next_id(),
        "kind": "devices",  # no such kind: device positions are never exported
        "format": "csv",
        "count": 1,
        "sha256": "0" * 64,
        "scope": "x",
        "filename": "x.csv",
    }
    await ann.send_raw(json.dumps(frame))
    bad = await ann.wait_for(lambda x: isinstance(x, m.Error))
    assert isinstance(bad, m.Error) and bad.code == "malformed"
    assert len(_exports(relay)) == 1


async def test_forged_words_are_refused_and_a_flood_is_limited(tmp_path: Path) -> None:
    """The scope and file name are the console's own words, shown in the audit log: no
    control or direction characters, no path; and one officer's exports are limited, so a
    scripted console cannot bury the log in records."""
    from tests.conftest import start_relay

    r = await start_relay(tmp_path / "r", exports_per_officer_per_hour=3)
    try:
        dana = await officer(r)
        for bad in (
            {"filename": "feed\u202egpj.exe"},  # reads as feed.exe… in a log viewer
            {"filename": "../../etc/passwd"},
            {"scope": "feed\nexport.reports by sam"},  # a forged second line
            {"scope": "feed\x1b[31m"},
        ):
            got = await dana.request(_audit(**bad))
            assert isinstance(got, m.Error) and got.code == "invalid", (bad, got)
        assert _exports(r) == []
        for _ in range(3):
            assert isinstance(await dana.request(_audit()), m.ExportAudited)
        limited = await dana.request(_audit())
        assert isinstance(limited, m.Error) and limited.code == "rate_limited"
        assert limited.retry_after_s is not None and limited.retry_after_s > 0
        assert len(_exports(r)) == 3
        sam = await officer(r, "sam")  # another officer's bucket is their own
        assert isinstance(await sam.request(_audit()), m.ExportAudited)
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]


async def test_a_map_view_export_is_audited_with_every_kind_it_holds(relay) -> None:
    """The map view's GeoJSON holds reports and alerts: one `export.reports` record (the
    action names stay) whose detail says `kinds: reports+alerts`; a console that sends no
    `kinds` is recorded with its `kind` alone."""
    dana = await officer(relay, "dana")
    base: dict[str, Any] = dict(
        kind="reports",
        format="geojson",
        count=3,
        sha256="0" * 64,
        scope="map view: 2 reports, 1 alerts",
    )
    for name, kinds in (("map.geojson", ["reports", "alerts"]), ("old.geojson", [])):
        ok = await dana.request(
            m.ExportAudit(id=next_id(), idem=next_id(), filename=name, kinds=kinds, **base)
        )
        assert isinstance(ok, m.ExportAudited), ok
    rows = _exports(relay)
    assert [(r.action, r.subject) for r in rows] == [
        ("export.reports", "map.geojson"),
        ("export.reports", "old.geojson"),
    ]
    assert [json.loads(r.detail)["kinds"] for r in rows] == ["reports+alerts", "reports"]
