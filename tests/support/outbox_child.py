"""A console stand-in for crash tests: queue officer actions, say so, then wait to be killed.

Run as `python -m tests.support.outbox_child CONFIG_JSON`. The config names the relay URL,
the CA file, the outbox file, the officer's credentials, the report to reply to and how
many chat replies to queue. With "wait_live" it first waits until the link is LIVE (the
actions then go out at once); otherwise it queues them whatever the link is doing. It
prints "queued" when every action is in the outbox, then waits (at most `linger` seconds)
for the parent's SIGKILL: no clean shutdown ever runs.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from backend_client import messages as m
from backend_client.client import ClientConfig, Credentials, RelayClient
from backend_client.outbox import Outbox


async def main(cfg: dict[str, object]) -> None:
    code = str(cfg["totp_code"])  # single-use: the parent picks one no other login took
    client = RelayClient(
        ClientConfig(url=str(cfg["url"]), ca_file=Path(str(cfg["ca_file"])), backoff_cap=1.0),
        Credentials(str(cfg["username"]), str(cfg["password"]), lambda: code),
        Outbox(Path(str(cfg["outbox"]))),
    )
    await client.start()
    if cfg.get("wait_live"):
        await client.wait_live(timeout=20)
        print("live", flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # the parent says when to go on
    for text in cfg["texts"]:  # type: ignore[attr-defined]
        client.submit(
            m.OfficerChatSend(id="", idem="", report_id=str(cfg["report_id"]), text=str(text))
        )
    print("queued", flush=True)
    await asyncio.sleep(float(cfg.get("linger", 60)))  # killed long before this ends
    await client.stop()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
