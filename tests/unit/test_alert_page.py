"""relay/alert_page.py without a relay: the page of CAP messages relay/cap.py writes (two
languages, hostile text, Update, Cancel, expiry), read back by an HTML parser (lxml.html)
rather than by searching the text."""

from __future__ import annotations

import lxml.html

from backend_client import messages as m
from relay import alert_page, cap
from tests.support.flows import alert_info

HOSTILE = '</h1><script>alert(1)</script><img src=x onerror=y> & "quoted" \u202e'
NOW = 1_700_000_000.0


def _xml(msg_type: str = "Alert", expires_at: float = NOW + 3600, **info: object) -> str:
    alert = m.Alert(
        alert_id="A-0123456789",
        sender="dana",
        sent_at=NOW,
        msg_type=msg_type,  # type: ignore[arg-type]
        state="active",
        info=alert_info(expires_at=expires_at, **info),
        recipients=0,
        delivered=0,
        read=0,
    )
    return cap.alert_to_cap(
        alert,
        sender="lookout@police.example.org",
        identifier="A-0123456789" if msg_type == "Alert" else "A-0123456789.1",
        translations=[cap.Translation("cy", "Byrgleriaethau " + HOSTILE, "Cloi drysau", "")],
    )


def _doc(xml: str, now: float = NOW) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(alert_page.render(xml, now))


def test_every_info_block_shows_in_its_language_and_hostile_text_stays_text() -> None:
    xml = _xml(headline=HOSTILE, description=HOSTILE, instruction="Call 101", incident_ref="I-1")
    assert cap.validate_cap(xml) == []
    doc = _doc(xml)
    assert doc.get("lang") == "en-GB"
    articles = doc.xpath("//article[@class='alert-info']")
    assert [a.get("lang") for a in articles] == ["en-GB", "cy"]
    assert [a.xpath("h1")[0].text_content() for a in articles] == [
        HOSTILE,
        "Byrgleriaethau " + HOSTILE,
    ]
    assert articles[0].xpath("p[@class='alert-description']")[0].text_content() == HOSTILE
    assert articles[0].xpath("p[@class='alert-instruction']")[0].text_content() == "Call 101"
    assert not articles[1].xpath("p[@class='alert-instruction']")  # none was given in Welsh
    assert doc.xpath("//script | //img | //*[@onerror]") == []
    facts = dict(
        zip(
            [dt.text_content() for dt in articles[0].xpath("dl/dt")],
            [dd.text_content() for dd in articles[0].xpath("dl/dd")],
            strict=True,
        )
    )
    assert facts["Area"] == "Preston centre" and facts["Incident number"] == "I-1"
    assert facts["Until"] == "14 Nov 2023, 23:13 UTC"
    assert articles[0].xpath("p[@class='alert-when']")[0].text_content() == (
        "Sent 14 Nov 2023, 22:13 UTC"
    )
    assert articles[0].xpath("p/time")[0].get("datetime") == "2023-11-14T22:13:20Z"
    # the Welsh block's labels are the portal's Welsh words (portal/i18n/cy.json)
    welsh = [dt.text_content() for dt in articles[1].xpath("dl/dt")]
    assert "Ardal" in welsh and "Rhif y digwyddiad" in welsh and "Tan" in welsh
    assert articles[1].xpath("p[@class='alert-when']")[0].text_content().startswith("Anfonwyd")
    assert doc.xpath("//a[@class='cap-link']")[0].get("href") == "/cap/alerts/A-0123456789.xml"
    assert doc.xpath("//section")[0].get("data-state") == "current"
    assert "kind-actual" in doc.xpath("//section")[0].get("class")


def test_the_state_a_reader_is_told_first() -> None:
    def state(xml: str, now: float = NOW) -> str:
        return str(_doc(xml, now).xpath("//section")[0].get("data-state"))

    assert state(_xml("Update")) == "updated"
    assert state(_xml("Cancel")) == "cancelled"
    assert state(_xml(), now=NOW + 3600) == "expired"  # at its expiry, not after
    assert state(_xml("Update"), now=NOW + 7200) == "expired"
    assert state(_xml("Cancel"), now=NOW + 7200) == "cancelled"  # withdrawn says more
    assert _doc(_xml("Cancel")).xpath("//a[@class='cap-link']")[0].get("href").endswith(".1.xml")


def test_an_exercise_says_so_and_a_bad_language_tag_never_becomes_markup() -> None:
    xml = _xml(status="Exercise", pilot_id="elm-road")
    doc = _doc(xml)
    assert "kind-exercise" in doc.xpath("//section")[0].get("class")
    assert "not a real alert" in doc.xpath("//p[@class='alert-rehearsal']")[0].text_content()
    forged = xml.replace("<language>cy</language>", '<language>cy" onclick="x</language>')
    articles = _doc(forged).xpath("//article[@class='alert-info']")
    assert [a.get("lang") for a in articles] == ["en-GB", ""]
    assert _doc(forged).xpath("//*[@onclick]") == []
