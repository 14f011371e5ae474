"""Media types by magic bytes: the one definition the relay and the console both trust.

A file's type is what its leading bytes prove, never what its name or a sender claims. Pure
code on bytes, no I/O: the relay checks uploads with it, the console checks what it is
about to decode with it.
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["SNIFF_BYTES", "sniff_mime"]

#: How many leading bytes `sniff_mime` needs to see to decide (more is harmless).
SNIFF_BYTES: Final = 4096

# ISO BMFF brands of the MP4 family (ISO/IEC 14496-12/14, Apple M4V, MPEG-DASH).
MP4_BRANDS: Final = frozenset(
    {
        b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9",
        b"mp41", b"mp42", b"mp71", b"avc1", b"avc3", b"hvc1", b"hev1", b"av01",
        b"M4V ", b"M4VH", b"M4VP", b"f4v ", b"mmp4", b"dash", b"msdh", b"msix", b"cmfc",
    }
)  # fmt: skip
# Major brands that use the same container but are not MP4 video (HEIF/AVIF stills,
# QuickTime, 3GPP): they must not pass as video/mp4 even if they list an MP4 brand.
NOT_MP4_BRANDS: Final = frozenset(
    {
        b"mif1", b"mif2", b"msf1", b"miaf", b"heic", b"heix", b"heim", b"heis", b"hevc",
        b"hevx", b"avif", b"avis", b"qt  ", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"crx ",
    }
)  # fmt: skip
MAX_FTYP_BYTES: Final = 4096


def sniff_mime(head: bytes) -> str | None:
    """The media type the leading bytes prove, or None. Never looks at a file name."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if _is_mp4_ftyp(head):
        return "video/mp4"
    return None


def _is_mp4_ftyp(head: bytes) -> bool:
    """True if `head` opens with an ftyp box naming an MP4-family brand."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return False
    (box_size,) = struct.unpack(">I", head[:4])
    if box_size < 16 or box_size > MAX_FTYP_BYTES or (box_size - 16) % 4:
        return False
    major = head[8:12]
    if major in NOT_MP4_BRANDS:
        return False
    if major in MP4_BRANDS:
        return True
    body = head[16 : min(box_size, len(head))]
    compatible = {body[i : i + 4] for i in range(0, len(body) - 3, 4)}
    return not compatible.isdisjoint(MP4_BRANDS)
