"""Pilot invitations (issue 12, deliverable 3): a QR code a phone reads as the portal's
join link, and a printable sheet with one card per code (`pilot/invites.py`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import segno
from PIL import Image

from backend_client import rules
from backend_client.pilots import DEFAULT_DIR, load
from pilot import cli, invites

PORTAL = "https://lookout.example.org/portal/"
EXPIRES = 1_767_520_800.0  # 4 Jan 2026, 10:00 UTC


def _codes(n: int, offset: int = 0) -> list[str]:
    """`n` distinct valid codes (what `relay/pilots.new_code` makes), unformatted."""
    a = rules.INVITE_ALPHABET
    out = []
    for k in range(offset, offset + n):
        digits = []
        x = k * 7919 + 12345
        for _ in range(rules.INVITE_CODE_LENGTH):
            digits.append(a[x % len(a)])
            x //= len(a)
        out.append("".join(digits))
    return out


def _reply(group: str, codes: list[str]) -> dict[str, object]:
    return {
        "type": "pilot.invites",
        "v": 1,
        "re": "o42",
        "pilot_id": "preston-2017",
        "group": group,
        "codes": [rules.format_invite_code(c) for c in codes],
        "expires_at": EXPIRES,
    }


def _pdftotext(pdf: Path) -> list[str]:
    """The text of each page (pdftotext separates pages with a form feed)."""
    done = subprocess.run(
        ["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True, check=True
    )
    return done.stdout.split("\f")[:-1]


def test_join_url_is_the_portal_with_the_printed_code() -> None:
    assert (
        invites.join_url(PORTAL, "7kqm xw3a-9tbd")
        == "https://lookout.example.org/portal/?pilot=7KQM-XW3A-9TBD"
    )
    with pytest.raises(ValueError, match="not an invite code"):
        invites.join_url(PORTAL, "7KQM-XW3A-9TB0")  # 0 is not in the alphabet


def test_each_png_is_a_qr_code_of_its_join_link(tmp_path: Path) -> None:
    reply = invites.Invites.from_reply(_reply("students", _codes(3)))
    assert invites.write(reply, "Preston community pilot", PORTAL, tmp_path) == 3
    pngs = sorted(tmp_path.glob("*.png"))
    assert [p.stem for p in pngs] == sorted(reply.codes)
    for png in pngs:
        img = Image.open(png)
        symbol = invites.qr(PORTAL, png.stem)
        # a 4-module quiet zone on each side, PNG_SCALE pixels a module
        side = (symbol.symbol_size(border=4)[0]) * invites.PNG_SCALE
        assert img.size == (side, side)
        expected = f"https://lookout.example.org/portal/?pilot={png.stem}"
        zxingcpp = pytest.importorskip("zxingcpp")
        found = zxingcpp.read_barcodes(img.convert("L"))
        assert [r.text for r in found] == [expected]
        assert found[0].format == zxingcpp.BarcodeFormat.QRCode


def test_the_png_holds_the_matrix_segno_made(tmp_path: Path) -> None:
    """Without a decoder: the PNG's pixels are the symbol's modules, one for one."""
    code = rules.format_invite_code(_codes(1)[0])
    invites.write(invites.Invites.from_reply(_reply("students", [code])), "T", PORTAL, tmp_path)
    img = Image.open(tmp_path / f"{code}.png").convert("L")
    symbol = segno.make_qr(invites.join_url(PORTAL, code), error="m", boost_error=False)
    s = invites.PNG_SCALE
    for j, row in enumerate(symbol.matrix_iter(border=4)):
        for i, dark in enumerate(row):
            px = img.getpixel((i * s + s // 2, j * s + s // 2))
            assert (px < 128) == bool(dark), (i, j)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_the_sheet_has_one_card_per_code_eight_a_page(tmp_path: Path) -> None:
    students, police = _codes(13), _codes(4, offset=100)
    title = "<b>Preston</b> (UCLan) & \\ co"
    group = "<i>students</i>"
    batches = [
        invites.Invites.from_reply(_reply(group, students)),
        invites.Invites.from_reply(_reply("police", police)),
    ]
    assert invites.write_all(batches, title, PORTAL, tmp_path) == 17
    pages = _pdftotext(tmp_path / "invites.pdf")
    assert len(pages) == 3  # 8 + 8 + 1
    printed = [rules.format_invite_code(c) for c in students + police]
    for k, code in enumerate(printed):
        on = [n for n, page in enumerate(pages) if code in page]
        assert on == [k // invites.CARDS_PER_PAGE], code
    text = "\n".join(pages)
    # plan text is printed as it is, markup and all, never interpreted
    assert text.count(title) == 17
    assert text.count(f"Group: {group}") == 13
    assert text.count("Group: police") == 4
    flat = " ".join(text.split())  # lines wrapped on the card, joined again
    assert flat.count("Valid until 04 Jan 2026, 10:00 UTC") == 17
    assert flat.count("You stay anonymous; everything you send is marked as exercise.") == 17
    # a long address is cut where it must be: read without the breaks
    assert "".join(text.split()).count("https://lookout.example.org/portal") == 17


def test_cli_writes_the_sheet_from_the_relays_replies(tmp_path: Path) -> None:
    codes_file = tmp_path / "codes.json"
    codes_file.write_text(
        json.dumps([_reply("students", _codes(2)), _reply("police", _codes(1, 9))])
    )
    out = tmp_path / "out"
    argv = ["invites", "--codes", str(codes_file), "--title", "Preston", "--out", str(out)]
    assert cli.main([*argv, "--portal-url", "https://lookout.example.org"]) == 0
    assert len(list(out.glob("*.png"))) == 3
    assert (out / "invites.pdf").read_bytes().startswith(b"%PDF-")
    # a non-empty directory, a plain-http portal, a file that is not a reply: refused
    assert cli.main([*argv, "--portal-url", "https://lookout.example.org"]) == 2
    assert cli.main([*argv[:-1], str(tmp_path / "o2"), "--portal-url", "http://x"]) == 2
    codes_file.write_text(json.dumps({"codes": ["ABCD"]}))
    assert cli.main([*argv[:-1], str(tmp_path / "o3"), "--portal-url", PORTAL]) == 2
    assert not (tmp_path / "o3").exists()


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_a_long_title_is_cut_to_its_card_and_other_scripts_print(tmp_path: Path) -> None:
    title = "Preston community pilot on the University of Central Lancashire campus, 2017"
    batch = invites.Invites.from_reply(_reply("Студенты", _codes(1)))
    invites.write(batch, title, PORTAL, tmp_path)
    text = _pdftotext(tmp_path / "invites.pdf")[0]
    first = text.splitlines()[0]
    assert first.endswith("\u2026") and title.startswith(first[:-1])
    # DejaVu Sans prints other scripts and Welsh as they are
    assert "Group: Студенты" in text


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils")
def test_the_printed_qr_codes_read_as_their_cards_links(tmp_path: Path) -> None:
    """The sheet's vector QR codes, rendered at 150 dpi, read as the same links."""
    zxingcpp = pytest.importorskip("zxingcpp")
    batch = invites.Invites.from_reply(_reply("students", _codes(8)))
    invites.write(batch, "Preston community pilot", PORTAL, tmp_path)
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", str(tmp_path / "invites.pdf"), str(tmp_path / "page")],
        check=True,
    )
    found = zxingcpp.read_barcodes(Image.open(tmp_path / "page-1.png").convert("L"))
    assert sorted(r.text for r in found) == sorted(invites.join_url(PORTAL, c) for c in batch.codes)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_with_the_plan_the_cards_name_each_group_by_its_title(tmp_path: Path) -> None:
    """`--codes` replies hold only the group's short name; `--plan` gives its title (and
    the pilot's, when --title is left out). A group the plan does not have keeps its name."""
    plan = DEFAULT_DIR / "preston-2017.toml"
    security = next(g for g in load(plan).groups if g.name == "university-security")
    assert security.title == "UCLan security"
    codes_file = tmp_path / "codes.json"
    codes_file.write_text(
        json.dumps([_reply("university-security", _codes(1)), _reply("visitors", _codes(1, 5))])
    )
    out = tmp_path / "out"
    argv = ["invites", "--codes", str(codes_file), "--plan", str(plan), "--out", str(out)]
    assert cli.main([*argv, "--portal-url", PORTAL]) == 0
    text = _pdftotext(out / "invites.pdf")[0]
    assert "Group: UCLan security" in text and "university-security" not in text
    assert "Group: visitors" in text
    assert load(plan).title[:20] in text
    # without the plan: the short name, as before
    spec = invites.sheet_spec(
        [invites.Invites.from_reply(_reply("students", _codes(1)))], "T", PORTAL
    )
    assert [c["group"] for c in spec["cards"]] == ["students"]  # type: ignore[index]
    titled = invites.sheet_spec(
        [invites.Invites.from_reply(_reply("students", _codes(1)))],
        "T",
        PORTAL,
        invites.group_titles(load(plan)),
    )
    assert [c["group"] for c in titled["cards"]] == [  # type: ignore[index]
        next(g.title for g in load(plan).groups if g.name == "students")
    ]
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 3\n")
    assert (
        cli.main([*argv[:4], str(bad), "--out", str(tmp_path / "o2"), "--portal-url", PORTAL]) == 2
    )
