"""The Incidents model on its own: events in, the list and one incident's view out."""

from __future__ import annotations

import msgspec

from backend_client import messages as m
from console.incidents.model import (
    IncidentInfo,
    IncidentsModel,
    duplicate_candidates,
    linkable,
    suggested_title,
)
from tests.support.samples import T0, exercise_report, numbered_report, timed_alert, timed_chat

REF = "INC-2026-00001"


def _linked(n: int, **kw: object) -> m.Report:
    return numbered_report(n, incident_ref=REF, **kw)


def test_only_reports_linked_to_an_incident_are_kept() -> None:
    model = IncidentsModel()
    for n in range(100):
        model.apply(m.ReportCreated(seq=n, at=T0 + n, report=numbered_report(n)))
    assert model.version == 0 and model.refs() == []
    model.apply(m.IncidentOpened(seq=200, at=T0 + 200, incident_ref=REF, title="Boy", by="dana"))
    model.apply(m.ReportUpdated(seq=201, at=T0 + 201, report=_linked(3), by="dana"))
    assert model.refs() == [REF] and [r.report_id for r in model.reports_of(REF)] == ["R-0003"]
    assert model.incident_of("R-0003") == REF and model.incident_of("R-0004") is None


def test_summary_counts_reports_and_duplicates_and_its_latest_activity() -> None:
    model = IncidentsModel()
    model.opened(REF, "Missing boy", "dana", T0)
    model.report(_linked(1))
    model.report(_linked(2, duplicate_of="R-0001", status="closed"))
    chats = {"R-0002": [timed_chat("R-0002", "citizen", T0 + 500)]}
    model.alert(timed_alert(T0 + 300, info=_info()))
    [s] = model.summaries(chats)
    assert (s.ref, s.title, s.reports, s.duplicates, s.opened_by) == (
        REF,
        "Missing boy",
        2,
        1,
        "dana",
    )
    assert s.latest == T0 + 500 and s.opened_at == T0 and not s.exercise


def test_a_link_to_an_incident_this_console_did_not_see_opened_still_lists_it() -> None:
    model = IncidentsModel()
    model.report(_linked(1))
    [s] = model.summaries({})
    assert s.ref == REF and s.opened_at is None and s.reports == 1


def test_view_has_reports_chat_alerts_and_a_timeline_in_time_order() -> None:
    model = IncidentsModel()
    model.apply(m.IncidentOpened(seq=1, at=T0 + 10, incident_ref=REF, title="Boy", by="dana"))
    model.apply(m.ReportCreated(seq=2, at=T0 + 1, report=numbered_report(1)))
    model.apply(m.ReportUpdated(seq=3, at=T0 + 11, report=_linked(1), by="dana"))
    model.apply(m.ReportCreated(seq=4, at=T0 + 2, report=numbered_report(2)))
    dup = _linked(2, duplicate_of="R-0001", status="closed", close_reason="Duplicate of R-0001")
    model.apply(m.ReportUpdated(seq=5, at=T0 + 20, report=dup, by="sam"))
    model.apply(m.AlertChanged(seq=6, at=T0 + 30, alert=timed_alert(T0 + 30, info=_info())))
    model.apply(m.AlertChanged(seq=7, at=T0 + 31, alert=timed_alert(T0 + 31, alert_id="other")))
    chats = {"R-0001": [timed_chat("R-0001", "citizen", T0 + 25, "m1")]}
    v = model.view(REF, chats)
    assert [r.report_id for r in v.reports] == ["R-0001", "R-0002"]
    assert [c.message_id for c in v.chat] == ["m1"]
    assert [a.alert_id for a in v.alerts] == ["alr_1"]  # only the one carrying the ref
    kinds = [e.kind for e in v.timeline]
    assert kinds == ["report", "report", "opened", "link", "merge", "chat", "alert"]
    assert [e.at for e in v.timeline] == sorted(e.at for e in v.timeline)
    merge = v.timeline[4]
    assert merge.text == "R-0002 merged as a duplicate of R-0001 by sam"


def test_unlink_and_erasure_take_a_report_out() -> None:
    model = IncidentsModel()
    model.opened(REF, "Boy", "dana", T0)
    model.report(_linked(1))
    model.report(_linked(2))
    model.apply(m.ReportUpdated(seq=1, at=T0 + 5, report=numbered_report(1), by="dana"))
    assert [r.report_id for r in model.reports_of(REF)] == ["R-0002"]
    assert any(e.kind == "unlink" for e in model.view(REF, {}).timeline)
    model.apply(m.ReportErased(seq=2, at=T0 + 6, report_ids=["R-0002"]))
    assert model.reports_of(REF) == [] and model.incident_of("R-0002") is None


def test_loading_what_the_session_holds() -> None:
    model = IncidentsModel()
    model.load([IncidentInfo(REF, "Boy", "dana", T0)], [_linked(1), numbered_report(2)], [])
    assert [s.reports for s in model.summaries({})] == [1]


def test_duplicate_candidates_same_traffic_open_same_category_and_near_first() -> None:
    primary = numbered_report(0, category="missing_person", lat=53.76, lon=-2.70)
    near = numbered_report(1, category="missing_person", lat=53.7601, lon=-2.70)
    far = numbered_report(2, category="missing_person", lat=53.90, lon=-2.70)
    other_kind = numbered_report(3, category="burglary", lat=53.76, lon=-2.70)
    closed = numbered_report(4, category="missing_person", status="closed")
    drill = exercise_report(5, category="missing_person")
    already = numbered_report(6, category="missing_person", duplicate_of="R-0009")
    got = duplicate_candidates(primary, [primary, far, other_kind, closed, drill, already, near])
    assert [r.report_id for r in got] == ["R-0001", "R-0002", "R-0003"]
    assert duplicate_candidates(primary, [near, far], limit=1) == [near]


def test_live_and_exercise_never_go_together_and_titles_come_from_the_report() -> None:
    assert linkable([numbered_report(1), numbered_report(2)]) is None
    assert "exercise" in (linkable([numbered_report(1), exercise_report(2)]) or "")
    r = numbered_report(1, category="missing_person", text="Boy,  aged 7\nred coat")
    assert suggested_title(r) == "Missing person: Boy, aged 7 red coat"
    long = msgspec.structs.replace(r, text="x" * 300)
    assert len(suggested_title(long)) == 80


def _info() -> m.AlertInfo:
    a = timed_alert(T0)
    return msgspec.structs.replace(a.info, incident_ref=REF)
