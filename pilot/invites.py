"""Invitations for a pilot's participants: a QR code per invite code, and a printable sheet.

`write(invites, title, portal_url, out)` takes the codes as `pilot.invites` returns them
(docs/protocol.md, section 5.9) and writes `out/<CODE>.png` for each code, a QR code of
`<portal-url>/?pilot=<CODE>` (the portal puts the code in its join form:
`portal/js/pilot.js`), and `out/invites.pdf`, an A4 sheet of 8 cards a page with cut
lines: the pilot's title, the group, the QR code, the code printed `ABCD-EFGH-JKMN`, the
portal's address, the expiry date and one line on privacy.

The sheet is written here as a small PDF of its own (PDF's standard Helvetica fonts, the
QR codes as vector squares, so they print sharp at any size) rather than with Qt's
QPdfWriter: only the console imports Qt (the import-linter contract in `pyproject.toml`).
Title and group are plan text and are written as PDF string literals, escaped, never
interpreted (no markup of any kind). The fonts' WinAnsi encoding covers Latin-1 and a
little more; any other character prints as `?` (see `_pdf_text`).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import segno

from backend_client import messages as m
from backend_client import rules
from backend_client.client import RelayClient
from backend_client.limits import MAX_INVITES_PER_REQUEST

PRIVACY = "You stay anonymous; everything you send is marked as exercise."
CARDS_PER_PAGE = 8
#: A4 in PDF points (1/72 inch)
PAGE_W, PAGE_H = 595.28, 841.89
MARGIN = 24.0
COLS, ROWS = 2, 4
#: pixels per QR module in the PNGs: a 4-module quiet zone, about 300 px for a short URL
PNG_SCALE = 8


def to_reply(batch: Invites) -> dict[str, object]:
    """The reply's fields again, for `--codes`: the relay shows codes once only."""
    return {
        "pilot_id": batch.pilot_id,
        "group": batch.group,
        "codes": list(batch.codes),
        "expires_at": batch.expires_at,
    }


@dataclass(frozen=True)
class Invites:
    """What `pilot.invites` carries (the reply's `re` is not needed here)."""

    pilot_id: str
    group: str
    codes: tuple[str, ...]
    expires_at: float

    @classmethod
    def from_reply(cls, data: dict[str, object]) -> Invites:
        """From the reply's JSON object; a clear `ValueError` if it is not one."""
        try:
            codes = data["codes"]
            if not isinstance(codes, list) or not codes:
                raise ValueError("codes: a non-empty list of invite codes")
            expires = data["expires_at"]
            if not isinstance(expires, int | float) or isinstance(expires, bool):
                raise ValueError("expires_at: seconds since the epoch")
            return cls(
                pilot_id=str(data["pilot_id"]),
                group=str(data["group"]),
                codes=tuple(printed_code(str(c)) for c in codes),
                expires_at=float(expires),
            )
        except KeyError as exc:
            raise ValueError(f"missing field {exc.args[0]!r} (a pilot.invites reply)") from None


async def issue(
    officer: RelayClient, pilot_id: str, group: str, count: int, valid_s: float = 14 * 24 * 3600.0
) -> tuple[str, list[Invites]]:
    """`count` codes for `group` from a live officer client (an inspector, a supervisor or
    an admin), in as few `pilot.invite` requests as the limit allows, and the pilot's title.
    An error reply raises `ProtocolError` (`not_found`: no such pilot or group)."""
    listed = await officer.request(m.PilotList(id=""))
    assert isinstance(listed, m.PilotListed)
    title = next((p.title for p in listed.pilots if p.pilot_id == pilot_id), pilot_id)
    batches = []
    left = count
    while left > 0:
        n = min(left, MAX_INVITES_PER_REQUEST)
        got = await officer.request(
            m.PilotInvite(id="", pilot_id=pilot_id, group=group, count=n, valid_s=valid_s)
        )
        assert isinstance(got, m.PilotInvites)
        batches.append(
            Invites(
                pilot_id=got.pilot_id,
                group=got.group,
                codes=tuple(printed_code(c) for c in got.codes),
                expires_at=got.expires_at,
            )
        )
        left -= n
    return title, batches


