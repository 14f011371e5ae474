"""Protocol tests: raw frames in, messages or `ProtocolError`s out. No network.

Sample messages are built from the structs' own type information, so a field added to
`messages.py` is exercised here without editing this file.
"""

from __future__ import annotations

import contextlib
import json
from typing import Annotated, Any

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend_client import PROTOCOL_VERSION, codec, limits
from backend_client import messages as m
from backend_client.errors import ErrorCode, ProtocolError

DECODERS: dict[str, tuple[codec.Decoder[m.Msg], Any]] = {
    "citizen_inbound": (codec.citizen_inbound, m.CitizenInbound),
    "citizen_outbound": (codec.citizen_outbound, m.CitizenOutbound),
    "officer_inbound": (codec.officer_inbound, m.OfficerInbound),
    "officer_outbound": (codec.officer_outbound, m.OfficerOutbound),
}

#: A valid sample for every `pattern` used in messages.py. A new pattern fails loudly
#: in `_sample` until a sample is added here.
PATTERN_SAMPLES = {
    r"^[0-9a-f]{64}$(?!\n)": "ab" * 32,
    r"^[0-9]{6,8}$(?!\n)": "123456",
    r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$(?!\n)": "preston-2017",
    r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$(?!\n)": "cy",
}


@pytest.mark.parametrize("pattern", sorted(PATTERN_SAMPLES))
def test_a_pattern_ends_at_the_end_not_before_a_trailing_newline(pattern: str) -> None:
    """msgspec matches with re.search, where a bare `$` also matches before a final "\n":
    "cy\n" would pass as a language tag (and a second "en-GB\n" info block slip past the
    one-block-per-language rule). Every pattern ends `$(?!\n)`, an end in Python and in
    JSON Schema's ECMA-262 dialect alike."""
    t = Annotated[str, msgspec.Meta(pattern=pattern)]
    sample = PATTERN_SAMPLES[pattern]
    assert msgspec.json.decode(msgspec.json.encode(sample), type=t) == sample
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(sample + "\n"), type=t)


def dumps(obj: Any) -> str:
    """JSON as a client would send it: UTF-8 text, non-ASCII not escaped."""
    return json.dumps(obj, ensure_ascii=False)


XSS = "<img src=x onerror=alert(1)>"
RTL = "invoice\u202egnp.exe"  # RIGHT-TO-LEFT OVERRIDE: displays as "invoiceexe.png"


# ---------------------------------------------------------------- sample builder


def _sample(t: mi.Type, big: bool = False) -> Any:
    """A valid value of `t`; with `big`, the largest value its constraints allow
    (for lists, the largest item count only when the items stay small)."""
    if isinstance(t, mi.StructType):
        return t.cls(**{f.name: _sample(f.type, big) for f in t.fields})
    if isinstance(t, mi.StrType):
        if t.pattern is not None:
            assert t.pattern in PATTERN_SAMPLES, f"add a sample for pattern {t.pattern!r}"
            return PATTERN_SAMPLES[t.pattern]
        if big and t.max_length is not None:
            return "x" * t.max_length
        return "s" * max(t.min_length or 0, 3 if t.max_length is None else min(3, t.max_length))
    if isinstance(t, mi.BytesType):
        n = t.max_length if big and t.max_length is not None else max(t.min_length or 0, 4)
        return bytes(range(256)) * (n // 256) + bytes(range(n % 256))
    if isinstance(t, mi.BoolType):
        return True
    if isinstance(t, mi.IntType):
        if big and t.le is not None:
            return t.le
        lo = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else 0)
        return lo + 1 if t.le is None or lo + 1 <= t.le else lo
    if isinstance(t, mi.FloatType):
        if big and t.le is not None:
            return t.le
        lo = t.ge if t.ge is not None else (t.gt if t.gt is not None else 0.0)
        return lo + 0.5 if t.le is None or lo + 0.5 <= t.le else lo
    if isinstance(t, mi.LiteralType):
        return t.values[-1]
    if isinstance(t, mi.ListType):
        n = t.min_length or 1
        return [_sample(t.item_type, big) for _ in range(n)]
    if isinstance(t, mi.TupleType):
        return tuple(_sample(i, big) for i in t.item_types)
    if isinstance(t, mi.UnionType):
        non_null = [u for u in t.types if not isinstance(u, mi.NoneType)]
        return _sample(non_null[0], big)
    if isinstance(t, mi.NoneType):
        return None
    if isinstance(t, mi.DictType):  # pilot.reviewed's metrics: a JSON object
        return {_sample(t.key_type, big): _sample(t.value_type, big)}
    if isinstance(t, mi.AnyType):
        return [1, "x", None]
    raise AssertionError(f"no sample for {t!r}: teach _sample about it")


