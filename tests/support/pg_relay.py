"""The relay on a throwaway PostgreSQL database (tests/support/postgres.py), for any test
module that runs a flow on both databases (tests/integration/conftest.py's `pg_cluster`)."""

from __future__ import annotations

from pathlib import Path

from relay import admin, tls
from tests.conftest import PASSWORD, TEST_CAP_SENDER, TEST_LIMITS, RunningRelay

ACCOUNTS = [("dana", "dispatcher"), ("dev", "dispatcher"), ("sam", "supervisor")]


async def start_pg_relay(data_dir: Path, url: str, **config: object) -> RunningRelay:
    """tests.conftest.start_relay, but the officers go into the PostgreSQL database."""
    from relay.config import RelayConfig
    from relay.server import Relay

    engine = admin.open_engine(data_dir, url)
    try:
        totp: dict[str, str] = {}
        if not admin.list_officers(engine):
            for name, role in ACCOUNTS:
                totp[name] = admin.add_officer(engine, name, role, PASSWORD).totp_secret
    finally:
        engine.dispose()
    config.setdefault("cap_sender", TEST_CAP_SENDER)
    config.setdefault("min_count_shown", 1)  # exact small counts, as tests/conftest.py
    config.setdefault("preview_burst", 1_000_000)
    config = {**TEST_LIMITS, **config}
    relay = Relay(RelayConfig(data_dir=data_dir, port=0, database_url=url, **config))  # type: ignore[arg-type]
    await relay.start()
    assert relay.ca_path is not None
    assert relay.db.engine.dialect.name == "postgresql"
    return RunningRelay(relay, data_dir, tls.client_ssl_context(relay.ca_path), totp)