def printed_code(code: str) -> str:
    """`ABCD-EFGH-JKMN` from a code in any form; `ValueError` if it is not an invite code."""
    plain = rules.normalise_invite_code(code)
    if len(plain) != rules.INVITE_CODE_LENGTH or any(
        ch not in rules.INVITE_ALPHABET for ch in plain
    ):
        raise ValueError(f"not an invite code: {code!r}")
    return rules.format_invite_code(plain)


def join_url(portal_url: str, code: str) -> str:
    """The address a participant's phone opens: the portal with the code to join with."""
    return f"{portal_url.rstrip('/')}/?pilot={quote(printed_code(code), safe='-')}"


def qr(portal_url: str, code: str) -> segno.QRCode:
    # level M: survives a crease or a smudge on a printed card and stays a small symbol
    return segno.make_qr(join_url(portal_url, code), error="m", boost_error=False)


def write(invites: Invites, title: str, portal_url: str, out: Path) -> int:
    """The PNGs and `invites.pdf` in `out` (created) for one reply; returns the cards."""
    return write_all([invites], title, portal_url, out)


def write_all(batches: Sequence[Invites], title: str, portal_url: str, out: Path) -> int:
    """As `write`, for several replies (a group each, say) on one sheet, in their order."""
    out.mkdir(parents=True, exist_ok=True)
    for batch in batches:
        for code in batch.codes:
            qr(portal_url, code).save(str(out / f"{code}.png"), kind="png", scale=PNG_SCALE)
    (out / "invites.pdf").write_bytes(sheet(batches, title, portal_url))
    return sum(len(b.codes) for b in batches)


def expiry_text(expires_at: float) -> str:
    return datetime.fromtimestamp(expires_at, UTC).strftime("Valid until %d %b %Y, %H:%M UTC")


# --- the PDF sheet -------------------------------------------------------------------


def sheet(batches: Sequence[Invites], title: str, portal_url: str) -> bytes:
    """The printable sheet: one card per code, `CARDS_PER_PAGE` a page."""
    cards = [(code, b) for b in batches for code in b.codes]
    pages = []
    for start in range(0, len(cards), CARDS_PER_PAGE):
        ops: list[str] = [_cut_lines()]
        for slot, (code, batch) in enumerate(cards[start : start + CARDS_PER_PAGE]):
            ops.append(_card(slot, code, batch, title, portal_url))
        pages.append("\n".join(ops).encode("latin-1"))
    return _pdf(pages)


def _card_box(slot: int) -> tuple[float, float, float, float]:
    """(left, top, width, height) of a card, in PDF points from the bottom left."""
    w = (PAGE_W - 2 * MARGIN) / COLS
    h = (PAGE_H - 2 * MARGIN) / ROWS
    col, row = slot % COLS, slot // COLS
    return MARGIN + col * w, PAGE_H - MARGIN - row * h, w, h


def _cut_lines() -> str:
    """Dashed lines round and between the cards."""
    w = (PAGE_W - 2 * MARGIN) / COLS
    h = (PAGE_H - 2 * MARGIN) / ROWS
    ops = ["q 0.6 G 0.5 w [4 3] 0 d"]
    for c in range(COLS + 1):
        x = MARGIN + c * w
        ops.append(f"{x:.2f} {MARGIN:.2f} m {x:.2f} {PAGE_H - MARGIN:.2f} l S")
    for r in range(ROWS + 1):
        y = MARGIN + r * h
        ops.append(f"{MARGIN:.2f} {y:.2f} m {PAGE_W - MARGIN:.2f} {y:.2f} l S")
    ops.append("Q")
    return "\n".join(ops)


def _card(slot: int, code: str, invites: Invites, title: str, portal_url: str) -> str:
    left, top, w, _h = _card_box(slot)
    pad = 12.0
    x = left + pad
    inner = w - 2 * pad
    ops = [_text(x, top - 22, "F2", 12, _fit(title, 12, inner, bold=True))]
    ops.append(_text(x, top - 36, "F1", 9, _fit(f"Group: {invites.group}", 9, inner)))
    size = 100.0
    qr_top = top - 44
    ops.append(_qr_ops(qr(portal_url, code), x, qr_top, size))
    # 14 pt: the QR code's quiet zone (4 modules) before the text
    tx = x + size + 14
    tw = inner - size - 14
    y = qr_top - 12
    lines = [
        "Scan the code, or open",
        *_wrap(portal_url.rstrip("/"), 8, tw),
        "and type the code below.",
    ]
    for line in lines:
        ops.append(_text(tx, y, "F1", 8, line))
        y -= 10
    y -= 4
    for line in _wrap(expiry_text(invites.expires_at), 8.5, tw):
        ops.append(_text(tx, y, "F2", 8, line))
        y -= 10
    y -= 4
    for line in _wrap(PRIVACY, 8, tw):
        ops.append(_text(tx, y, "F1", 8, line))
        y -= 10
    ops.append(_text(x, qr_top - size - 26, "F2", 22, code))
    return "\n".join(ops)