def sample(cls: type, big: bool = False) -> m.Msg:
    msg = _sample(mi.type_info(cls), big)
    assert isinstance(msg, m.Msg)
    return msg


def all_cases() -> list[tuple[str, str, type]]:
    return [
        (name, tag, cls)
        for name, (_, union) in DECODERS.items()
        for tag, cls in sorted(codec.message_types(union).items())
    ]


def raises(decoder: codec.Decoder[m.Msg], frame: bytes | str) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        decoder.decode(frame)
    return info.value


def frame(**fields: Any) -> bytes:
    return dumps({"v": PROTOCOL_VERSION, **fields}).encode()


def submit(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "report.submit",
        "v": 1,
        "id": "r1",
        "client_ref": "ref-1",
        "category": "burglary",
        "text": "door forced",
        "lat": 52.5,
        "lon": -2.1,
    }
    return {**base, **overrides}


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize(("decoder_name", "tag", "cls"), all_cases())
def test_every_message_round_trips(decoder_name: str, tag: str, cls: type) -> None:
    decoder, _ = DECODERS[decoder_name]
    msg = sample(cls)
    wire = codec.encode(msg)
    assert json.loads(wire)["type"] == tag
    assert json.loads(wire)["v"] == PROTOCOL_VERSION
    assert decoder.decode(wire) == msg
    assert decoder.decode(codec.encode_text(msg)) == msg


@pytest.mark.parametrize(("decoder_name", "tag", "cls"), all_cases())
def test_largest_allowed_message_fits_a_frame(decoder_name: str, tag: str, cls: type) -> None:
    """Every field at its maximum must still fit MAX_FRAME_BYTES, or a legal message
    (a full media chunk, a full-length report) could never be sent."""
    decoder, _ = DECODERS[decoder_name]
    msg = sample(cls, big=True)
    wire = codec.encode(msg)
    assert len(wire) <= limits.MAX_FRAME_BYTES, f"{tag} at its limits is {len(wire)} bytes"
    assert decoder.decode(wire) == msg


def test_full_media_chunk_is_base64_and_round_trips() -> None:
    data = bytes(range(256)) * (limits.MEDIA_CHUNK_BYTES // 256)
    msg = m.MediaChunk(id="c1", report_id="r1", sha256="ab" * 32, offset=0, data=data)
    wire = codec.encode(msg)
    assert isinstance(json.loads(wire)["data"], str)  # base64 text, not an array
    decoded = codec.citizen_inbound.decode(wire)
    assert isinstance(decoded, m.MediaChunk) and decoded.data == data


def test_message_types_match_union_members() -> None:
    for _, union in DECODERS.values():
        types = codec.message_types(union)
        assert sorted(types.values(), key=str) == sorted(union.__args__, key=str)


# ---------------------------------------------------------------- malformed frames


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"not json", b'{"type": "ping", "id": "a",}', b"\x00\x01", "{'type': 'ping'}"],
)
def test_not_json_is_malformed(raw: bytes | str) -> None:
    err = raises(codec.citizen_inbound, raw)
    assert err.code is ErrorCode.MALFORMED


@pytest.mark.parametrize("raw", [b"[]", b'["ping"]', b'"ping"', b"42", b"null", b"true"])
def test_non_object_is_malformed(raw: bytes) -> None:
    assert raises(codec.officer_inbound, raw).code is ErrorCode.MALFORMED


