"""`lookout-relay` as an operator uses it: serve, officer add/list/disable, export-cap."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from backend_client import OFFICER_PATH
from backend_client import messages as m
from relay import cap
from tests.conftest import PASSWORD
from tests.support.flows import PRESTON, device
from tests.support.peer import Peer, next_id
from tests.support.totp import fresh_code

CLI = [sys.executable, "-m", "relay.cli"]


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_officer_add_list_disable(tmp_path: Path) -> None:
    data = str(tmp_path / "r")
    args = ("officer", "add", "olive", "--role", "supervisor", "--data-dir", data)
    refused = run(*args, stdin="a long password\n")
    assert refused.returncode == 2 and "no relay data" in refused.stderr  # a mistyped --data-dir
    added = run(*args, "--init", stdin="a long password\n")
    assert added.returncode == 0, added.stderr
    assert "otpauth://totp/Lookout:olive?" in added.stdout and "secret=" in added.stdout
    again = run(
        "officer", "add", "olive", "--role", "dispatcher", "--data-dir", data, stdin="x" * 12 + "\n"
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    short = run(
        "officer", "add", "pat", "--role", "dispatcher", "--data-dir", data, stdin="short\n"
    )
    assert short.returncode == 1 and "at least 8" in short.stderr
    listed = run("officer", "list", "--data-dir", data)
    assert listed.stdout.split() == ["olive", "supervisor", "active"]
    assert run("officer", "disable", "olive", "--data-dir", data).returncode == 0
    assert run("officer", "list", "--data-dir", data).stdout.split() == [
        "olive",
        "supervisor",
        "disabled",
    ]
    code = run("officer", "code", "olive", "--data-dir", data)
    assert code.returncode == 0 and code.stdout.strip().isdigit() and len(code.stdout.strip()) == 6
    empty = run("officer", "add", "pat", "--role", "dispatcher", "--data-dir", data, stdin="")
    assert empty.returncode == 1 and "no password given" in empty.stderr
    assert run("audit", "verify", "--data-dir", data).returncode == 0


def test_serve_prints_fingerprint_and_an_officer_can_log_in(tmp_path: Path) -> None:
    data = tmp_path / "r"
    added = run(
        "officer",
        "add",
        "olive",
        "--role",
        "dispatcher",
        "--data-dir",
        str(data),
        "--init",
        stdin=PASSWORD + "\n",
    )
    secret = added.stdout.split("secret=")[1].split("&")[0]
    proc = subprocess.Popen(
        [*CLI, "serve", "--data-dir", str(data), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while not any("SHA-256 fingerprint" in x for x in lines) and time.monotonic() < deadline:
            lines.append(proc.stdout.readline())
        text = "".join(lines)
        assert "listening on wss://127.0.0.1:" in text and "SHA-256 fingerprint" in text
        fingerprint = text.split("fingerprint: ")[1].split()[0]
        assert len(fingerprint.split(":")) == 32
        url = text.split("Lookout relay listening on ")[1].split()[0]
        assert (data / "tls" / "ca.pem").exists()
        import asyncio

        from relay import tls

        async def login() -> m.Msg:
            p = await Peer.open(
                url + OFFICER_PATH, tls.client_ssl_context(data / "tls" / "ca.pem"), officer=True
            )
            try:
                return await p.request(
                    m.Login(
                        id=next_id(),
                        username="olive",
                        password=PASSWORD,
                        totp=fresh_code(secret),
                    )
                )
            finally:
                await p.close()

        ok = asyncio.run(login())
        assert isinstance(ok, m.AuthOk) and ok.role == "dispatcher"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0  # SIGTERM stops it cleanly


async def test_export_cap_from_the_command_line(relay) -> None:
    from tests.support.flows import officer

    off = await officer(relay)
    await device(relay)
    d = 0.01
    area = m.Polygon(
        coordinates=[
            (PRESTON[1] - d, PRESTON[0] - d),
            (PRESTON[1] + d, PRESTON[0] - d),
            (PRESTON[1], PRESTON[0] + d),
        ]
    )
    info = m.AlertInfo(
        categories=["burglary"],
        area=area,
        area_desc="Preston",
        headline="Test <alert> & co",
        expires_at=time.time() + 600,
    )
    acc = await off.request(m.AlertSend(id=next_id(), idem=next_id(), info=info))
    assert isinstance(acc, m.AlertAccepted)
    done = run("alert", "export-cap", acc.alert.alert_id, "--data-dir", str(relay.data_dir))
    assert done.returncode == 0, done.stderr
    assert cap.validate_cap(done.stdout) == [] and "Test &lt;alert&gt; &amp; co" in done.stdout
    listed = run("alert", "list", "--data-dir", str(relay.data_dir))
    assert listed.returncode == 0 and listed.stdout.startswith(acc.alert.alert_id + "\tactive")
    missing = run("alert", "export-cap", "A-NOPE", "--data-dir", str(relay.data_dir))
    assert missing.returncode == 1 and "cannot export" in missing.stderr


def test_serve_explains_operator_mistakes(tmp_path: Path) -> None:
    import socket

    data = str(tmp_path / "r")
    only_cert = run("serve", "--data-dir", data, "--cert", str(tmp_path / "c.pem"))
    assert only_cert.returncode == 2 and "--cert and --key together" in only_cert.stderr
    bad_port = run("serve", "--data-dir", data, "--port", "99999")
    assert bad_port.returncode == 2 and "not a TCP port" in bad_port.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        in_use = run("serve", "--data-dir", data, "--port", str(port))
    assert in_use.returncode == 1 and "already in use" in in_use.stderr
    assert "Traceback" not in in_use.stderr
