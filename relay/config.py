"""Everything an operator (or a test) can set on a relay, in one place."""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class RelayConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8765  # 0 picks a free port (tests)
    #: who ends TLS on the phones' and officers' listener: "relay" (this process, with
    #: cert/key or its own CA) or "proxy" (a load balancer in front, HAProxy `ssl crt`:
    #: the relay serves plain ws:// and http://). "proxy" binds only a loopback host unless
    #: trusted_proxies names the balancers (relay/listener.py; docs/scaling.md)
    tls: str = "relay"
    #: addresses and CIDRs of the load balancers in front (tls = "proxy" only). A
    #: connection from one must start with a PROXY protocol v2 header (HAProxy
    #: `send-proxy-v2`), whose source address the per-address limits then count; any
    #: other peer is reset at accept. Empty: no PROXY header is read
    trusted_proxies: tuple[str, ...] = ()
    database_url: str | None = None  # default: SQLite file in data_dir
    #: this relay's name among the nodes sharing one PostgreSQL database (docs/scaling.md);
    #: "" for a lone relay. Shown in /healthz and the logs, carried in each NOTIFY
    node_id: str = ""
    #: seconds a stopping relay (SIGTERM) spends leaving its balancer first: /healthz
    #: answers 404 (HAProxy `http-check disable-on-404`) and new websockets are refused; after half of it (the
    #: balancer's checks have taken the node out) its connections are closed, "going
    #: away", a slice at a time over the rest, so the other nodes take its phones over
    #: without a reconnect storm. 0 (a lone relay): stop at once (docs/scaling.md)
    drain_s: float = 0.0
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
    # -- alerts: two-person rule and no location oracle (issue 8, deliverables 3 and 5) --
    #: an officer is never told a number of phones below this: a preview answers "fewer
    #: than k", and an alert sent to fewer shows "fewer than k" for its recipients,
    #: delivered and read counts (the operator's `relay alerts` list shows them exact)
    min_count_shown: int = 5
    #: the smallest area an alert may be previewed or sent to, m^2 (about one street: a
    #: 100 m square, or a circle of radius 56.5 m)
    min_area_m2: float = 10_000.0
    #: previews (and sends, which also reveal a count) per officer: a burst of this many,
    #: refilled at `preview_rate_per_s`; over it the answer is `rate_limited`
    preview_burst: int = 30
    preview_rate_per_s: float = 0.5
    #: console exports (`export.audit`) per officer an hour, all usable at once: each is an
    #: audit record, so a scripted console cannot bury the log; over it `rate_limited`
    exports_per_officer_per_hour: float = 120.0

    # --- operations, audit checkpoints, privacy at rest (issue 8, items 7-10) ---
    #: the Prometheus `/metrics` listener, plain HTTP on its own port and never on the
    #: phones' port: loopback unless an operator says otherwise. None = no listener (the
    #: embedded and test default); 0 picks a free port. `lookout-relay serve` uses 9465.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    #: how often the audit chain's head is signed into data_dir/audit-checkpoints/ when it
    #: has moved (and always on shutdown)
    checkpoint_every_s: float = 60.0
    #: the SQLite WAL is emptied (wal_checkpoint TRUNCATE) after expiry forgets a location
    #: fix, and at least this often, so superseded fixes do not linger in it
    wal_checkpoint_every_s: float = 60.0

    # ---- abuse limits (issue 8, deliverable 1: limits on every input). Each answers
    # `rate_limited` with a retry time and counts in lookout_rate_limited_total; a value of
    # 0 switches that limit off. docs/security.md says why each default is what it is.
    #: frames per connection: a token bucket (sustained per second, burst) per endpoint.
    #: A phone sends a few requests a minute; a console flushing its outbox, hundreds at once
    citizen_messages_per_s: float = 10.0
    citizen_message_burst: float = 60.0
    officer_messages_per_s: float = 100.0
    officer_message_burst: float = 1000.0
    #: inbound bytes per connection (media chunks count by their size): 2 MiB/s, 8 MiB at once
    inbound_bytes_per_s: float = 2 * 1024 * 1024
    inbound_byte_burst: float = 8 * 1024 * 1024
    #: a connection that keeps sending this many frames in a row over its limit is closed
    #: (1008): refusing a flood frame by frame still costs the relay a reply each
    refusals_before_close: int = 200
    #: an address one of whose connections was closed for that (or for logins while locked
    #: out, login_refusals_before_close) has every new socket reset at accept, before TLS,
    #: for this long:
    #: a flooder that reconnects at once would make the relay pay a handshake, a sign-in
    #: and those refusals again each time
    abuse_penalty_s: float = 10.0
    #: new reports per device per hour (resubmitting a client_ref does not count)
    reports_per_device_per_hour: float = 30.0
    #: device registrations per remote address (IPv6: per /64) per hour
    registrations_per_address_per_hour: float = 20.0
    #: open websocket connections per remote address; more are refused at the upgrade with
    #: HTTP 429 and Retry-After
    connections_per_address: int = 32
    #: addresses and CIDRs exempt from the per-address limits (carrier NAT, a load balancer
    #: that does not pass the client address). Loopback is NOT exempt unless listed
    address_allowlist: tuple[str, ...] = ()
    #: seconds a new socket has to authenticate (device.register/auth, auth.login/resume)
    #: before it is closed with 1008
    auth_deadline_s: float = 10.0
    #: most keys a shared limit table holds (devices, addresses): bounded memory
    rate_limit_max_keys: int = 100_000
    #: repeated bad frames on one connection log at most one line per this many seconds
    bad_frame_log_every_s: float = 60.0

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
    #: logins allowed to wait for one before `rate_limited`. 0: half the machine's cores,
    #: at least one, so a login flood never takes every core from the phones' reports
    #: (on 2 cores, 2 workers doubled an honest phone's p99 under one; bench/abuse.py)
    login_hash_workers: int = 0
    #: logins one connection sends while locked out (each answered `rate_limited` with a
    #: retry time) before it is closed and its address penalised (abuse_penalty_s): a
    #: person retrying by hand sends a few; a guessing script, one per round trip
    login_refusals_before_close: int = 20
    login_hash_queue: int = 64

    # ---- the citizens' web portal (issue 11; docs/portal.md)
    #: serve portal/ (the static web app phones open) on this TLS port beside the
    #: websocket endpoints; false: only /v1/*, /healthz answer, every other path 404s
    portal_enabled: bool = True
    #: an MBTiles pack of PNG, JPEG or WebP tiles: the portal's pin map shows it as its
    #: base map, served by this relay at /tiles/{z}/{x}/{y} (relay/tiles.py); None: the
    #: pin map has a plain background and no tile is served
    portal_tiles: Path | None = None

    # ---- email alerts (issue 11; docs/email.md). Off while smtp_url is empty
    #: smtp://user:pass@host:587 (STARTTLS, required) or smtps://user:pass@host:465 (TLS)
    smtp_url: str = ""
    #: the From address of every email (its domain also names the Message-IDs)
    mail_from: str = ""
    #: the portal's public https:// address: confirmation and unsubscribe links start so
    public_url: str = ""
    # ---- CAP (issue 14; docs/interop.md)
    #: the CAP `sender` of every message this relay issues, globally unique (CAP 1.2
    #: section 3.2.1), e.g. `lookout@police.example.org`. Empty: the relay refuses to
    #: send, approve, update, cancel or export an alert (`--cap-sender`). It is written
    #: into each message once, when it is sent: changing it never rewrites earlier ones.
    cap_sender: str = ""
    #: the `<senderName>` of every CAP message: who people read the alert is from, e.g.
    #: "Lancashire Constabulary" (`--cap-sender-name`). Empty: the `cap_sender` address.
    #: Never an officer's name (that stays in the audit log and the console). Like
    #: `cap_sender`, written into each message when it is sent: changing it (or this
    #: release, for messages that named their officer) never rewrites earlier ones.
    cap_sender_name: str = ""
    #: base of each CAP message's `<web>` (the portal's alert page,
    #: `{cap_web_base}/alerts/{alert id}`); empty: `public_url`, then no `<web>`
    cap_web_base: str = ""
    #: also publish exercise alerts (CAP status Exercise: a pilot's) in /cap/feed.atom,
    #: /cap/alerts/*.xml and their /alerts/{id} pages, each marked as an exercise; for a
    #: pilot whose partners rehearse pulling the feed. Off: they are 404 like test alerts
    cap_feed_exercise: bool = False
    #: a CA file (PEM) to check the SMTP server's certificate with; default: the system's
    smtp_ca: Path | None = None
    #: SMTP connections (and emails in flight) at once
    smtp_connections: int = 4
    smtp_timeout_s: float = 30.0
    #: a failed attempt is retried after email_retry_s, doubling up to email_retry_max_s,
    #: at most email_max_attempts times in all (then it counts failed)
    email_retry_s: float = 30.0
    email_retry_max_s: float = 3600.0
    email_max_attempts: int = 12
    #: how long a confirmation link works
    email_confirm_ttl_s: float = 48 * 3600.0
    #: the sender looks for due emails at least this often (it is also woken on commit)
    email_poll_s: float = 5.0

    def cap_web_url(self) -> str:
        """Where a CAP `<web>` points (without the alert id); "" when nothing is set."""
        return (self.cap_web_base or self.public_url).rstrip("/")