def _qr_ops(symbol: segno.QRCode, left: float, top: float, size: float) -> str:
    """The symbol as filled squares (each run of dark modules one rectangle)."""
    rows = [list(r) for r in symbol.matrix_iter(border=0)]
    n = len(rows)
    mod = size / n
    ops = ["q 0 g"]
    for j, row in enumerate(rows):
        i = 0
        while i < n:
            if row[i]:
                k = i
                while k < n and row[k]:
                    k += 1
                y = top - (j + 1) * mod
                ops.append(f"{left + i * mod:.3f} {y:.3f} {(k - i) * mod:.3f} {mod:.3f} re")
                i = k
            else:
                i += 1
    ops.append("f Q")
    return "\n".join(ops)


def _pdf_text(s: str) -> str:
    """`s` as a PDF literal string's content in WinAnsi: escaped, unmappable as `?`."""
    raw = s.replace("\r", " ").replace("\n", " ").encode("cp1252", errors="replace")
    out = []
    for b in raw:
        ch = chr(b)
        if ch in "\\()":
            out.append("\\" + ch)
        elif b < 32:
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def _text(x: float, y: float, font: str, size: float, s: str) -> str:
    return f"BT /{font} {size} Tf {x:.2f} {y:.2f} Td ({_pdf_text(s)}) Tj ET"


def _width(s: str, size: float, *, bold: bool = False) -> float:
    """A generous estimate of Helvetica's width (no font metrics here): for fitting."""
    em = 0.0
    for ch in s:
        if ch in "il.,;:'|!jtfI ":
            em += 0.30
        elif ch.isupper() or ch in "mwMW@%&":
            em += 0.75
        else:
            em += 0.58
    return em * size * (1.06 if bold else 1.0)


def _fit(s: str, size: float, width: float, *, bold: bool = False) -> str:
    if _width(s, size, bold=bold) <= width:
        return s
    while s and _width(s + "...", size, bold=bold) > width:
        s = s[:-1]
    return s.rstrip() + "..."


def _wrap(s: str, size: float, width: float) -> list[str]:
    """Words to lines that fit; a word (an address) longer than a line is cut at any point."""
    lines: list[str] = []
    line = ""
    for word in s.split(" "):
        candidate = f"{line} {word}" if line else word
        if _width(candidate, size) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        while _width(word, size) > width:
            cut = len(word)
            while cut > 1 and _width(word[:cut], size) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    if line:
        lines.append(line)
    return lines


def _pdf(pages: Sequence[bytes]) -> bytes:
    """A PDF 1.4 file with these content streams as A4 pages and the two Helvetica fonts."""
    n = len(pages)
    # objects: 1 catalog, 2 pages, 3 Helvetica, 4 Helvetica-Bold, then a page and its
    # content for each page
    page_ids = [5 + 2 * k for k in range(n)]
    objs: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: (
            "<< /Type /Pages /Kids [{}] /Count {} >>".format(
                " ".join(f"{p} 0 R" for p in page_ids), n
            ).encode()
        ),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        4: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    }
    for pid, content in zip(page_ids, pages, strict=True):
        objs[pid] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] "
            f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {pid + 1} 0 R >>"
        ).encode()
        packed = zlib.compress(content)
        objs[pid + 1] = (
            f"<< /Length {len(packed)} /Filter /FlateDecode >>\nstream\n".encode()
            + packed
            + b"\nendstream"
        )
    return _assemble(objs)


def _assemble(objs: dict[int, bytes]) -> bytes:
    buf = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num in sorted(objs):
        offsets[num] = len(buf)
        buf += f"{num} 0 obj\n".encode() + objs[num] + b"\nendobj\n"
    xref = len(buf)
    size = max(objs) + 1
    buf += f"xref\n0 {size}\n0000000000 65535 f \n".encode()
    for num in range(1, size):
        buf += f"{offsets[num]:010d} 00000 n \n".encode()
    buf += f"trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(buf)
