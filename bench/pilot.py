"""Benchmark a pilot rehearsal (issue 12): the 3-day Preston plan at 2,000x.

    python bench/pilot.py                     # resources/pilots/preston-2017.toml at 2,000x
    python bench/pilot.py --speed 4000 --seed 2

Runs `lookout-pilot rehearse PLAN --speed N --out DIR --no-report` in a child process (the
command line as an inspector runs it: an embedded relay on TLS loopback, simulated
participants, the plan's stand-ins) and reads the figures from the rehearsal's own
`DIR/metrics.json`, which are read from the relay's records (`pilot/metrics.py`):

- `wall_s`: the rehearsal's own wall time (plan time 0 to the last inject and deadline),
  and `command_wall_s`, the whole command's (relay start and stop, metrics);
- `injects_fired` of `injects_planned`;
- `inject_lateness_p99_s` (and median, max): how late each inject fired, in plan seconds;
- `reports` and `events`: the pilot's reports and event-log events the relay processed.

Progress goes to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))
from _common import make_log

log = make_log("pilot")
PLAN = Path(__file__).resolve().parents[1] / "resources" / "pilots" / "preston-2017.toml"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plan", type=Path, default=PLAN)
    ap.add_argument("--speed", type=float, default=2000.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pilot-") as tmp:
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "pilot", "rehearse", str(args.plan)]
        cmd += ["--speed", str(args.speed), "--seed", str(args.seed), "--out", str(out)]
        log("running", " ".join(cmd[1:]))
        t = time.perf_counter()
        done = subprocess.run([*cmd, "--no-report"], capture_output=True, text=True, timeout=600)
        command_wall = time.perf_counter() - t
        if done.returncode != 0:
            log("failed:", done.stderr.strip()[-2000:])
            return 1
        log(done.stdout.strip())
        got = json.loads((out / "metrics.json").read_text())
    late = got["inject_lateness_s"]
    print(
        json.dumps(
            {
                "bench": "pilot",
                "plan": got["pilot"],
                "speed": got["speed"],
                "seed": got["seed"],
                "wall_s": got["wall_s"],
                "command_wall_s": round(command_wall, 3),
                "injects_fired": got["injects_fired"],
                "injects_planned": got["injects_planned"],
                "inject_lateness_p99_s": late["p99"],
                "inject_lateness_median_s": late["median"],
                "inject_lateness_max_s": late["max"],
                "reports": got["reports"],
                "events": got["events"],
                "participants": got["participants"],
                "expected_actions_met": got["expected_actions_met"],
                "expected_actions_missed": got["expected_actions_missed"],
                "python": platform.python_version(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
