"""PROXY protocol version 2: the header a load balancer (HAProxy `send-proxy-v2`) puts in
front of each connection it forwards, naming the client it came from. Sans-I/O: bytes in,
a header (or "more bytes") out; relay/listener.py reads it off the socket.

Only the binary v2 header is read (haproxy.org's proxy-protocol.txt, section 2.2), strictly:

- the 12-byte signature, version 2, command LOCAL (the proxy's own connection, e.g. a
  health check: the real peer address applies) or PROXY;
- for PROXY, a TCP source and destination over IPv4 or IPv6: there must be an address to
  count per-address limits under, so UNSPEC, UNIX and UDP are refused;
- the address block's declared length, and every TLV after it (type, 2-byte length,
  value) fitting exactly; their values are not used (a CRC32C TLV is not verified);
- at most MAX_HEADER bytes in all, so a peer cannot make the relay buffer 64 KiB.

Anything else raises ProxyHeaderError; the caller closes the connection. The text v1
header ("PROXY TCP4 ...") is refused too: HAProxy sends v2 when told `send-proxy-v2`.
Written here rather than taken from PyPI: the one maintained package (`proxy-protocol`)
brings its own asyncio server and reader, and the relay needs only this one function.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Final

SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
#: signature, version/command, family/transport, length
FIXED: Final = 16
#: the most a header may take, TLVs included (HAProxy's usual ones are well under 256)
MAX_HEADER: Final = 1024

LOCAL, PROXY = 0x0, 0x1
AF_INET, AF_INET6 = 0x1, 0x2
STREAM = 0x1
_ADDRESSES: Final = {AF_INET: (12, "!4s4sHH"), AF_INET6: (36, "!16s16sHH")}


class ProxyHeaderError(ValueError):
    """Not a PROXY v2 header this relay accepts."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    #: the client's (host, port) as the proxy saw it; None for LOCAL (use the real peer)
    source: tuple[str, int] | None
    destination: tuple[str, int] | None
    #: bytes the header took: the connection's own data starts after them
    length: int


def parse(data: bytes | bytearray) -> ProxyHeader | None:
    """The header at the start of `data`, or None while more bytes are needed.

    Raises ProxyHeaderError as soon as the bytes so far cannot start a valid header.
    """
    head = bytes(data[: len(SIGNATURE)])
    if not SIGNATURE.startswith(head):
        raise ProxyHeaderError("no PROXY v2 signature")
    if len(data) < FIXED:
        return None
    version_command, family_transport, length = struct.unpack_from("!BBH", data, 12)
    if version_command >> 4 != 2:
        raise ProxyHeaderError(f"PROXY protocol version {version_command >> 4}, not 2")
    command = version_command & 0x0F
    if command not in (LOCAL, PROXY):
        raise ProxyHeaderError(f"unknown PROXY command {command:#x}")
    total = FIXED + length
    if total > MAX_HEADER:
        raise ProxyHeaderError(f"a {total}-byte PROXY header (at most {MAX_HEADER})")
    if len(data) < total:
        return None
    body = bytes(data[FIXED:total])
    if command == LOCAL:  # the proxy's own connection: its address block is ignored
        return ProxyHeader(None, None, total)
    family, transport = family_transport >> 4, family_transport & 0x0F
    if family not in _ADDRESSES or transport != STREAM:
        raise ProxyHeaderError(f"PROXY family/transport {family_transport:#04x}: not TCP over IP")
    size, layout = _ADDRESSES[family]
    if length < size:
        raise ProxyHeaderError(f"a {length}-byte address block (family {family} needs {size})")
    src, dst, src_port, dst_port = struct.unpack_from(layout, body)
    _check_tlvs(body[size:])
    return ProxyHeader(
        (str(ipaddress.ip_address(src)), src_port),
        (str(ipaddress.ip_address(dst)), dst_port),
        total,
    )


def _check_tlvs(rest: bytes) -> None:
    at = 0
    while at < len(rest):
        if len(rest) - at < 3:
            raise ProxyHeaderError("a truncated TLV after the addresses")
        (size,) = struct.unpack_from("!H", rest, at + 1)
        at += 3 + size
        if at > len(rest):
            raise ProxyHeaderError("a TLV longer than the header")


def encode(source: tuple[str, int], destination: tuple[str, int], tlvs: bytes = b"") -> bytes:
    """A PROXY command header (for tests and benches: the relay only reads them)."""
    src, dst = ipaddress.ip_address(source[0]), ipaddress.ip_address(destination[0])
    if src.version != dst.version:
        raise ValueError("source and destination must be of one IP version")
    family = AF_INET if src.version == 4 else AF_INET6
    size, layout = _ADDRESSES[family]
    block = struct.pack(layout, src.packed, dst.packed, source[1], destination[1]) + tlvs
    return SIGNATURE + struct.pack("!BBH", 0x20 | PROXY, family << 4 | STREAM, len(block)) + block