@pytest.mark.parametrize(
    "raw", [frame(id="a"), frame(type=None, id="a"), frame(type=7, id="a"), frame(type=["ping"])]
)
def test_missing_or_non_string_type_is_malformed(raw: bytes) -> None:
    assert raises(codec.officer_inbound, raw).code is ErrorCode.MALFORMED


@pytest.mark.parametrize(
    ("decoder_name", "tag"),
    [
        ("citizen_inbound", "no.such.type"),
        ("citizen_inbound", "auth.login"),  # officer message on the citizen endpoint
        ("officer_inbound", "report.submit"),  # citizen message on the officer endpoint
        ("citizen_inbound", "pong"),  # relay-to-client type sent to the relay
        ("officer_inbound", "report.created"),
        ("officer_outbound", "device.register"),
        ("citizen_outbound", "auth.ok"),
        ("citizen_inbound", ""),
    ],
)
def test_unknown_type(decoder_name: str, tag: str) -> None:
    decoder, _ = DECODERS[decoder_name]
    raw = frame(type=tag, id="q7")
    err = raises(decoder, raw)
    assert err.code is ErrorCode.UNKNOWN_TYPE
    assert codec.request_id(raw) == "q7"


def test_unknown_type_message_is_truncated() -> None:
    err = raises(codec.citizen_inbound, frame(type="x" * 5000, id="a"))
    assert err.code is ErrorCode.UNKNOWN_TYPE
    assert len(err.message) < 200


@pytest.mark.parametrize(
    "fields",
    [
        {"id": 5},  # int for string
        {"lat": "52.5"},  # string for number
        {"lat": None},
        {"lon": [1.0]},
        {"category": "murder"},  # not in the enum
        {"category": "Burglary"},  # enums are case-sensitive
        {"media": {"sha256": "ab" * 32}},  # object for array
        {"media": [{"sha256": "AB" * 32, "mime": "image/png", "size": 1}]},  # uppercase hex
        {"media": [{"sha256": "ab" * 32, "mime": "image/gif", "size": 1}]},  # mime not allowed
        {"media": [{"sha256": "ab" * 32, "mime": "image/png", "size": 0}]},  # empty file
        {"lat": 90.0001},  # out of range
        {"lon": -180.5},
        {"id": ""},  # ident must be non-empty
        {"client_ref": True},
        {"v": "1"},
        {"v": None},
    ],
)
def test_wrong_field_types_and_values_are_malformed(fields: dict[str, Any]) -> None:
    raw = dumps(submit(**fields)).encode()
    err = raises(codec.citizen_inbound, raw)
    assert err.code is ErrorCode.MALFORMED, err.message
    assert err.message.startswith("report.submit:")


@pytest.mark.parametrize("missing", ["id", "client_ref", "category", "text", "lat", "lon"])
def test_missing_required_field_is_malformed(missing: str) -> None:
    fields = submit()
    del fields[missing]
    err = raises(codec.citizen_inbound, dumps(fields))
    assert err.code is ErrorCode.MALFORMED
    assert missing in err.message


def test_officer_frames_with_bad_values() -> None:
    """Anything wrong inside an alert `area` is `invalid_geometry`, so the console can say
    "redraw the area" instead of reporting a bug."""
    bad_totp = frame(type="auth.login", id="a", username="u", password="p", totp="12ab56")
    assert raises(codec.officer_inbound, bad_totp).code is ErrorCode.MALFORMED
    neg_since = frame(type="subscribe", id="a", since=-1)
    assert raises(codec.officer_inbound, neg_since).code is ErrorCode.MALFORMED
    two_points = frame(
        type="alert.preview",
        id="a",
        area={"type": "polygon", "coordinates": [[0, 0], [1, 1]]},
        categories=["vehicle"],
    )
    assert raises(codec.officer_inbound, two_points).code is ErrorCode.INVALID_GEOMETRY
    radius = frame(
        type="alert.preview",
        id="a",
        area={"type": "circle", "lat": 0, "lon": 0, "radius_m": limits.MAX_RADIUS_M + 1},
        categories=["vehicle"],
    )
    assert raises(codec.officer_inbound, radius).code is ErrorCode.INVALID_GEOMETRY
    unknown_shape = frame(
        type="alert.preview", id="a", area={"type": "square", "side": 3}, categories=["vehicle"]
    )
    assert raises(codec.officer_inbound, unknown_shape).code is ErrorCode.INVALID_GEOMETRY
    in_info = frame(
        type="alert.send",
        id="a",
        idem="k",
        info={
            "categories": ["vehicle"],
            "area": {"type": "circle", "lat": 91, "lon": 0, "radius_m": 10},
            "area_desc": "a",
            "headline": "h",
            "expires_at": 2e9,
        },
    )
    assert raises(codec.officer_inbound, in_info).code is ErrorCode.INVALID_GEOMETRY
    no_categories = frame(
        type="alert.preview",
        id="a",
        area={"type": "circle", "lat": 0, "lon": 0, "radius_m": 10},
        categories=[],
    )
    assert raises(codec.officer_inbound, no_categories).code is ErrorCode.MALFORMED


