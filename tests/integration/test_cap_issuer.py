"""One CAP sender per relay, over the real officer API (TLS on loopback): a relay without
one refuses to send or export; with one, every message carries it and `<web>`."""

from __future__ import annotations

from lxml import etree

from backend_client import messages as m
from relay import cap
from tests.conftest import start_relay
from tests.support.flows import alert_info, device, officer
from tests.support.peer import next_id

NS = {"cap": cap.CAP_NS}


async def test_a_relay_without_a_cap_sender_refuses_to_send_an_alert(tmp_path) -> None:
    running = await start_relay(tmp_path / "r", cap_sender="")
    try:
        await device(running)
        dana = await officer(running)
        refused = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
        assert isinstance(refused, m.Error) and "--cap-sender" in refused.message
        gone = await dana.request(m.AlertExport(id=next_id(), alert_id="A-NONE"))
        assert isinstance(gone, m.Error) and "--cap-sender" in gone.message
        # no cap_web_base or public_url either: the console is told its CAP has no <web>
        auth = await dana.request(m.Refresh(id=next_id()))
        assert isinstance(auth, m.AuthOk) and auth.cap_web is False
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def test_every_message_carries_the_configured_sender_and_web(tmp_path) -> None:
    running = await start_relay(
        tmp_path / "r", cap_sender="lookout@force.example", cap_web_base="https://portal.example/"
    )
    try:
        await device(running)
        dana = await officer(running)
        sent = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
        assert isinstance(sent, m.AlertAccepted)
        aid = sent.alert.alert_id
        first = await dana.request(m.AlertExport(id=next_id(), alert_id=aid))
        cancel = await dana.request(m.AlertCancel(id=next_id(), idem=next_id(), alert_id=aid))
        assert isinstance(cancel, m.AlertAccepted)
        last = await dana.request(m.AlertExport(id=next_id(), alert_id=aid))
        assert isinstance(first, m.AlertCap) and isinstance(last, m.AlertCap)
        for xml, kind in ((first.xml, "Alert"), (last.xml, "Cancel")):
            assert cap.validate_cap(xml) == []
            doc = etree.fromstring(xml.encode("utf-8"))
            assert doc.findtext("cap:sender", namespaces=NS) == "lookout@force.example"
            assert doc.findtext("cap:msgType", namespaces=NS) == kind
            assert doc.findtext("cap:info/cap:web", namespaces=NS) == (
                f"https://portal.example/alerts/{aid}"
            )
            assert doc.findtext("cap:info/cap:responseType", namespaces=NS) == "Monitor"
        assert cap.message_identifier(last.xml) == f"{aid}.1"
        # every message is listed, and each is exportable by its identifier as it was sent
        assert first.messages == [aid] and last.messages == [aid, f"{aid}.1"]
        again = await dana.request(m.AlertExport(id=next_id(), alert_id=aid, message=True))
        assert isinstance(again, m.AlertCap) and again.xml == first.xml
        nope = await dana.request(m.AlertExport(id=next_id(), alert_id=f"{aid}.9", message=True))
        assert isinstance(nope, m.Error) and nope.code == "not_found"
        auth = await dana.request(m.Refresh(id=next_id()))
        assert isinstance(auth, m.AuthOk) and auth.cap_web is True
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def test_sender_name_is_the_configured_organisation_never_an_officer(tmp_path) -> None:
    for name, want in (("Lancashire Constabulary", "Lancashire Constabulary"), ("", None)):
        running = await start_relay(
            tmp_path / f"r{bool(name)}", cap_sender="lookout@force.example", cap_sender_name=name
        )
        try:
            await device(running)
            dana, sam = await officer(running, "dana"), await officer(running, "sam")
            sent = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
            assert isinstance(sent, m.AlertAccepted)
            aid = sent.alert.alert_id
            later = alert_info(headline="Updated")
            upd = m.AlertUpdate(id=next_id(), idem=next_id(), alert_id=aid, info=later)
            assert isinstance(await sam.request(upd), m.AlertAccepted)
            cancel = m.AlertCancel(id=next_id(), idem=next_id(), alert_id=aid)
            assert isinstance(await sam.request(cancel), m.AlertAccepted)
            listed = await dana.request(m.AlertExport(id=next_id(), alert_id=aid))
            assert isinstance(listed, m.AlertCap) and len(listed.messages) == 3
            for identifier in listed.messages:
                one = m.AlertExport(id=next_id(), alert_id=identifier, message=True)
                got = await dana.request(one)
                assert isinstance(got, m.AlertCap) and cap.validate_cap(got.xml) == []
                doc = etree.fromstring(got.xml.encode("utf-8"))
                senders = doc.findall("cap:info/cap:senderName", namespaces=NS)
                assert [e.text for e in senders] == [want or "lookout@force.example"]
                assert ">dana<" not in got.xml and ">sam<" not in got.xml, identifier
        finally:
            await running.relay.stop()  # type: ignore[attr-defined]
