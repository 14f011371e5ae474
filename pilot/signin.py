"""Signing an officer in to the relay from a terminal, for `lookout-pilot invites --relay`
and `lookout-pilot review`: the password and the TOTP code are asked for (never options,
so they stay out of the shell's history and the process list), and the session is used
once, with nothing queued (`pilot.invite` and `pilot.review` carry no idempotency key)."""

from __future__ import annotations

import asyncio
import getpass
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from backend_client.client import ClientConfig, Credentials, RelayClient
from backend_client.errors import ProtocolError
from backend_client.outbox import Outbox
from backend_client.state import State

#: what signing in or a request can raise when the relay refuses or cannot be reached
REFUSALS: tuple[type[BaseException], ...] = (ProtocolError, OSError, TimeoutError)


@dataclass(frozen=True)
class SignIn:
    relay: str
    ca: Path
    user: str
    password: str = field(repr=False)  # never in a log or a traceback
    code: str = field(repr=False)


def ask(relay: str, ca: Path, user: str) -> SignIn:
    """The password and the TOTP code, typed at the terminal."""
    password = getpass.getpass(f"{user}'s password: ")
    code = input("TOTP code: ").strip()
    return SignIn(relay, ca, user, password, code)


@asynccontextmanager
async def signed_in(who: SignIn, timeout_s: float = 30.0) -> AsyncIterator[RelayClient]:
    """A live officer client; ConnectionError if the relay refused the login for good (a
    wrong password or code), TimeoutError if it never got live."""
    typed = [who.code]

    def totp() -> str | None:
        # the code typed once; a lapsed session then ends instead of re-logging in
        return typed.pop() if typed else None

    with tempfile.TemporaryDirectory() as tmp:
        client = RelayClient(
            ClientConfig(url=who.relay, ca_file=who.ca),
            Credentials(who.user, who.password, totp),
            Outbox(Path(tmp) / "outbox"),
        )
        done = asyncio.Event()
        client.on_status(lambda st: done.set() if st.state in (State.LIVE, State.FATAL) else None)
        await client.start()
        try:
            # live, or refused for good (a wrong password or code): no waiting for nothing
            await asyncio.wait_for(done.wait(), timeout_s)
            if client.status.state is State.FATAL:
                raise ConnectionError(client.status.reason or "could not log in")
            yield client
        finally:
            await client.stop()


def one_line(exc: BaseException) -> str:
    """A refusal's reason on one line (a plan's problems come one per line)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__
