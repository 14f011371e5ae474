"""Operations and privacy at rest against the real relay: metrics off the phones' port, a
full disk answered `unavailable` with /healthz not ok until it clears, an unwritable data
directory refused in one line, no old location fix left in the SQLite files, no bound
parameter in a failed statement's error."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import ssl
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text, update

from backend_client import messages as m
from relay.db import models as db
from tests.conftest import RunningRelay, start_relay
from tests.support.flows import device, officer, report
from tests.support.peer import next_id, wait_until


def _get(url: str, ctx: ssl.SSLContext | None = None) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def _https(r: RunningRelay, path: str) -> tuple[int, str, str]:
    return _get(r.relay.url.replace("wss://", "https://") + path, r.ssl)  # type: ignore[attr-defined]


@contextlib.contextmanager
def _tmpfs(where: Path, size: str, *options: str) -> Iterator[Path]:
    """A real small file system, so a full or read-only disk is the kernel's, not a mock."""
    where.mkdir(parents=True, exist_ok=True)
    opts = ",".join((f"size={size}", *options))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(directory: Path) -> Path:
    """Write until the file system says ENOSPC; returns the filler (delete it to free)."""
    filler = directory / "filler"
    # unbuffered: a full buffer's flush at close would raise ENOSPC outside the suppress
    with filler.open("wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
    return filler


# ---------------------------------------------------------------- metrics


async def test_metrics_are_on_their_own_loopback_listener_not_the_phones_port(tmp_path):
    r = await start_relay(tmp_path / "r", metrics_port=0)
    try:
        status, _, body = await asyncio.to_thread(_https, r, "/healthz")
        assert status == 200 and body.strip() == "ok"
        status, _, _ = await asyncio.to_thread(_https, r, "/metrics")
        assert status == 404
        cit, _ = await device(r)
        await report(cit)
        relay = r.relay
        assert relay.config.metrics_host == "127.0.0.1"  # type: ignore[attr-defined]
        url = f"http://127.0.0.1:{relay.metrics_port}/metrics"  # type: ignore[attr-defined]
        status, ctype, body = await asyncio.to_thread(_get, url)
        assert status == 200 and "text/plain" in ctype
        assert "lookout_reports_submitted_total 1.0" in body
        assert "lookout_citizen_connections 1.0" in body
        other = f"http://127.0.0.1:{relay.metrics_port}/v1/citizen"  # type: ignore[attr-defined]
        assert (await asyncio.to_thread(_get, other))[0] == 404
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]


async def test_no_metrics_listener_unless_configured(relay):
    assert relay.relay.metrics_port is None


# ---------------------------------------------------------------- full disk


