"""`lookout-pilot review` against the real relay on TLS loopback: an inspector signs in (the
password and TOTP code asked for, as `invites --relay` does), the relay computes a real
pilot's metrics, and the CLI writes metrics.json (the very object `pilot.reviewed` carries
for the same request), metrics.csv and report.pdf, by a start time and by a run log with a
pause. A dispatcher is refused with exit 1 and one line saying why; a directory that is
not empty, a plan that does not load and a run log of another pilot are refused with 2,
before anything is asked or sent."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from backend_client import messages as m
from backend_client import pilots as p
from backend_client.pilots.metrics import write_csv
from backend_client.pilots.timemap import RunLog
from pilot import cli
from tests.conftest import PASSWORD, RunningRelay, start_relay
from tests.integration.test_pilot_review import review_plan, run_pilot
from tests.integration.test_pilots import add_inspector
from tests.support.flows import officer
from tests.support.peer import next_id
from tests.support.totp import fresh_code


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RunningRelay]:
    running = await start_relay(tmp_path / "relay", counts_interval_s=0.1)
    add_inspector(running)
    try:
        yield running
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


def sign_in_as(monkeypatch: pytest.MonkeyPatch, r: RunningRelay, user: str) -> list[str]:
    """What the CLI asks for, answered as `user` would; the prompts it showed."""
    asked: list[str] = []

    def password(prompt: str = "") -> str:
        asked.append(prompt)
        return PASSWORD

    def code(prompt: str = "") -> str:
        asked.append(prompt)
        return fresh_code(r.totp[user])

    monkeypatch.setattr("getpass.getpass", password)
    monkeypatch.setattr("builtins.input", code)
    return asked


def argv(r: RunningRelay, plan: Path, user: str, out: Path, *how: str) -> list[str]:
    url, ca = r.relay.url, str(r.relay.ca_path)  # type: ignore[attr-defined]
    return [
        "review",
        str(plan),
        "--relay",
        url,
        "--ca",
        ca,
        "--user",
        user,
        *how,
        "--out",
        str(out),
    ]


async def review_directly(ivy: Any, msg: m.PilotReview) -> dict[str, Any]:
    got = await ivy.request(msg)
    assert isinstance(got, m.PilotReviewed), got
    return got.metrics


def check_files(out: Path, want: dict[str, Any], plan: p.Plan) -> None:
    got = json.loads((out / "metrics.json").read_text())
    assert got == want
    assert got["reports"] == 3 and got["participants"] == 3  # the pilot's, not empty figures
    with (out / "metrics.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["metric", "scope", "value"] and ["reports", "pilot", "3"] in rows, rows[:5]
    expected = out.parent / f"{out.name}-expected.csv"
    write_csv(want, expected)  # every figure of the relay's, as rehearse writes them
    assert (out / "metrics.csv").read_text() == expected.read_text()
    pdf = (out / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", "-raw", str(out / "report.pdf"), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert plan.title in text


async def test_review_by_a_start_time_and_by_a_run_log_writes_what_the_relay_computed(
    relay: RunningRelay,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = review_plan()
    plan_file = tmp_path / "review-test.toml"
    plan_file.write_text(p.dumps(plan))
    started = float(int(time.time()) - 5)  # a whole second: the ISO text is exact
    ivy, _ = await run_pilot(relay, plan)
    pid = p.pilot_id_of(plan)
    asked = sign_in_as(monkeypatch, relay, "ivy")

    # by --started-at: plan time 0 then, never paused
    iso = dt.datetime.fromtimestamp(started, dt.UTC).isoformat()
    out = tmp_path / "by-start"
    assert (
        await asyncio.to_thread(cli.main, argv(relay, plan_file, "ivy", out, "--started-at", iso))
        == 0
    )
    assert asked == ["ivy's password: ", "TOTP code: "]
    said = capsys.readouterr().out
    assert pid in said and "3 reports" in said and str(out / "report.pdf") in said
    segment = m.ClockSegment(at=started, t=0.0)
    want = await review_directly(
        ivy,
        m.PilotReview(
            id=next_id(),
            pilot_id=pid,
            plan=p.dumps(plan),
            clock=m.FromStartClock(segments=[segment]),
        ),
    )
    check_files(out, want, plan)
    fired = {i["id"]: i for i in want["injects"]}
    assert not fired["ask"]["fired"]  # the prompts' times are the run log's: none given

    # by --run-log: a pause left out, the prompt's time from the log
    segments = (
        m.ClockSegment(at=started, t=0.0, speed=1.0, until_t=2.0),
        m.ClockSegment(at=started + 3.0, t=2.0, speed=1.0),
    )
    log = RunLog(plan.name, pid, segments, {"ask": started + 1.0}, time.time())
    log_file = tmp_path / "run.json"
    log.save(log_file)
    out = tmp_path / "by-log"
    assert (
        await asyncio.to_thread(
            cli.main, argv(relay, plan_file, "ivy", out, "--run-log", str(log_file))
        )
        == 0
    )
    want = await review_directly(
        ivy,
        m.PilotReview(
            id=next_id(),
            pilot_id=pid,
            plan=p.dumps(plan),
            clock=m.FromStartClock(segments=list(segments)),
            prompts=[m.PromptShown(inject="ask", at=started + 1.0)],
        ),
    )
    check_files(out, want, plan)
    fired = {i["id"]: i for i in want["injects"]}
    assert fired["ask"]["fired"] and fired["ask"]["fired_s"] == pytest.approx(1.0, abs=1e-3)


async def test_a_dispatcher_is_refused_with_exit_1_and_one_line(
    relay: RunningRelay,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = review_plan()
    plan_file = tmp_path / "review-test.toml"
    plan_file.write_text(p.dumps(plan))
    ivy = await officer(relay, "ivy")
    created = await ivy.request(p.create_request(plan, p.pilot_id_of(plan), time.time(), next_id()))
    assert isinstance(created, m.PilotAccepted), created
    sign_in_as(monkeypatch, relay, "dana")
    out = tmp_path / "out"
    assert (
        await asyncio.to_thread(cli.main, argv(relay, plan_file, "dana", out, "--from-dates")) == 1
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("lookout-pilot: the relay refused: ") and "may not" in err, err
    assert not out.exists()  # nothing was written


async def test_a_wrong_password_is_refused_with_exit_1(
    relay: RunningRelay,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan_file = tmp_path / "review-test.toml"
    plan_file.write_text(p.dumps(review_plan()))
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "not the password")
    monkeypatch.setattr("builtins.input", lambda prompt="": fresh_code(relay.totp["ivy"]))
    out = tmp_path / "out"
    assert (
        await asyncio.to_thread(cli.main, argv(relay, plan_file, "ivy", out, "--from-dates")) == 1
    )
    err = capsys.readouterr().err
    assert err.startswith("lookout-pilot: the relay refused: ") and err.count("\n") == 1, err
    assert not out.exists()


def test_bad_options_are_refused_with_2_before_anything_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def never(prompt: str = "") -> str:
        raise AssertionError(f"asked {prompt!r}")

    monkeypatch.setattr("getpass.getpass", never)
    monkeypatch.setattr("builtins.input", never)
    plan = review_plan()
    plan_file = tmp_path / "review-test.toml"
    plan_file.write_text(p.dumps(plan))
    base = ["review", str(plan_file), "--relay", "wss://127.0.0.1:1", "--ca", "ca.pem"]
    base += ["--user", "ivy"]

    full = tmp_path / "full"
    full.mkdir()
    (full / "earlier.json").write_text("{}")
    assert cli.main([*base, "--from-dates", "--out", str(full)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert sorted(f.name for f in full.iterdir()) == ["earlier.json"]

    out = tmp_path / "out"
    assert cli.main([*base, "--started-at", "half past nine", "--out", str(out)]) == 2
    assert "ISO-8601" in capsys.readouterr().err

    other = RunLog(plan.name, "another-pilot", (m.ClockSegment(at=time.time(), t=0.0),))
    other.save(tmp_path / "other.run.json")
    assert cli.main([*base, "--run-log", str(tmp_path / "other.run.json"), "--out", str(out)]) == 2
    assert "another-pilot" in capsys.readouterr().err

    broken = tmp_path / "broken.toml"
    broken.write_text(
        p.dumps(plan).replace(f'timezone = "{plan.timezone}"', 'timezone = "Mars/Olympus"')
    )
    assert cli.main(["review", str(broken), *base[2:], "--from-dates", "--out", str(out)]) == 2
    assert "time zone" in capsys.readouterr().err
    assert not out.exists()

    with pytest.raises(SystemExit) as exited:  # one plan-time option, exactly
        cli.main([*base, "--from-dates", "--started-at", "2017-06-12T09:30", "--out", str(out)])
    assert exited.value.code == 2