def test_invalid_utf8_inside_a_string_is_malformed() -> None:
    err = raises(codec.citizen_inbound, b'{"type": "ping", "v": 1, "id": "\xff"}')
    assert err.code is ErrorCode.MALFORMED


# ---------------------------------------------------------------- sizes


def test_oversized_frame_is_too_large_bytes_and_str() -> None:
    pad = "x" * (limits.MAX_FRAME_BYTES + 1)
    raw = frame(type="ping", id="a", t=0, pad=pad)
    assert raises(codec.citizen_inbound, raw).code is ErrorCode.TOO_LARGE
    assert raises(codec.officer_outbound, raw.decode()).code is ErrorCode.TOO_LARGE


def test_frame_limit_counts_utf8_bytes_not_characters() -> None:
    # 350,000 euro signs are 1,050,000 UTF-8 bytes: under the limit in characters, over in bytes.
    text = dumps({"type": "ping", "v": 1, "id": "a", "pad": "\u20ac" * 350_000})
    assert len(text) < limits.MAX_FRAME_BYTES < len(text.encode())
    assert raises(codec.citizen_inbound, text).code is ErrorCode.TOO_LARGE


def test_frame_exactly_at_limit_is_accepted() -> None:
    head = frame(type="ping", id="a", pad="")
    raw = head.replace(
        b'"pad": ""', b'"pad": "' + b"x" * (limits.MAX_FRAME_BYTES - len(head)) + b'"'
    )
    assert len(raw) == limits.MAX_FRAME_BYTES
    assert isinstance(codec.citizen_inbound.decode(raw), m.Ping)


@pytest.mark.parametrize(
    ("fields", "ok"),
    [
        ({"text": "x" * limits.MAX_TEXT_CHARS}, True),
        ({"text": "x" * (limits.MAX_TEXT_CHARS + 1)}, False),
        ({"text": "\U0001f600" * limits.MAX_TEXT_CHARS}, True),  # code points, not bytes
        ({"client_ref": "r" * 128}, True),
        ({"client_ref": "r" * 129}, False),
        (
            {
                "media": [{"sha256": "ab" * 32, "mime": "image/png", "size": 1}]
                * limits.MAX_MEDIA_PER_REPORT
            },
            True,
        ),
        (
            {
                "media": [{"sha256": "ab" * 32, "mime": "image/png", "size": 1}]
                * (limits.MAX_MEDIA_PER_REPORT + 1)
            },
            False,
        ),
        (
            {"media": [{"sha256": "ab" * 32, "mime": "video/mp4", "size": limits.MAX_MEDIA_BYTES}]},
            True,
        ),
    ],
)
def test_field_limits(fields: dict[str, Any], ok: bool) -> None:
    raw = dumps(submit(**fields))
    if ok:
        assert isinstance(codec.citizen_inbound.decode(raw), m.ReportSubmit)
    else:
        assert raises(codec.citizen_inbound, raw).code is ErrorCode.TOO_LARGE