async def test_a_full_disk_answers_unavailable_and_healthz_until_space_returns(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    with _tmpfs(tmp_path / "small", "6m") as mnt:
        # no expiry writes in between: a tiny chore write that happens to fit would count
        # as "a later write succeeded" and turn /healthz ok before the test looks
        r = await start_relay(mnt / "relay", counts_interval_s=0.05, expiry_every_s=3600)
        try:
            off = await officer(r)
            cit, _ = await device(r)
            filler = _fill(mnt)
            failure: m.Msg | None = None
            for _ in range(3000):  # the WAL's free frames run out within a few hundred
                reply = await cit.request(
                    m.ReportSubmit(
                        id=next_id(),
                        client_ref=next_id(),
                        category="burglary",
                        text="x" * 2000,
                        lat=53.75,
                        lon=-2.7,
                    )
                )
                if isinstance(reply, m.Error):
                    failure = reply
                    break
            assert isinstance(failure, m.Error) and failure.code == "unavailable", failure
            status, _, body = await asyncio.to_thread(_https, r, "/healthz")
            assert status == 503 and "full" in body and body.count("\n") == 1, body
            # the media store on the same full disk says the same
            photo = b"\xff\xd8\xff" + os.urandom(200_000)
            sha = hashlib.sha256(photo).hexdigest()
            filler.unlink()
            acc = await report(
                cit, media=[m.MediaDecl(sha256=sha, mime="image/jpeg", size=len(photo))]
            )
            _fill(mnt)
            err = await cit.request(
                m.MediaChunk(
                    id=next_id(), report_id=acc.report_id, sha256=sha, offset=0, data=photo
                )
            )
            assert isinstance(err, m.Error) and err.code == "unavailable", err
            assert r.relay.media.problem is not None  # type: ignore[attr-defined]
            status, _, body = await asyncio.to_thread(_https, r, "/healthz")
            assert status == 503 and "media" in body, body
            (mnt / "filler").unlink()
            await wait_until(lambda: r.relay.media.problem is None)  # type: ignore[attr-defined]
            again = await report(cit, text="after the disk was freed")
            assert (await asyncio.to_thread(_https, r, "/healthz"))[0] == 200
            created = await off.wait_for(
                lambda e: isinstance(e, m.ReportCreated) and e.report.report_id == again.report_id
            )
            assert created.report.text == "after the disk was freed"
            tracebacks = [r for r in caplog.records if r.exc_info]
            assert tracebacks == [], "a full disk is one log line, never a traceback"
            full = [r for r in caplog.records if "full" in r.getMessage()]
            assert 1 <= len(full) <= 3, [r.getMessage() for r in full]
        finally:
            with contextlib.suppress(FileNotFoundError):
                (mnt / "filler").unlink()
            await r.relay.stop()  # type: ignore[attr-defined]


def test_serve_on_a_read_only_data_directory_says_so_in_one_line(tmp_path):
    with _tmpfs(tmp_path / "ro", "1m", "ro") as mnt:
        for data in (mnt, mnt / "relay"):
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "relay.cli",
                    "serve",
                    "--data-dir",
                    str(data),
                    "--port",
                    "0",
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 2, done
            assert "Traceback" not in done.stderr
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and "cannot write to the data directory" in lines[0], lines
            assert "Read-only file system" in lines[0]


# ---------------------------------------------------------------- privacy at rest

OLD = (53.1234567891, -2.9876543219)
NEWER = (53.5432109876, -2.1357924681)


def _forms(coord: tuple[float, float]) -> list[bytes]:
    """How SQLite may hold a coordinate: an 8-byte big-endian REAL, or its text."""
    out = []
    for v in coord:
        out += [struct.pack(">d", v), repr(v).encode(), f"{v:.7f}".encode()]
    return out


def _on_disk(data_dir: Path) -> bytes:
    return b"".join(
        p.read_bytes()
        for p in (data_dir / "relay.sqlite", data_dir / "relay.sqlite-wal")
        if p.exists()
    )


async def test_superseded_and_expired_fixes_leave_no_trace_in_the_database_files(tmp_path):
    data = tmp_path / "r"
    r = await start_relay(data, counts_interval_s=0.05, expiry_every_s=0.1)
    try:
        cit, _ = await device(r, lat=OLD[0], lon=OLD[1])
        raw = _on_disk(data)
        assert any(f in raw for f in _forms(OLD)), "the grep must be able to find a fix"
        ok = await cit.request(m.LocationUpdate(id=next_id(), lat=NEWER[0], lon=NEWER[1]))
        assert isinstance(ok, m.Ack)
        relay = r.relay

        def expire_now(tx: object) -> None:
            tx.s.execute(update(db.Device).values(fix_expires_at=time.time() - 1))  # type: ignore[attr-defined]

        await relay.db.write(expire_now)  # type: ignore[attr-defined]
        await wait_until(lambda: len(relay.index) == 0)  # type: ignore[attr-defined]

        def clean() -> bool:
            raw = _on_disk(data)
            return not any(f in raw for f in _forms(OLD) + _forms(NEWER))

        await wait_until(clean)
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]
    raw = _on_disk(data)
    assert not any(f in raw for f in _forms(OLD) + _forms(NEWER))


async def test_a_failed_statement_never_shows_its_parameters(relay, caplog):
    secret = 53.987654321

    def bad(tx: object) -> None:
        tx.s.execute(text("INSERT INTO no_such_table (lat) VALUES (:lat)"), {"lat": secret})  # type: ignore[attr-defined]

    with caplog.at_level(logging.DEBUG), pytest.raises(Exception) as info:
        await relay.relay.db.write(bad)
    assert "no_such_table" in str(info.value)
    assert "53.98" not in str(info.value) and "53.98" not in caplog.text
    assert "hidden" in str(info.value)


async def test_wal_truncation_under_load_refuses_no_report(tmp_path: Path) -> None:
    """The privacy chore truncates the WAL while phones report at full speed. Run from
    another connection, the checkpoint made the writer's next transaction fail ("database
    is locked", answered `unavailable`); on the writer thread, between batches, it cannot."""
    r = await start_relay(
        tmp_path / "relay",
        wal_checkpoint_every_s=0.01,
        counts_interval_s=0.01,
        expiry_every_s=0.01,
        reports_per_device_per_hour=0,
    )
    phones = [(await device(r))[0] for _ in range(16)]
    ends = {"checkpoints": 0}
    engine_calls = r.relay.db.maintain  # type: ignore[attr-defined]

    async def counted(fn):  # type: ignore[no-untyped-def]
        ends["checkpoints"] += 1
        return await engine_calls(fn)

    r.relay.db.maintain = counted  # type: ignore[attr-defined]
    try:

        async def burst(p) -> list[m.Msg]:  # type: ignore[no-untyped-def]
            out = []
            for i in range(120):
                out.append(
                    await p.request(
                        m.ReportSubmit(
                            id=next_id(),
                            client_ref=f"w{i}",
                            category="burglary",
                            text="x",
                            lat=53.759,
                            lon=-2.699,
                        )  # fmt: skip
                    )
                )
            return out

        replies = [x for got in await asyncio.gather(*(burst(p) for p in phones)) for x in got]
        refused = [x for x in replies if not isinstance(x, m.ReportAccepted)]
        assert refused == [], refused[:3]
        assert ends["checkpoints"] >= 5  # the chore really ran during the burst
    finally:
        for p in phones:
            await p.close()
        await r.relay.stop()  # type: ignore[attr-defined]