# --- the config file (`lookout-relay serve --config FILE`) ------------------------------

#: keys a config file may hold beside RelayConfig's fields: `metrics = false` is
#: `--no-metrics` (TOML has no null to write `metrics_port = None` with)
FILE_ONLY_KEYS = {"metrics": bool}
#: RelayConfig fields whose value is a TCP port
PORT_KEYS = ("port", "metrics_port")


class ConfigError(ValueError):
    """A config file that cannot be used; the message is one line naming the file and key."""


_TOML_TYPE = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    Path: "a path (a string)",
    list: "an array",
    tuple: "an array",
    dict: "a table",
}


def _toml_name(value: object) -> str:
    for kind in (bool, int, float, str, list, dict):
        if isinstance(value, kind):
            return _TOML_TYPE[kind]
    return type(value).__name__  # dates and times


def _convert(where: str, key: str, hint: Any, value: object, base: Path) -> object:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return _convert(where, key, args[0], value, base)
    wanted: str
    if typing.get_origin(hint) is tuple:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        wanted = "an array of strings"
    elif hint is bool:
        if isinstance(value, bool):
            return value
        wanted = _TOML_TYPE[bool]
    elif hint in (int, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            if hint is int and not isinstance(value, int):
                wanted = _TOML_TYPE[int]
            elif value < 0:
                raise ConfigError(f"{where}: {key} must not be negative (got {value})")
            elif key in PORT_KEYS and value > 65535:
                raise ConfigError(f"{where}: {key} {value} is not a TCP port (0-65535)")
            else:
                return hint(value)
        else:
            wanted = _TOML_TYPE[hint]
    elif hint in (str, Path):
        if isinstance(value, str):
            # a relative path is relative to the config file, not to wherever serve starts
            return value if hint is str else base / Path(value).expanduser()
        wanted = _TOML_TYPE[hint]
    else:  # a field type this reader does not know: a bug here, not in the file
        raise ConfigError(f"{where}: {key} cannot be set from a config file")
    raise ConfigError(f"{where}: {key} must be {wanted}, not {_toml_name(value)} ({value!r})")


def read_config_file(path: Path) -> dict[str, object]:
    """The settings in a relay TOML file, checked and typed: RelayConfig's field names plus
    FILE_ONLY_KEYS, paths as `Path` (relative ones resolved against the file's folder).

    Refuses, with a ConfigError, a file it cannot read or parse, an unknown key (a typo
    would otherwise silently leave a limit at its default) and a value of the wrong type.
    """
    where = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {where}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    hints = typing.get_type_hints(RelayConfig)
    known = {f.name: hints[f.name] for f in dataclasses.fields(RelayConfig)} | FILE_ONLY_KEYS
    base = path.parent.resolve()
    out: dict[str, object] = {}
    for key, value in raw.items():
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            kind = " table" if isinstance(value, dict) else ""
            raise ConfigError(f"{where}: unknown{kind} key {key!r}{hint}")
        out[key] = _convert(where, key, known[key], value, base)
    return out