def test_declared_media_size_over_limit_is_malformed() -> None:
    """A numeric bound, not a length: msgspec says `<=` without "length", so the codec
    classes it `malformed` (docs/protocol.md says so too)."""
    decl = {"sha256": "ab" * 32, "mime": "video/mp4", "size": limits.MAX_MEDIA_BYTES + 1}
    err = raises(codec.citizen_inbound, dumps(submit(media=[decl])))
    assert err.code is ErrorCode.MALFORMED
    assert "size" in err.message


def test_short_field_limit() -> None:
    info = {
        "categories": ["vehicle"],
        "area": {"type": "circle", "lat": 0, "lon": 0, "radius_m": 10},
        "area_desc": "a",
        "headline": "h" * (limits.MAX_SHORT_CHARS + 1),
        "expires_at": 2e9,
    }
    raw = frame(type="alert.send", id="a", idem="k", info=info)
    assert raises(codec.officer_inbound, raw).code is ErrorCode.TOO_LARGE
    info["headline"] = "h" * limits.MAX_SHORT_CHARS
    assert isinstance(
        codec.officer_inbound.decode(frame(type="alert.send", id="a", idem="k", info=info)),
        m.AlertSend,
    )


def test_chunk_over_media_chunk_bytes_is_too_large() -> None:
    import base64

    data = base64.b64encode(b"\0" * (limits.MEDIA_CHUNK_BYTES + 1)).decode()
    raw = frame(type="media.chunk", id="a", report_id="r", sha256="ab" * 32, offset=0, data=data)
    assert len(raw) < limits.MAX_FRAME_BYTES  # the field limit, not the frame limit, trips
    assert raises(codec.citizen_inbound, raw).code is ErrorCode.TOO_LARGE


def test_polygon_and_receipt_list_limits() -> None:
    """Too many vertices is a geometry problem for the user, not a frame size problem."""
    ring = [[0.001 * i, 0.0005 * i] for i in range(limits.MAX_POLYGON_POINTS + 1)]
    raw = frame(
        type="alert.preview",
        id="a",
        area={"type": "polygon", "coordinates": ring},
        categories=["vehicle"],
    )
    assert raises(codec.officer_inbound, raw).code is ErrorCode.INVALID_GEOMETRY
    ids = [f"m{i}" for i in range(501)]
    raw = frame(type="chat.receipt", id="a", message_ids=ids, status="read")
    assert raises(codec.citizen_inbound, raw).code is ErrorCode.TOO_LARGE


# ---------------------------------------------------------------- version


@pytest.mark.parametrize("version", [0, 2, 99, -1])
def test_other_versions_are_unsupported(version: int) -> None:
    for name, (decoder, _) in DECODERS.items():
        tag = "ping" if name.endswith("inbound") else "pong"
        key = "id" if tag == "ping" else "re"
        raw = dumps({"type": tag, "v": version, key: "p1"})
        err = raises(decoder, raw)
        assert err.code is ErrorCode.UNSUPPORTED_VERSION
        assert str(PROTOCOL_VERSION) in err.message


def test_missing_version_means_v1_and_unknown_fields_are_ignored() -> None:
    msg = codec.citizen_inbound.decode(b'{"type": "ping", "id": "a", "future_field": {"x": 1}}')
    assert msg == m.Ping(id="a")


# ---------------------------------------------------------------- hostile text


@pytest.mark.parametrize(
    "text",
    [
        XSS,
        RTL,
        "\u202e" * 10,
        '"}, {"type": "ping"',
        "line\nbreak\ttab\r\n\u2028\u2029",
        "\x00\x01\x1f",
        "\U0001f6a8 zero\u200bwidth \ufeff bom",
        "\\u0041 not an escape",
    ],
)
def test_hostile_text_round_trips_literally(text: str) -> None:
    sent = m.CitizenChatSend(id="c", report_id="r", text=text, client_ref="k")
    got = codec.citizen_inbound.decode(codec.encode(sent))
    assert isinstance(got, m.CitizenChatSend) and got.text == text
    report = codec.citizen_inbound.decode(dumps(submit(text=text)))
    assert isinstance(report, m.ReportSubmit) and report.text == text
    message = m.ChatMessage(
        message_id="m",
        report_id="r",
        sender="citizen",
        author=text,
        text=text,
        sent_at=0.0,
        status="sent",
    )
    pushed = codec.officer_outbound.decode(
        codec.encode(m.ChatPosted(seq=1, at=0.0, message=message))
    )
    assert isinstance(pushed, m.ChatPosted) and pushed.message.text == text
    assert pushed.message.author == text


