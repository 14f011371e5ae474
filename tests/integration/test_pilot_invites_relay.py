"""`lookout-pilot invites --relay ...` against the real relay on TLS loopback (issue 12,
deliverable 3): an inspector issues the codes, the sheet and the QR codes are printed, and
a phone that opens a QR code's link joins the pilot with the code it carries."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from backend_client import messages as m
from backend_client import rules
from pilot import cli
from relay import admin
from tests.conftest import PASSWORD, RunningRelay, start_relay
from tests.support.flows import device, officer, square
from tests.support.peer import next_id
from tests.support.totp import fresh_code

PILOT = "preston-2017"
PORTAL = "https://lookout.example.org"


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RunningRelay]:
    running = await start_relay(tmp_path / "relay")
    engine = admin.open_engine(running.data_dir)
    try:
        running.totp["ivy"] = admin.add_officer(engine, "ivy", "inspector", PASSWORD).totp_secret
    finally:
        engine.dispose()
    try:
        yield running
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def test_invites_from_the_relay_print_and_join(
    relay: RunningRelay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    ivy = await officer(relay, "ivy")
    ok = await ivy.request(
        m.PilotCreate(
            id=next_id(),
            idem=next_id(),
            pilot_id=PILOT,
            title="Preston community pilot",
            area=square(0.01),
            groups=[m.PilotGroupSpec("students", 30)],
            ends_at=time.time() + 86400,
        )
    )
    assert isinstance(ok, m.PilotAccepted), ok
    monkeypatch.setattr("getpass.getpass", lambda prompt="": PASSWORD)
    monkeypatch.setattr("builtins.input", lambda prompt="": fresh_code(relay.totp["ivy"]))
    out = tmp_path / "out"
    argv = [
        "invites",
        "--relay",
        relay.relay.url,  # type: ignore[attr-defined]
        "--ca",
        str(relay.relay.ca_path),  # type: ignore[attr-defined]
        "--user",
        "ivy",
        "--pilot",
        PILOT,
        "--group",
        "students",
        "--count",
        "3",
        "--portal-url",
        PORTAL,
        "--out",
        str(out),
    ]
    assert await asyncio.to_thread(cli.main, argv) == 0
    replies = json.loads((out / "codes.json").read_text())
    assert (out / "codes.json").stat().st_mode & 0o077 == 0  # the codes are the owner's only
    codes = [c for r in replies for c in r["codes"]]
    assert len(codes) == 3 and sorted(p.stem for p in out.glob("*.png")) == sorted(codes)
    # the title on the cards is the relay's, as no --title was given
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", "-raw", str(out / "invites.pdf"), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert text.count("Preston community pilot") == 3
        assert all(c in text for c in codes)
    # a phone opens a QR code's link; the code it carries joins the pilot
    url = zxingcpp.read_barcodes(Image.open(out / f"{codes[0]}.png").convert("L"))[0].text
    assert url.startswith(f"{PORTAL}/?pilot=")
    carried = parse_qs(urlsplit(url).query)["pilot"][0]
    phone, _ = await device(relay)
    joined = await phone.request(m.PilotJoin(id=next_id(), code=carried))
    assert isinstance(joined, m.PilotJoined), joined
    assert joined.pilot_id == PILOT and joined.group == "students"
    assert rules.normalise_invite_code(carried) == rules.normalise_invite_code(codes[0])


async def test_a_wrong_password_fails_at_once_and_issues_nothing(
    relay: RunningRelay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "not the password")
    monkeypatch.setattr("builtins.input", lambda prompt="": fresh_code(relay.totp["ivy"]))
    out = tmp_path / "out"
    argv = ["invites", "--relay", relay.relay.url, "--ca", str(relay.relay.ca_path)]  # type: ignore[attr-defined]
    argv += ["--user", "ivy", "--pilot", PILOT, "--group", "students", "--count", "2"]
    argv += ["--portal-url", PORTAL, "--out", str(out)]
    started = time.monotonic()
    assert await asyncio.to_thread(cli.main, argv) == 1
    assert time.monotonic() - started < 20  # not the 30 s wait for a session that never comes
    assert not list(out.glob("*"))
