"""`lookout-relay` as an operator uses it: serve, officer add/list/disable, export-cap."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import msgspec
from sqlalchemy import select, update

from backend_client import OFFICER_PATH
from backend_client import messages as m
from relay import cap
from relay.db import models as db
from relay.db.uow import Tx
from tests.conftest import PASSWORD, TEST_CAP_SENDER, RunningRelay
from tests.support.flows import PRESTON, device
from tests.support.peer import Peer, next_id
from tests.support.serving import serving
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
        "officer",
        "add",
        "olive",
        "--role",
        "dispatcher",
        "--data-dir",
        data,
        stdin="quiet orchard 42\n",
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    short = run(
        "officer", "add", "pat", "--role", "dispatcher", "--data-dir", data, stdin="short\n"
    )
    assert short.returncode == 1 and "at least 8" in short.stderr
    common = run(
        "officer", "add", "pat", "--role", "dispatcher", "--data-dir", data, stdin="Password123!\n"
    )
    assert common.returncode == 1 and "commonly used password" in common.stderr
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
    with serving([*CLI, "serve", "--data-dir", str(data), "--port", "0"], "evidence key") as served:
        text = served.text
        assert "listening on wss://127.0.0.1:" in text and "SHA-256 fingerprint" in text
        fingerprint = text.split("fingerprint: ")[1].split()[0]
        assert len(fingerprint.split(":")) == 32
        from relay import checkpoints

        evidence_key = checkpoints.fingerprint(checkpoints.relay_key(data).public_key())
        assert f"evidence key fingerprint (Ed25519): {evidence_key}" in text
        url = served.url
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
    assert served.proc.returncode == 0  # SIGTERM stops it cleanly


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
    aid, data = acc.alert.alert_id, str(relay.data_dir)
    unsent = run("alert", "export-cap", aid, "--data-dir", data)
    assert unsent.returncode == 2 and "--cap-sender" in unsent.stderr  # no made-up sender
    original = run("alert", "export-cap", aid, "--cap-sender", TEST_CAP_SENDER, "--data-dir", data)
    assert original.returncode == 0, original.stderr
    # no description and (this relay has no cap_web_base or public_url) no <web>: printed
    # as sent, with what a Google Public Alerts consumer would refuse said on stderr
    notes = [n for n in original.stderr.splitlines() if n.startswith("note: Google")]
    assert any("WEB_IS_REQUIRED" in n for n in notes), original.stderr
    assert any("DESCRIPTION_IS_REQUIRED" in n for n in notes), original.stderr
    assert (
        cap.validate_cap(original.stdout) == [] and "Test &lt;alert&gt; &amp; co" in original.stdout
    )
    later = msgspec.structs.replace(info, headline="Second text")
    upd = await off.request(m.AlertUpdate(id=next_id(), idem=next_id(), alert_id=aid, info=later))
    assert isinstance(upd, m.AlertAccepted)
    # a different sender on the command line: every message stays as the relay sent it
    other = ("--cap-sender", "lookout@elsewhere.example", "--data-dir", data)
    current = run("alert", "export-cap", aid, *other)
    first = run("alert", "export-cap", aid, "--message", *other)
    assert current.returncode == 0 and first.returncode == 0, current.stderr + first.stderr
    assert first.stdout == original.stdout  # the Alert, unchanged by the Update
    api = await off.request(m.AlertExport(id=next_id(), alert_id=aid))
    assert isinstance(api, m.AlertCap) and api.xml + "\n" == current.stdout  # CLI == API
    assert cap.validate_cap(current.stdout) == []
    assert f"<sender>{TEST_CAP_SENDER}</sender>" in current.stdout
    assert "<msgType>Update</msgType>" in current.stdout and "Second text" in current.stdout
    assert f"<references>{TEST_CAP_SENDER},{aid}," in current.stdout
    second = run("alert", "export-cap", f"{aid}.1", "--message", *other)
    assert second.returncode == 0 and second.stdout == current.stdout
    listed = run("alert", "list", "--data-dir", data)
    assert listed.returncode == 0 and listed.stdout.startswith(aid + "\tactive")
    missing = run("alert", "export-cap", "A-NOPE", *other)
    assert missing.returncode == 1 and "cannot export" in missing.stderr
    no_message = run("alert", "export-cap", f"{aid}.7", "--message", *other)
    assert no_message.returncode == 1 and "cannot export" in no_message.stderr


async def test_export_cap_names_the_configured_organisation_for_an_unstored_message(
    relay: RunningRelay, tmp_path: Path
) -> None:
    """A version from before stored CAP is rendered at export, under the issuer the command
    line (or config file) gives: its <senderName> is that organisation, never the officer."""
    from tests.support.flows import alert_info, officer

    off = await officer(relay, "dana")
    await device(relay)
    acc = await off.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
    assert isinstance(acc, m.AlertAccepted)
    aid, data = acc.alert.alert_id, str(relay.data_dir)

    def unstore(tx: Tx) -> None:  # as migration 0004's backfill left older alerts
        a = tx.s.scalar(select(db.Alert).where(db.Alert.public_id == aid))
        assert a is not None
        tx.s.execute(
            update(db.AlertVersion).where(db.AlertVersion.alert_id == a.id).values(cap_xml=None)
        )

    await relay.relay.db.write(unstore)  # type: ignore[attr-defined]
    config = tmp_path / "relay.toml"
    config.write_text(
        f'cap_sender = "{TEST_CAP_SENDER}"\ncap_sender_name = "Lancashire Constabulary"\n'
    )
    sender = ("--cap-sender", TEST_CAP_SENDER)
    for args, want in (
        ((*sender, "--cap-sender-name", "Cumbria Constabulary"), "Cumbria Constabulary"),
        (("--config", str(config)), "Lancashire Constabulary"),
        (sender, TEST_CAP_SENDER),
    ):
        out = run("alert", "export-cap", aid, *args, "--data-dir", data)
        assert out.returncode == 0, out.stderr
        assert cap.validate_cap(out.stdout) == []
        assert f"<senderName>{want}</senderName>" in out.stdout, args
        assert "dana" not in out.stdout, args


def test_a_stop_as_soon_as_it_says_it_listens_is_a_clean_stop(tmp_path: Path) -> None:
    """systemd may stop the relay the moment it has started: the SIGTERM that arrives while
    it still prints its fingerprints must stop it cleanly (exit 0), not kill it (-15)."""
    cmd = [*CLI, "serve", "--data-dir", str(tmp_path / "relay"), "--port", "0", "--no-metrics"]
    for _ in range(3):
        with serving(cmd, "Lookout relay listening") as served:
            pass
        assert served.proc.returncode == 0, served.text


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


async def test_audit_verify_against_signed_checkpoints_catches_tail_deletion_and_rewrite(
    tmp_path: Path,
) -> None:
    import asyncio
    import json
    import shutil

    from sqlalchemy import text

    from relay import admin, audit, checkpoints
    from tests.conftest import start_relay
    from tests.support.flows import officer
    from tests.support.peer import wait_until

    data = tmp_path / "r"
    r = await start_relay(data, counts_interval_s=0.05, checkpoint_every_s=0.1)
    file = data / checkpoints.CHECKPOINT_FILE
    try:
        await wait_until(lambda: file.exists())  # the interval checkpoint, while serving
        await officer(r)  # a login: one more audit record after it
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]
    last = checkpoints.latest(file)
    engine = admin.open_engine(data)
    try:
        with engine.begin() as conn:
            head = conn.execute(text("SELECT max(seq) FROM audit_log")).scalar_one()
        assert last is not None and last.seq == head, "shutdown signs the final head"
        assert len(file.read_text().splitlines()) >= 2
        mode = (data / checkpoints.KEY_FILE).stat().st_mode & 0o777
        assert mode == 0o600
        ok = await asyncio.to_thread(run, "audit", "verify", "--data-dir", str(data))
        assert ok.returncode == 0 and f"checkpoint at seq {head}" in ok.stdout, ok
        shipped = tmp_path / "shipped.jsonl"
        shutil.copy(file, shipped)

        with engine.begin() as conn:  # rewrite the last record, recomputing its hash
            row = conn.execute(
                text(
                    "SELECT seq, at, actor, action, subject, detail, prev_hash FROM audit_log "
                    "WHERE seq = :s"
                ),
                {"s": head},
            ).one()
            forged = audit.record_hash(row[6], row[0], row[1], "mallory", row[3], row[4], row[5])
            conn.execute(
                text("UPDATE audit_log SET actor='mallory', hash=:h WHERE seq=:s"),
                {"h": forged, "s": head},
            )
        assert admin.verify_audit(engine).ok  # the bare chain cannot tell
        bad = await asyncio.to_thread(run, "audit", "verify", "--data-dir", str(data))
        assert bad.returncode == 1 and "TAMPERED" in bad.stderr and "rewritten" in bad.stderr

        with engine.begin() as conn:  # now cut the tail off instead
            conn.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": head})
        assert admin.verify_audit(engine).ok
        cut = await asyncio.to_thread(run, "audit", "verify", "--data-dir", str(data))
        assert cut.returncode == 1 and "deleted from the end" in cut.stderr, cut

        file.write_text("")  # the forger empties the local file too: the shipped copy holds
        local = await asyncio.to_thread(run, "audit", "verify", "--data-dir", str(data))
        assert local.returncode == 0 and "no signed checkpoint" in local.stderr
        remote = await asyncio.to_thread(
            run, "audit", "verify", "--data-dir", str(data), "--checkpoint", str(shipped)
        )
        assert remote.returncode == 1 and "deleted from the end" in remote.stderr, remote

        entry = json.loads(shipped.read_text().splitlines()[-1])
        entry["seq"] -= 1  # a forged checkpoint does not carry the relay's signature
        forged_file = tmp_path / "forged.jsonl"
        forged_file.write_text(json.dumps(entry) + "\n")
        sig = await asyncio.to_thread(
            run, "audit", "verify", "--data-dir", str(data), "--checkpoint", str(forged_file)
        )
        assert sig.returncode == 1 and "CHECKPOINT INVALID" in sig.stderr, sig
    finally:
        engine.dispose()
