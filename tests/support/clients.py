"""Build a real `RelayClient` against a test relay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend_client.client import ClientConfig, Credentials, RelayClient
from backend_client.outbox import Outbox
from tests.conftest import PASSWORD, RunningRelay
from tests.support.totp import coder


def make_client(r: RunningRelay, home: Path, name: str = "dana", **config: Any) -> RelayClient:
    secret = r.totp[name]
    config.setdefault("ca_file", r.relay.ca_path)  # type: ignore[attr-defined]
    config.setdefault("url", r.relay.url)  # type: ignore[attr-defined]
    cfg = ClientConfig(**config)
    creds = Credentials(name, PASSWORD, coder(secret))
    return RelayClient(cfg, creds, Outbox(home / f"{name}-outbox.sqlite"))
