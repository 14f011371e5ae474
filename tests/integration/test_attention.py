"""What the console's attention features promise on the real relay (TLS on loopback).

"Reconnect now" skips the backoff wait (the relay is back: the console is live at once, not
after the 30 s it was told to wait), and Sign out revokes the session on the relay (the
token resumes nowhere and the audit log says so).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from backend_client import messages as m
from backend_client.client import ClientConfig, Credentials
from backend_client.state import ConnectionStatus, State
from console.compose import open_session
from relay.config import RelayConfig
from relay.server import Relay
from tests.conftest import PASSWORD, TEST_LIMITS, RunningRelay, start_relay
from tests.support.peer import Peer, next_id, wait_until
from tests.support.totp import coder


class _Longest(random.Random):
    """Full jitter that always picks the top of its range: a known, long wait."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def test_reconnect_now_skips_the_backoff_wait(tmp_path: Path) -> None:
    r = await start_relay(tmp_path / "relay")
    port = int(r.relay.port)  # type: ignore[attr-defined]
    cfg = ClientConfig(
        url=r.relay.url,  # type: ignore[attr-defined]
        ca_file=r.relay.ca_path,  # type: ignore[attr-defined]
        backoff_base=30.0,
        backoff_cap=30.0,
    )
    opened = open_session(
        cfg, Credentials("dana", PASSWORD, coder(r.totp["dana"])), tmp_path / "home"
    )
    client = opened.session.client
    client._backoff.rng = _Longest()  # the wait after a drop is exactly 30 s
    states: list[ConnectionStatus] = []
    opened.session.connection_state_changed.connect(states.append)
    relay2: Relay | None = None
    try:
        await opened.session.start()
        await client.wait_live(15)
        assert not opened.session.reconnect_now(), "nothing to skip while live"
        await r.relay.stop()  # type: ignore[attr-defined]
        await wait_until(lambda: client.status.state is State.BACKING_OFF, timeout=15)
        waiting = client.status
        assert waiting.next_attempt_at is not None
        assert waiting.next_attempt_at - time.time() > 20, "the rig needs a long backoff"
        relay2 = Relay(RelayConfig(data_dir=r.data_dir, port=port, **TEST_LIMITS))  # type: ignore[arg-type]
        await relay2.start()
        t0 = time.monotonic()
        assert opened.session.reconnect_now()
        await client.wait_live(10)
        took = time.monotonic() - t0
        assert took < 10, took  # not the 30 s the backoff asked for
        assert client.status.state is State.LIVE
        assert State.BACKING_OFF in [s.state for s in states]
    finally:
        await opened.close()
        if relay2 is not None:
            await relay2.stop()


async def test_sign_out_revokes_the_session_on_the_relay(
    relay: RunningRelay, tmp_path: Path
) -> None:
    """Session > Sign out closes the window; the app then closes the opened session,
    which logs out: the path below is that close."""
    cfg = ClientConfig(url=relay.relay.url, ca_file=relay.relay.ca_path)  # type: ignore[attr-defined]
    opened = open_session(
        cfg, Credentials("dana", PASSWORD, coder(relay.totp["dana"])), tmp_path / "home"
    )
    await opened.session.start()
    await opened.session.client.wait_live(15)
    token = opened.session.client.token
    assert token
    await opened.close()
    assert opened.session.client.token is None
    peer = await Peer.open(relay.officer_url, relay.ssl, officer=True)
    try:
        refused = await peer.request(m.Resume(id=next_id(), token=token))
        assert isinstance(refused, m.Error) and refused.code == "bad_credentials", refused
    finally:
        await peer.close()
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from relay import admin
    from relay.db import models as db

    engine = admin.open_engine(relay.data_dir)
    try:
        with Session(engine) as s:
            actions = list(s.scalars(select(db.AuditLog.action)))
    finally:
        engine.dispose()
    assert "logout" in actions
