"""relay/proxy_protocol.py: PROXY v2 headers as HAProxy writes them, cut at every byte, and
every malformed one refused (the relay resets such a connection)."""

from __future__ import annotations

import struct

import pytest

from relay.proxy_protocol import (
    MAX_HEADER,
    SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    encode,
    parse,
)

V4 = encode(("203.0.113.7", 51234), ("10.0.0.2", 8765))
V6 = encode(("2001:db8::7", 443), ("2001:db8::1", 8765))


def header(ver_cmd: int, fam: int, block: bytes) -> bytes:
    return SIGNATURE + struct.pack("!BBH", ver_cmd, fam, len(block)) + block


def test_ipv4_and_ipv6_sources_and_the_bytes_after_them() -> None:
    assert parse(V4 + b"GET / HTTP/1.1\r\n") == ProxyHeader(
        ("203.0.113.7", 51234), ("10.0.0.2", 8765), 28
    )
    assert parse(V6) == ProxyHeader(("2001:db8::7", 443), ("2001:db8::1", 8765), 52)


def test_every_prefix_of_a_header_asks_for_more() -> None:
    for whole in (V4, V6):
        for n in range(len(whole)):
            assert parse(whole[:n]) is None, n
        assert parse(whole) is not None


def test_tlvs_that_fit_are_skipped() -> None:
    tlvs = b"\x01\x00\x02h2" + b"\x04\x00\x00" + b"\x05\x00\x03abc"  # ALPN, NOOP, UNIQUE_ID
    got = parse(encode(("192.0.2.1", 1), ("192.0.2.2", 2), tlvs))
    assert got is not None and got.source == ("192.0.2.1", 1) and got.length == 28 + len(tlvs)


def test_local_is_the_proxys_own_connection() -> None:
    assert parse(header(0x20, 0x00, b"")) == ProxyHeader(None, None, 16)
    # its address block, if any, is ignored, as the spec says
    assert parse(header(0x20, 0x11, b"\x00" * 12)) == ProxyHeader(None, None, 28)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "signature"),
        (b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 8765\r\n", "signature"),  # v1 text
        (b"\r\n\r\n\x00\r\nQUIX\n" + b"\x21\x11\x00\x0c" + b"\x00" * 12, "signature"),
        (header(0x11, 0x11, b"\x00" * 12), "version"),
        (header(0x22, 0x11, b"\x00" * 12), "command"),
        (header(0x21, 0x00, b""), "not TCP over IP"),  # PROXY with UNSPEC
        (header(0x21, 0x31, b"\x00" * 216), "not TCP over IP"),  # UNIX
        (header(0x21, 0x12, b"\x00" * 12), "not TCP over IP"),  # UDP over IPv4
        (header(0x21, 0x11, b"\x00" * 11), "address block"),
        (header(0x21, 0x21, b"\x00" * 12), "address block"),  # IPv6 needs 36
        (header(0x21, 0x11, b"\x00" * 12 + b"\x05\x00"), "truncated TLV"),
        (header(0x21, 0x11, b"\x00" * 12 + b"\x05\x00\x09abc"), "longer than the header"),
        (header(0x21, 0x11, b"\x00" * (MAX_HEADER - 15)), "at most"),
    ],
)
def test_malformed_headers_are_refused(data: bytes, why: str) -> None:
    with pytest.raises(ProxyHeaderError, match=why):
        parse(data)


def test_a_bad_signature_is_refused_at_its_first_wrong_byte() -> None:
    with pytest.raises(ProxyHeaderError):
        parse(b"\r\nX")
    assert parse(b"\r\n\r\n") is None


def test_an_oversized_length_is_refused_before_its_bytes_arrive() -> None:
    with pytest.raises(ProxyHeaderError, match="at most"):
        parse(SIGNATURE + struct.pack("!BBH", 0x21, 0x11, 0xFFFF))


def test_encode_refuses_mixed_families() -> None:
    with pytest.raises(ValueError, match="one IP version"):
        encode(("192.0.2.1", 1), ("2001:db8::1", 2))
