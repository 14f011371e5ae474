"""The Google Public Alerts CAP profile: every CAP message the relay writes meets it, and
both checks (on the written XML and on the alert before sending) find what breaks it.

The rules are Google's `GoogleProfile` (google/cap-library); see `backend_client.cap_profile`.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from backend_client import cap_profile
from backend_client import messages as m
from relay import alerts, cap
from tests.unit.test_cap import EXPIRES, SENT, make_alert, parse

ISSUER = cap.Issuer("lookout@wmp.example", "https://alerts.wmp.example")
WELSH = m.AlertTranslation(
    language="cy",
    headline="Lladradau dros nos",
    description="Tri lladrad drwy ffenestri cefn rhwng 01:00 a 04:00.",
    instruction="Cloi ffenestri'r llawr gwaelod.",
)
HOSTILE = "<script>alert(1)</script> ]]> &amp; \" ' <![CDATA[x]]>"
CIRCLE = m.Circle(lat=52.48, lon=-1.9, radius_m=800)
REFS = [("LK-7f3a", cap.cap_datetime(SENT - 600))]


def written(msg_type: m.CapMsgType = "Alert", refs: Any = (), **info: Any) -> str:
    """A CAP message exactly as the relay stores it (`relay.alerts.to_cap`)."""
    alert = make_alert(msg_type=msg_type, **info)
    if msg_type == "Cancel":
        alert = msgspec.structs.replace(alert, state="cancelled")
    return alerts.to_cap(alert, list(refs), ISSUER)


MESSAGES = {
    "alert, polygon": lambda: written(),
    "alert, circle": lambda: written(area=CIRCLE),
    "update": lambda: written("Update", REFS, headline="Burglaries: arrest made"),
    "cancel": lambda: written("Cancel", REFS),
    "two languages": lambda: written(translations=[WELSH]),
    "two languages, circle, update": lambda: written(
        "Update", REFS, area=CIRCLE, translations=[WELSH], response_type="Avoid"
    ),
    "hostile text": lambda: written(
        headline=HOSTILE[:60],
        description=HOSTILE,
        instruction=HOSTILE + " lock up",
        contact=HOSTILE,
        area_desc=HOSTILE,
        translations=[
            m.AlertTranslation(language="cy", headline=HOSTILE, description="x", instruction="y")
        ],
    ),
    "exercise": lambda: written(status="Exercise", pilot_id="preston-2017"),
}


@pytest.mark.parametrize("name", list(MESSAGES))
def test_every_message_the_relay_writes_meets_oasis_and_google(name: str) -> None:
    xml = MESSAGES[name]()
    assert cap.validate_cap(xml) == []
    assert cap.validate_google_profile(xml) == []
    recommendations = cap.validate_google_profile(xml, recommendations=True)
    assert [r for r in recommendations if not r.startswith("HEADLINE_AND_DESC")] == []


def test_the_alert_language_response_type_and_translation_come_from_alert_info() -> None:
    xml = written(language="en-US", response_type="Shelter", translations=[WELSH])
    infos = parse(xml).findall("cap:info", {"cap": cap.CAP_NS})
    ns = {"cap": cap.CAP_NS}
    assert [i.findtext("cap:language", namespaces=ns) for i in infos] == ["en-US", "cy"]
    assert {i.findtext("cap:responseType", namespaces=ns) for i in infos} == {"Shelter"}
    assert infos[1].findtext("cap:headline", namespaces=ns) == WELSH.headline
    assert infos[1].findtext("cap:instruction", namespaces=ns) == WELSH.instruction
    assert [i.findtext("cap:web", namespaces=ns) for i in infos] == [
        "https://alerts.wmp.example/alerts/LK-7f3a"
    ] * 2


def test_stored_alert_info_from_before_decodes_with_the_defaults() -> None:
    old = msgspec.to_builtins(make_alert().info)
    for key in ("response_type", "language", "translations"):
        del old[key]
    info = msgspec.json.decode(msgspec.json.encode(old), type=m.AlertInfo)
    assert (info.response_type, info.language, info.translations) == ("Monitor", "en-GB", [])


@pytest.mark.parametrize("tag", ["en-GB", "cy", "pa-Arab-PK", "cy-GB"])
def test_language_tags_are_accepted(tag: str) -> None:
    assert msgspec.convert(tag, m.LanguageTag) == tag


@pytest.mark.parametrize("tag", ["", "e", "en_GB", "en GB", "<b>", "en--GB", "-cy"])
def test_malformed_language_tags_are_refused(tag: str) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(tag, m.LanguageTag)


def test_more_than_the_allowed_translations_are_refused() -> None:
    info = msgspec.to_builtins(make_alert().info)
    info["translations"] = [
        {"language": f"x{i}x", "headline": "h"} for i in range(m.MAX_TRANSLATIONS + 1)
    ]
    with pytest.raises(msgspec.ValidationError, match="translations"):
        msgspec.convert(info, m.AlertInfo)


# ------------------------------------------------------------------ the XML check can fail


def _swap(xml: str, old: str, new: str) -> str:
    assert old in xml
    return xml.replace(old, new)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (lambda x: _swap(x, "<web>", "<oops>").replace("</web>", "</oops>"), "WEB_IS_REQUIRED"),
        (
            lambda x: x.replace(x[x.index("<description>") : x.index("</description>") + 14], ""),
            "DESCRIPTION_IS_REQUIRED",
        ),
        (
            lambda x: x.replace(x[x.index("<references>") : x.index("</references>") + 13], ""),
            "UPDATE_OR_CANCEL_MUST_REFERENCE",
        ),
        (
            lambda x: _swap(x, "<expires>2026-11-18T17:06:40", "<expires>2026-11-18T10:06:40"),
            "EFFECTIVE_NOT_AFTER_EXPIRES",
        ),
        (
            lambda x: x.replace("<category>Security</category>", "<category>Fire</category>", 1),
            "CATEGORIES_MUST_MATCH",
        ),
        (
            lambda x: x.replace(x[x.index("<info>") : x.rindex("</info>") + 7], ""),
            "INFO_IS_REQUIRED",
        ),
    ],
)
def test_google_errors_are_found_in_written_xml(change: Any, rule: str) -> None:
    xml = written("Update", REFS, translations=[WELSH])
    assert cap.validate_google_profile(xml) == []
    broken = change(xml)
    found = cap.validate_google_profile(broken)
    assert any(f.startswith(rule) for f in found), found


def test_an_area_without_a_shape_is_an_error() -> None:
    xml = written(area=CIRCLE)
    start, end = xml.index("<circle>"), xml.index("</circle>") + len("</circle>")
    found = cap.validate_google_profile(xml[:start] + xml[end:])
    assert [f.split(":")[0] for f in found] == ["CIRCLE_POLYGON_OR_GEOCODE_IS_REQUIRED"] * 1


def test_google_recommendations_are_found_only_when_asked() -> None:
    xml = written(instruction="", contact="", urgency="Unknown", status="Test")
    assert cap.validate_google_profile(xml) == []
    found = {f.split(":")[0] for f in cap.validate_google_profile(xml, recommendations=True)}
    assert found == {
        "INSTRUCTION_STRONGLY_RECOMMENDED",
        "CONTACT_IS_RECOMMENDED",
        "UNKNOWN_URGENCY_DISCOURAGED",
        "TEST_ALERT_DISCOURAGED",
    }


def test_not_xml_is_reported_not_raised() -> None:
    assert cap.validate_google_profile("<alert") != []


# ------------------------------------------------------------------ the check before sending


def rules_of(info: m.AlertInfo, **kw: Any) -> list[tuple[str, str, str]]:
    kw.setdefault("now", SENT)
    return [(p.level, p.rule, p.language) for p in cap_profile.check(info, **kw)]


def test_a_complete_alert_has_no_profile_problems() -> None:
    assert cap_profile.check(make_alert(translations=[WELSH]).info, now=SENT) == []


def test_each_rule_an_officer_can_break_is_found_errors_first() -> None:
    info = make_alert(
        description="",
        instruction="",
        contact="",
        headline="H" * 140,
        severity="Unknown",
        certainty="Unknown",
        status="Test",
        translations=[m.AlertTranslation(language="cy", headline="Pennawd", description="Pennawd")],
    ).info
    assert rules_of(info, web=False) == [
        ("error", "DESCRIPTION_IS_REQUIRED", "en-GB"),
        ("error", "WEB_IS_REQUIRED", ""),
        ("recommendation", "INSTRUCTION_STRONGLY_RECOMMENDED", "en-GB"),
        ("recommendation", "HEADLINE_TOO_LONG", "en-GB"),
        ("recommendation", "INSTRUCTION_STRONGLY_RECOMMENDED", "cy"),
        ("recommendation", "HEADLINE_AND_DESCRIPTION_SHOULD_DIFFER", "cy"),
        ("recommendation", "UNKNOWN_SEVERITY_DISCOURAGED", ""),
        ("recommendation", "UNKNOWN_CERTAINTY_DISCOURAGED", ""),
        ("recommendation", "CONTACT_IS_RECOMMENDED", ""),
        ("recommendation", "TEST_ALERT_DISCOURAGED", ""),
    ]
    words = cap_profile.summary(cap_profile.check(info, now=SENT))
    assert words.startswith("Needed: Add a description: Google Public Alerts needs one.")
    assert "Advised: Add an instruction (cy): say what people should do." in words


def test_same_description_and_instruction_and_past_expiry_are_found() -> None:
    info = make_alert(instruction="Same words.", description="Same words.").info
    assert rules_of(info) == [
        ("recommendation", "DESCRIPTION_AND_INSTRUCTION_SHOULD_DIFFER", "en-GB")
    ]
    assert rules_of(info, now=EXPIRES + 1)[0] == ("error", "EFFECTIVE_NOT_AFTER_EXPIRES", "")


def test_a_language_twice_or_a_blank_translation_cannot_be_sent() -> None:
    twice = make_alert(translations=[WELSH, msgspec.structs.replace(WELSH, language="CY")]).info
    assert cap_profile.language_problems(twice) == [
        "The language CY is given twice; give each language once."
    ]
    own = make_alert(translations=[msgspec.structs.replace(WELSH, language="en-gb")]).info
    assert len(cap_profile.language_problems(own)) == 1
    blank = make_alert(translations=[msgspec.structs.replace(WELSH, headline=" ")]).info
    assert cap_profile.language_problems(blank) == ["Write the headline in the cy translation."]
    assert cap_profile.language_problems(make_alert(translations=[WELSH]).info) == []
    with pytest.raises(ValueError, match="two info blocks"):
        cap.alert_to_cap(make_alert(translations=[WELSH, WELSH]), sender="lk")
