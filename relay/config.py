"""Everything an operator can set on a relay, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class RelayConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8765  # 0 picks a free port (tests)
    database_url: str | None = None  # default: SQLite file in data_dir
    cert: Path | None = None  # a real certificate; default: make a CA in data_dir
    key: Path | None = None
    hostnames: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
    approval_threshold: int = 500  # recipients above which a supervisor must approve
    token_ttl_s: float = 15 * 60
    keepalive_s: float = 20.0  # ping interval; a peer silent this long again is dropped
    counts_interval_s: float = 0.5  # how often alert delivered/read counts are pushed
