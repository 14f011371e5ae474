"""Make the inspector's guide's images (docs/images/inspector-*.png) from the real tools.

    python docs/make_inspector_screenshots.py [--work DIR]

It walks the Preston pilot through docs/guide-inspector.md: opens a copy of
resources/pilots/preston-2017.toml in the inspector's workspace (what `lookout --plan`
opens) and grabs it, its Acts and injects tab, a problem (an inject moved after its act's
end) and a new plan; prints invitations with `lookout-pilot invites --codes` (example
codes: a real relay issues its own) and renders the sheet's first page; rehearses the
plan headless with `lookout-pilot rehearse --speed 2000` and renders two pages of its
after-action report; and runs `lookout --rehearse preston-2017 --stand-ins` for the Run
tab; and signs an inspector in to a demo relay with the Preston pilot created and some
phones joined, for the Pilots pane. The PDFs are rendered with poppler's `pdftoppm` at 60 dpi. About three minutes.
`--work DIR` keeps the plan copy, the invitations and the rehearsal there (default: a
temporary directory, removed afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from docs.shots import qimage_png, run_in_qt, save_png

ROOT = Path(__file__).resolve().parent.parent
PLAN = ROOT / "resources" / "pilots" / "preston-2017.toml"
PORTAL = "https://lookout.example.org"
#: the after-action report's pages shown: the evaluation table, the response times, the
#: alerts and the first plots
REPORT_PAGES = {
    2: "inspector-report-evaluation.png",
    3: "inspector-report-times.png",
    4: "inspector-report-plots.png",
}
#: the inject moved out of its act for the problem's screenshot, and where to
MOVED = ("burglary", "burglary-suspects", 9000)


def tool(name: str, *args: str, timeout: float = 300.0) -> str:
    """Run one of the project's commands as an inspector would, beside this Python."""
    exe = Path(sys.executable).with_name(name)
    started = time.monotonic()
    done = subprocess.run(
        [str(exe), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    print(f"$ {name} {' '.join(args)}  ({time.monotonic() - started:.0f} s)", flush=True)
    print(done.stdout.strip(), flush=True)
    return done.stdout


def pdf_page(pdf: Path, page: int, name: str) -> None:
    """One page of a PDF as docs/images/<name>, at 60 dpi (poppler's pdftoppm)."""
    with tempfile.TemporaryDirectory() as tmp:
        stem = Path(tmp) / "page"
        subprocess.run(
            ["pdftoppm", "-r", "60", "-png", "-f", str(page), "-l", str(page), "-singlefile"]
            + [str(pdf), str(stem)],
            check=True,
        )
        save_png(stem.with_suffix(".png").read_bytes(), name)


def example_codes(group: str, count: int, rng: random.Random) -> dict[str, Any]:
    """A `pilot.invites` reply with made-up codes (a relay issues real ones)."""
    from backend_client import rules

    alphabet = rules.INVITE_ALPHABET
    codes = [
        "".join(rng.choice(alphabet) for _ in range(rules.INVITE_CODE_LENGTH)) for _ in range(count)
    ]
    return {
        "pilot_id": "preston-2017",
        "group": group,
        "codes": [rules.format_invite_code(c) for c in codes],
        "expires_at": 1512000000.0,  # 30 Nov 2017: a week after the pilot
    }


def invitations(work: Path) -> None:
    rng = random.Random(2017)
    codes = work / "codes.json"
    replies = [example_codes("university-security", 6, rng), example_codes("students", 55, rng)]
    codes.write_text(json.dumps(replies, indent=2))
    out = work / "invites"
    tool(
        "lookout-pilot",
        "invites",
        "--codes",
        str(codes),
        "--title",
        "Preston pilot, November 2017",
        "--portal-url",
        PORTAL,
        "--out",
        str(out),
    )
    first = replies[0]["codes"][0]
    save_png((out / f"{first}.png").read_bytes(), "inspector-invite-qr.png")
    pdf_page(out / "invites.pdf", 1, "inspector-invites.png")


def rehearsal(work: Path) -> None:
    out = work / "rehearsal"
    tool("lookout-pilot", "rehearse", "preston-2017", "--speed", "2000", "--out", str(out))
    for page, name in REPORT_PAGES.items():
        pdf_page(out / "report.pdf", page, name)


def live_run(work: Path) -> None:
    shot = work / "run.png"
    tool(
        "lookout",
        "--rehearse",
        "preston-2017",
        "--stand-ins",
        "--speed",
        "2000",
        "--quit-after",
        "25",
        "--screenshot",
        str(shot),
        "--data-dir",
        str(work / "console"),
    )
    save_png(shot.read_bytes(), "inspector-run.png")


async def workspace(app: Any, work: Path) -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QSplitter

    from console.inspector_window import InspectorWindow
    from console.pilots.plan_edit import PlanEdit
    from console.settings import ConsoleSettings
    from console.theme import apply_theme

    assert isinstance(app, QApplication)
    apply_theme(app, "dark")
    plan = work / "preston-2017.toml"
    shutil.copyfile(PLAN, plan)
    settings = ConsoleSettings(
        "inspector-shots", QSettings(str(work / "ws.ini"), QSettings.Format.IniFormat)
    )

    async def grab(w: InspectorWindow, name: str) -> None:
        await w.settle()
        await asyncio.sleep(0.5)
        save_png(qimage_png(w.grab().toImage()), name)

    w = InspectorWindow(PlanEdit.open(plan), settings, map_cache_dir=work / "map-cache")
    w.show()
    try:
        ws = w.workspace
        # 1. the plan as it opens: the Plan tab, the area and zones, the timeline, no problems
        await grab(w, "inspector-workspace.png")

        # 2. the Acts and injects tab on the burglary act, its first scripted report chosen
        acts = [r["id"] for r in w.edit.rows(("acts",))]
        act = acts.index(MOVED[0])
        ws.tabs.setCurrentWidget(ws._pages["acts"])
        # the tables' columns need more room than the plan's form: drag the divider right,
        # as an inspector would (the map still shows the whole area)
        top = ws.tabs.parentWidget()
        assert isinstance(top, QSplitter)
        top.setSizes([1120, 480])
        ws.acts.select(act)
        ws.injects.select(0)
        await grab(w, "inspector-acts.png")

        # 3. a problem: the suspects' report moved to 16:30, after the act ends at 16:00
        injects = [r["id"] for r in w.edit.rows(("acts", act, "injects"))]
        inject = injects.index(MOVED[1])
        w.edit.set(("acts", act, "injects", inject, "at_s"), MOVED[2])
        issues = ws.problems.issues
        assert issues, "moving the inject out of its act should be a problem"
        first = next(n for n, i in enumerate(issues) if MOVED[1] in str(i))
        ws.problems.list.setCurrentRow(first)
        ws.problems._chosen(ws.problems.list.item(first))
        await grab(w, "inspector-problem.png")
        w.close_without_asking()

        # 4. a new plan (`lookout --plan my-pilot.toml` with no file there yet)
        w = InspectorWindow(
            PlanEdit.new(work / "my-pilot.toml"), settings, map_cache_dir=work / "map-cache"
        )
        w.show()
        await grab(w, "inspector-new-plan.png")
    finally:
        w.close_without_asking()
        await w.session.stop()


#: who joins the pilot in the Pilots pane's picture: (group, phones)
JOINING = (("students", 14), ("university-security", 5))


async def pilots_pane(app: Any, work: Path) -> None:
    """The live console of an inspector on a demo relay, the Pilots tab raised: the Preston
    pilot created from the plan, codes issued and some phones joined with them."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from backend_client import CITIZEN_PATH
    from backend_client import messages as m
    from backend_client.pilots import create_request, load, pilot_id_of
    from backend_client.state import State
    from console.compose import open_session
    from console.main_window import MainWindow
    from console.settings import ConsoleSettings
    from console.theme import apply_theme
    from demo.embedded import DEMO_INSPECTOR, EmbeddedRelay
    from simulator.device import Behaviour, SimDevice, Stats, client_ssl_context

    assert isinstance(app, QApplication)
    apply_theme(app, "dark")
    demo = EmbeddedRelay(devices=20, report_rate_per_min=1.0)
    info = demo.start()
    opened = open_session(
        info.client_config(), info.credentials(DEMO_INSPECTOR), work / "console", local_cache=False
    )
    session = opened.session
    settings = ConsoleSettings(
        "inspector-pane", QSettings(str(work / "pane.ini"), QSettings.Format.IniFormat)
    )
    window = MainWindow(session, settings)
    window.show()
    stop = asyncio.Event()
    phones: list[asyncio.Task[None]] = []

    async def until(cond: Any, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError("the demo relay did not get there in time")
            await asyncio.sleep(0.2)

    try:
        await session.start()
        await until(lambda: session.status.state is State.LIVE)
        plan = load(PLAN)
        pid = pilot_id_of(plan)
        await session.client.request(create_request(plan, pid, time.time(), "shots-create"))
        ctx = client_ssl_context(str(info.ca_path))
        url = info.url.rstrip("/") + CITIZEN_PATH
        rng = random.Random(5)
        for group, count in JOINING:
            got = await session.client.request(
                m.PilotInvite(id="", pilot_id=pid, group=group, count=count)
            )
            assert isinstance(got, m.PilotInvites)
            for code in got.codes:
                lat, lon = 53.763 + rng.uniform(-0.003, 0.003), -2.708 + rng.uniform(-0.003, 0.003)
                phone = SimDevice(
                    url, ctx, Behaviour(categories=["burglary"], lat=lat, lon=lon), Stats(1), rng
                )
                phones.append(asyncio.create_task(phone.run(stop)))
                await asyncio.wait_for(phone.ready.wait(), 15)
                await phone.join_pilot(code)
        want = {g: n for g, n in JOINING}
        await until(
            lambda: all(
                window.pilots.group_counts(pid).get(g, (0, 0, 0))[1] == n for g, n in want.items()
            )
        )
        await until(lambda: len(session.reports) >= 12, timeout=120)  # a shift under way
        window.pilots.select(pid)
        window.pilots_dock.raise_()
        await window.settle()
        await asyncio.sleep(0.5)
        save_png(qimage_png(window.grab().toImage()), "inspector-pilots.png")
        # Review… on it: the plan, how plan time maps, the folder (opened, not sent)
        # (an inspector's own folders in the picture, not this machine's)
        window.pilots.reviews_dir = Path("/home/inspector/Documents/Lookout reviews")
        dialog = window.pilots.review_selected()
        assert dialog is not None, window.pilots.message.text()
        dialog.plan.setText("/home/inspector/pilots/preston-2017.toml")
        dialog.plan.setCursorPosition(0)
        await asyncio.sleep(0.5)
        save_png(qimage_png(dialog.grab().toImage()), "inspector-review.png")
        dialog.reject()
    finally:
        stop.set()
        await asyncio.gather(*phones, return_exceptions=True)
        window.close()
        await opened.close()
        demo.stop()


async def in_qt(app: Any, work: Path) -> None:
    await workspace(app, work)
    await pilots_pane(app, work)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, help="keep the files here (a new directory)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="lookout-inspector-shots-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        run_in_qt(lambda app: in_qt(app, work))
        invitations(work)
        rehearsal(work)
        live_run(work)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
