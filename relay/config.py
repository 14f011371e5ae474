"""Everything an operator (or a test) can set on a relay, in one place."""

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
    #: how often a live session's token is re-checked against the database (disabled
    #: accounts), both on its next request and by the chores for a silent session
    recheck_s: float = 5.0
    expiry_every_s: float = 5.0  # how often due alerts and lapsed location fixes expire
    #: an upload untouched this long is abandoned: its partial file is deleted
    partial_upload_ttl_s: float = 24 * 3600.0
    partial_sweep_every_s: float = 3600.0

    # ---- officer sign-in (issue 8, deliverable 2; relay/signin.py explains the limits)
    #: a shift: a session dies this long after its password + TOTP login, refresh or not
    session_lifetime_s: float = 12 * 3600.0
    #: browser origins allowed on /v1/officer; empty = only requests with no Origin header
    #: (the desktop console sends none), so no web page can drive an officer's session
    officer_origins: tuple[str, ...] = ()
    #: the AES key that seals TOTP secrets; default data_dir/secrets.key (share it in a cluster)
    secrets_key: Path | None = None
    #: failures allowed per (user, address) before delays start; each one more doubles the
    #: delay from login_delay_s up to login_lockout_max_s
    login_free_failures: int = 3
    login_delay_s: float = 1.0
    login_lockout_max_s: float = 900.0
    #: failures from one address across all user names before its delays start
    login_address_free_failures: int = 20
    #: failures for one user from all addresses within login_user_window_s that lock the
    #: user for login_user_lockout_s, only from addresses that have failed for that user
    login_user_cap: int = 30
    login_user_window_s: float = 600.0
    login_user_lockout_s: float = 60.0
    #: password hashes computed at once (scrypt: ~16 MiB and ~50 ms of a core each), and
    #: logins allowed to wait for one before `rate_limited`
    login_hash_workers: int = 2
    login_hash_queue: int = 64

    @property
    def cap_sender(self) -> str:
        """The CAP `sender` of this relay's alerts: named after its first host name."""
        return f"lookout@{self.hostnames[0] if self.hostnames else 'localhost'}"
