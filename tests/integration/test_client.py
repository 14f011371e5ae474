"""RelayClient against the real relay over TLS: trust, login, events, outbox, fatal errors."""

from __future__ import annotations

import asyncio

import pytest

from backend_client import messages as m
from backend_client.client import ClientConfig, Credentials, RelayClient, fetch_fingerprint
from backend_client.outbox import Outbox
from backend_client.state import State
from tests.support.clients import make_client
from tests.support.flows import device, report


async def wait_state(client: RelayClient, state: State, timeout: float = 15.0) -> None:
    seen = asyncio.Event()

    def check(status: object) -> None:
        if client.status.state is state:
            seen.set()

    client.on_status(check)
    check(None)
    await asyncio.wait_for(seen.wait(), timeout)


async def next_event(q: asyncio.Queue[m.Msg], kind: type, timeout: float = 10.0) -> m.Msg:
    async def find() -> m.Msg:
        while True:
            e = await q.get()
            if isinstance(e, kind):
                return e

    return await asyncio.wait_for(find(), timeout)


async def test_client_goes_live_receives_events_and_sends_actions(relay, tmp_path):
    client = make_client(relay, tmp_path)
    q = client.subscribe_queue()
    await client.start()
    await wait_state(client, State.LIVE)
    assert client.role == "dispatcher"
    cit, _ = await device(relay)
    acc = await report(cit, text="van with no plates")
    created = await next_event(q, m.ReportCreated)
    assert created.report.report_id == acc.report_id
    confirmed: asyncio.Queue[m.Msg] = asyncio.Queue()
    client.on_outbox(lambda entry, reply: reply is not None and confirmed.put_nowait(reply))
    entry = client.submit(m.ReportClaim(id="", idem="", report_id=acc.report_id))
    upd = await next_event(q, m.ReportUpdated)
    assert upd.report.claimed_by == "dana"
    assert isinstance(await asyncio.wait_for(confirmed.get(), 10), m.Ack)
    assert client.outbox.pending() == [] and client.outbox.recent()[0].idem == entry.idem
    assert client.status.queued == 0
    await client.stop()
    assert client.status.state is State.OFFLINE


async def test_pinned_fingerprint_is_accepted_and_a_wrong_one_is_fatal(relay, tmp_path):
    fp = await fetch_fingerprint(relay.relay.url)
    assert fp == relay.relay.fingerprint
    good = make_client(relay, tmp_path, ca_file=None, pin_sha256=fp)
    await good.start()
    await wait_state(good, State.LIVE)
    await good.stop()
    wrong = "AA:" * 31 + "AA"
    bad = make_client(relay, tmp_path / "b", ca_file=None, pin_sha256=wrong)
    await bad.start()
    await wait_state(bad, State.FATAL)
    assert "certificate has changed" in bad.status.reason
    await bad.stop()


async def test_bad_credentials_are_fatal_and_say_so(relay, tmp_path):
    cfg = ClientConfig(url=relay.relay.url, ca_file=relay.relay.ca_path)
    client = RelayClient(
        cfg, Credentials("dana", "wrong password!", lambda: "123456"), Outbox(tmp_path / "o.sqlite")
    )
    await client.start()
    await wait_state(client, State.FATAL)
    assert "wrong user name, password or code" in client.status.reason
    assert client.connect_attempts == 1  # no retry storm against a wrong password
    await client.stop()


async def test_untrusted_certificate_is_fatal(relay, tmp_path):
    from relay import tls

    other = tls.ensure_certificates(tmp_path / "other")
    cfg = ClientConfig(url=relay.relay.url, ca_file=other.ca_cert)
    client = RelayClient(cfg, Credentials("dana", "x", lambda: "1"), Outbox(tmp_path / "o.sqlite"))
    await client.start()
    await wait_state(client, State.FATAL)
    assert "not trusted" in client.status.reason
    await client.stop()


@pytest.mark.parametrize("port_offset", [1])
async def test_refused_connection_backs_off_and_reports_next_attempt(tmp_path, port_offset):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = ClientConfig(url=f"wss://127.0.0.1:{port}", backoff_base=0.05, backoff_cap=0.2)
    client = RelayClient(cfg, Credentials("dana", "x", lambda: "1"), Outbox(tmp_path / "o.sqlite"))
    await client.start()
    await wait_state(client, State.BACKING_OFF)
    assert client.status.next_attempt_at is not None and "refused" in client.status.reason
    await client.stop()
