"""An alert in two languages over the real relay (TLS on loopback): the officer's
response type and Welsh translation reach the CAP the relay stores and serves, every
message of it (Alert, Update, Cancel) valid against the OASIS schema and Google's profile;
a language given twice is refused and stores nothing."""

from __future__ import annotations

import feedparser

from backend_client import messages as m
from relay import cap
from tests.conftest import start_relay
from tests.integration.test_cap_feed import get
from tests.support.flows import alert_info, device, officer
from tests.support.peer import next_id

BASE = "https://portal.example"
WELSH = m.AlertTranslation(
    language="cy",
    headline="Lladradau heno",
    description="Cloiwch ddrysau",
    instruction="Ffoniwch 101",
)


async def test_every_message_of_a_two_language_alert_meets_oasis_and_google(tmp_path) -> None:
    running = await start_relay(tmp_path / "r", cap_web_base=BASE)
    try:
        await device(running)
        dana = await officer(running)
        info = alert_info(
            instruction="Lock doors and windows",
            response_type="Avoid",
            translations=[WELSH],
        )
        ok = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=info))
        assert isinstance(ok, m.AlertAccepted)
        alert_id = ok.alert.alert_id
        assert ok.alert.info.translations == [WELSH]
        later = alert_info(
            headline="Arrest made",
            instruction="Stay alert",
            response_type="Monitor",
            translations=[m.AlertTranslation(language="cy", headline="Arestio", description="x")],
        )
        upd = m.AlertUpdate(id=next_id(), idem=next_id(), alert_id=alert_id, info=later)
        assert isinstance(await dana.request(upd), m.AlertAccepted)
        cancel = m.AlertCancel(id=next_id(), idem=next_id(), alert_id=alert_id)
        assert isinstance(await dana.request(cancel), m.AlertAccepted)

        for identifier, kind, response, welsh in (
            (alert_id, "Alert", "Avoid", "Lladradau heno"),
            (f"{alert_id}.1", "Update", "Monitor", "Arestio"),
            (f"{alert_id}.2", "Cancel", "Monitor", "Arestio"),
        ):
            code, _, body = await get(running, f"/cap/alerts/{identifier}.xml")
            assert code == 200, identifier
            xml = body.decode("utf-8")
            assert cap.validate_cap(xml) == []
            assert cap.validate_google_profile(xml) == []
            assert f"<msgType>{kind}</msgType>" in xml
            assert xml.count("<language>en-GB</language>") == 1
            assert xml.count("<language>cy</language>") == 1
            assert xml.count(f"<responseType>{response}</responseType>") == 2
            assert f"<headline>{welsh}</headline>" in xml
            assert xml.count(f"<web>{BASE}/alerts/{alert_id}</web>") == 2

        twice = alert_info(translations=[WELSH, WELSH])
        refused = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=twice))
        assert isinstance(refused, m.Error) and refused.code == "invalid"
        assert "cy is given twice" in refused.message
        own = alert_info(translations=[m.AlertTranslation(language="EN-GB", headline="h")])
        refused = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=own))
        assert isinstance(refused, m.Error) and "EN-GB is given twice" in refused.message
        _, _, atom = await get(running, "/cap/feed.atom")
        entries = feedparser.parse(atom).entries
        assert [e.title for e in entries] == ["Cancelled: Arrest made"]  # nothing new stored
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]