def test_100kb_string_is_too_large_not_truncated() -> None:
    huge = (XSS + RTL) * (100_000 // len(XSS + RTL) + 1)
    assert len(huge) > 100_000
    raw = codec.encode_text(m.CitizenChatSend(id="c9", report_id="r", text=huge, client_ref="k"))
    assert len(raw.encode()) < limits.MAX_FRAME_BYTES
    err = raises(codec.citizen_inbound, raw)
    assert err.code is ErrorCode.TOO_LARGE
    assert codec.request_id(raw) == "c9"
    assert huge[:100] not in err.message  # the error does not echo the payload


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=1, max_size=limits.MAX_TEXT_CHARS))
def test_any_text_within_limits_round_trips(text: str) -> None:
    got = codec.officer_inbound.decode(
        codec.encode(m.OfficerChatSend(id="o", idem="k", report_id="r", text=text))
    )
    assert isinstance(got, m.OfficerChatSend) and got.text == text


# ---------------------------------------------------------------- never crash

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
_tags = st.sampled_from(sorted({tag for _, t, _ in all_cases() for tag in [t]} | {"nope"}))


@settings(max_examples=300, deadline=None)  # a loaded CI machine is slow, not wrong
@given(
    tag=_tags,
    fields=st.dictionaries(
        st.sampled_from(["id", "re", "v", "text", "lat", "seq", "data", "since", "categories"]),
        _json,
    ),
)
def test_any_json_object_decodes_or_raises_protocol_error(tag: str, fields: dict[str, Any]) -> None:
    raw = dumps({"type": tag, **fields})
    for decoder, _ in DECODERS.values():
        try:
            msg = decoder.decode(raw)
        except ProtocolError as exc:
            assert exc.code in set(ErrorCode)
        else:
            assert isinstance(msg, m.Msg)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_decodes_or_raises_protocol_error(raw: str) -> None:
    for decoder, _ in DECODERS.values():
        with contextlib.suppress(ProtocolError):
            decoder.decode(raw)


# ---------------------------------------------------------------- error replies


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (frame(type="ping", id="abc"), "abc"),
        (frame(type="nope", id="abc"), "abc"),
        (dumps(submit(lat="north")).encode(), "r1"),
        (dumps(submit(text="x" * 100_000)), "r1"),
        (frame(type="ping", id=17), None),
        (frame(type="ping", id=None), None),
        (frame(type="ping", id=["a"]), None),
        (frame(type="ping"), None),
        (b"{not json", None),
        (b"[1, 2]", None),
        (b"\xff\xfe\x00", None),
        (frame(type="ping", id="i" * 500), "i" * 128),
        (frame(type="ping", id=XSS), XSS),
    ],
)
def test_request_id(raw: bytes | str, expected: str | None) -> None:
    assert codec.request_id(raw) == expected


def test_error_frame_round_trips_on_both_endpoints() -> None:
    raw = frame(type="nope", id="q1")
    exc = raises(codec.citizen_inbound, raw)
    err = codec.error_frame(exc, codec.request_id(raw))
    assert err == m.Error(code="unknown_type", message=exc.message, re="q1")
    for decoder in (codec.citizen_outbound, codec.officer_outbound):
        assert decoder.decode(codec.encode(err)) == err
    anonymous = codec.error_frame(ProtocolError(ErrorCode.MALFORMED, "bad"))
    assert json.loads(codec.encode(anonymous))["re"] is None


def test_decoded_messages_are_structs_of_their_union() -> None:
    for name, tag, cls in all_cases():
        decoder, union = DECODERS[name]
        got = decoder.decode(codec.encode(sample(cls)))
        assert type(got) is cls and cls in union.__args__
        assert msgspec.inspect.type_info(cls).tag == tag  # type: ignore[attr-defined]
