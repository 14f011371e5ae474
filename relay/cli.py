"""`lookout-relay`: serve, manage officers, verify the audit log, export alerts as CAP,
reports, alerts and incidents as GeoJSON, KML or CSV, and evidence packages, count
bounced emails."""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import logging
import os
import signal
import sys
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from backend_client import rules
from backend_client.version import lookout_version
from relay import admin, audit, cap, checkpoints, evidence
from relay.config import RelayConfig
from relay.db import models as db

#: the metrics listener's port for `serve` (loopback unless --metrics-host says otherwise)
DEFAULT_METRICS_PORT = 9465


def _cap_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cap-sender",
        help="the CAP sender of every alert message this relay issues, globally unique "
        "(e.g. lookout@police.example.org); required to send or export alerts",
    )
    p.add_argument(
        "--cap-sender-name",
        help="the <senderName> of every CAP message, the organisation people read it is "
        "from (e.g. 'Lancashire Constabulary'; default: the --cap-sender address); never "
        "an officer's name",
    )
    p.add_argument(
        "--cap-web-base",
        help="base URL of the portal's alert pages, for each CAP message's <web> "
        "(BASE/alerts/ID; default: --public-url)",
    )


def _data_dir(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument(
        "--data-dir",
        type=Path,
        required=required,
        help="where the relay keeps its database, media and certificates",
    )
    p.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite in the data directory)")
    p.add_argument(
        "--secrets-key",
        type=Path,
        help="the key file that seals TOTP secrets (default: DIR/secrets.key; every relay of "
        "a cluster and the officer commands must use the same one)",
    )


#: `serve`'s own defaults where they differ from RelayConfig's (an embedded relay has no
#: metrics listener; a served one has it on loopback)
SERVE_DEFAULTS: dict[str, object] = {"metrics_port": DEFAULT_METRICS_PORT, "metrics": True}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lookout-relay", description="Lookout relay backend.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {lookout_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    # serve's options all default to None: "not on the command line", so a --config file's
    # value (or else the built-in default, named in each help text) applies
    serve = sub.add_parser(
        "serve",
        help="run the relay",
        description="Run the relay. Settings come from the command line, then from --config "
        "FILE (TOML: these options' names with underscores, e.g. data_dir, and every "
        "RelayConfig field; installer/deb/relay.toml lists them all), then the defaults.",
    )
    serve.add_argument(
        "--config",
        type=Path,
        help="a TOML settings file (e.g. /etc/lookout/relay.toml); command-line options win",
    )
    _data_dir(serve, required=False)
    serve.add_argument(
        "--host",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)",
    )
    serve.add_argument("--port", type=_port, help="TCP port (default 8765)")
    serve.add_argument(
        "--tls",
        choices=("relay", "proxy"),
        help="who ends TLS: relay (default) or proxy (a balancer in front, e.g. HAProxy "
        "`ssl crt`; the relay serves plain ws:// then, on loopback unless --trusted-proxy)",
    )
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        dest="trusted_proxies",
        metavar="CIDR",
        help="a balancer in front (with --tls proxy; repeatable): its connections must start "
        "with a PROXY v2 header (HAProxy send-proxy-v2), whose client address the "
        "per-address limits count; no other address may connect",
    )
    serve.add_argument(
        "--node-id",
        help="this relay's name among several sharing one PostgreSQL --database-url (e.g. "
        "relay-2; docs/scaling.md); default: a lone relay",
    )
    serve.add_argument(
        "--drain-s",
        type=float,
        help="on SIGTERM, leave the load balancer over this many seconds before stopping "
        "(/healthz 404, then connections closed a slice at a time); default 0: at once",
    )
    serve.add_argument(
        "--cert", type=Path, help="a real server certificate (PEM); default: make a local CA"
    )
    serve.add_argument("--key", type=Path, help="its private key (PEM)")
    serve.add_argument(
        "--hostname",
        action="append",
        dest="hostnames",
        help="name or address the certificate must cover (repeatable)",
    )
    serve.add_argument(
        "--approval-threshold",
        type=int,
        help="recipients above which a supervisor must approve an alert (default 500)",
    )
    serve.add_argument(
        "--metrics-host",
        help="address of the plain-HTTP /metrics listener (default 127.0.0.1: loopback only)",
    )
    serve.add_argument(
        "--metrics-port",
        type=_port,
        help=f"port of the /metrics listener (default {DEFAULT_METRICS_PORT})",
    )
    serve.add_argument(
        "--smtp-url",
        help="send email alerts through this server: smtp://user:pass@host:587 (STARTTLS) "
        "or smtps://user:pass@host:465 (TLS); default: no email alerts",
    )
    serve.add_argument("--mail-from", help="the From address of email alerts")
    serve.add_argument(
        "--public-url",
        help="the portal's public https:// address, for the links in emails",
    )
    _cap_options(serve)
    serve.add_argument(
        "--portal-tiles",
        type=Path,
        metavar="PACK.mbtiles",
        help="an MBTiles pack (PNG, JPEG or WebP tiles) the portal's pin map shows as its "
        "base map, served at /tiles/Z/X/Y; default: a plain background, no tiles",
    )
    serve.add_argument(
        "--no-metrics",
        action="store_const",
        const=False,
        dest="metrics",
        help="no /metrics listener at all",
    )

    officer = sub.add_parser("officer", help="manage officer accounts")
    osub = officer.add_subparsers(dest="action", required=True)
    add = osub.add_parser("add", help="create an account; password from a prompt or standard input")
    add.add_argument("name")
    add.add_argument(
        "--role",
        required=True,
        choices=rules.ROLES,
    )
    _data_dir(add)
    add.add_argument(
        "--init",
        action="store_true",
        help="create the relay database if DIR has none yet (otherwise a typo in --data-dir "
        "is refused instead of silently creating a second database)",
    )
    code = osub.add_parser(
        "code",
        help="print an officer's current 6-digit code (rehearsals and development machines "
        "without an authenticator app)",
    )
    code.add_argument("name")
    _data_dir(code)
    lst = osub.add_parser("list", help="list accounts")
    _data_dir(lst)
    dis = osub.add_parser("disable", help="disable an account and end its sessions")
    dis.add_argument("name")
    _data_dir(dis)

    aud = sub.add_parser("audit", help="the hash-chained audit log")
    asub = aud.add_subparsers(dest="action", required=True)
    ver = asub.add_parser(
        "verify",
        help="check every record and link of the chain, and that it still reaches the "
        "latest signed checkpoint",
    )
    _data_dir(ver)
    ver.add_argument(
        "--checkpoint",
        type=Path,
        help="a checkpoint file shipped off the machine (default: the data directory's "
        "audit-checkpoints/checkpoints.jsonl); its last line is the anchor",
    )

    alert = sub.add_parser("alert", help="alerts")
    alsub = alert.add_subparsers(dest="action", required=True)
    exp = alsub.add_parser("export-cap", help="print an alert as CAP 1.2 XML")
    exp.add_argument(
        "alert_id", help="an alert id (its current message) or, with --message, a CAP identifier"
    )
    exp.add_argument(
        "--message",
        action="store_true",
        help="ALERT_ID is a CAP message identifier: A-... is the original Alert, A-....1 the "
        "next message; each is printed exactly as it was sent",
    )
    exp.add_argument(
        "--config",
        type=Path,
        help="the relay's config file (for cap_sender, cap_sender_name, cap_web_base)",
    )
    _cap_options(exp)
    _data_dir(exp)
    als = alsub.add_parser("list", help="list alerts, newest first (ids for export-cap)")
    _data_dir(als)

    priv = sub.add_parser("privacy", help="personal data the relay holds (docs/privacy.md)")
    prsub = priv.add_subparsers(dest="action", required=True)
    prr = prsub.add_parser(
        "report",
        help="what personal data is held, how much, the retention settings and when each "
        "kind is purged (counts and dates only)",
    )
    _data_dir(prr)
    prr.add_argument(
        "--config", type=Path, help="the relay's TOML settings file, for its retention settings"
    )
    prr.add_argument("--json", action="store_true", help="one JSON object instead of text")

    mail = sub.add_parser("mail", help="email alerts (docs/email.md)")
    msub = mail.add_subparsers(dest="action", required=True)
    bounce = msub.add_parser(
        "bounce",
        help="read one message on standard input (from the mail system) and, if it is a "
        "delivery status notification for an email this relay sent, count the bounce",
    )
    bounce.add_argument("--data-dir", type=Path, required=True, help="the relay's data directory")
    bounce.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite in --data-dir)")

    exq = sub.add_parser(
        "export",
        help="write reports, alerts or incidents as GeoJSON, KML or CSV (docs/interop.md)",
        description="With no selector every item of the kind is written; --incident picks "
        "items (repeatable), --since, --until and --area narrow them, as for evidence export. "
        "Every export is audited.",
    )
    exq.add_argument("kind", choices=("reports", "alerts", "incidents"))
    _data_dir(exq)
    exq.add_argument("--format", required=True, choices=("geojson", "kml", "csv"))
    exq.add_argument("--out", type=Path, required=True, help="the file to write")
    exq.add_argument("--since", help="ISO 8601 time with a zone, e.g. 2026-12-01T08:00:00Z")
    exq.add_argument("--until", help="ISO 8601 time with a zone")
    exq.add_argument(
        "--area", type=Path, help="a GeoJSON Polygon file: reports inside, alerts that touch it"
    )
    exq.add_argument("--incident", action="append", default=[], help="an incident ref (repeatable)")
    exq.add_argument(
        "--bom", action="store_true", help="CSV: begin with a UTF-8 BOM, so Excel reads UTF-8"
    )
    exq.add_argument(
        "--include-exercise", action="store_true", help="also write pilots' exercise traffic"
    )
    exq.add_argument(
        "--include-unpublished",
        action="store_true",
        help="alerts: also those that never reached the public (waiting for approval, "
        "rejected, CAP status Test, Draft or System)",
    )
    exq.add_argument(
        "--config",
        type=Path,
        help="the relay's config file (for min_count_shown: alert counts below it are blank)",
    )

    ev = sub.add_parser("evidence", help="signed evidence packages (docs/evidence.md)")
    evsub = ev.add_subparsers(dest="action", required=True)
    evx = evsub.add_parser(
        "export",
        help="write a signed package of the selected reports, chat, alerts, incidents, "
        "media and audit records",
        description="Selectors: --incident and --report pick items (together: either); "
        "--since, --until and --area narrow them, or alone pick every item in that window "
        "or area. At least one is required.",
    )
    _data_dir(evx)
    evx.add_argument(
        "--out", type=Path, required=True, help="the package to write (.lookout-evidence)"
    )
    evx.add_argument("--reason", required=True, help="why it is exported (signed and audited)")
    evx.add_argument("--incident", action="append", default=[], help="an incident ref (repeatable)")
    evx.add_argument("--report", action="append", default=[], help="a report id (repeatable)")
    evx.add_argument("--since", help="ISO 8601 time with a zone, e.g. 2026-12-01T08:00:00Z")
    evx.add_argument("--until", help="ISO 8601 time with a zone")
    evx.add_argument(
        "--area", type=Path, help="a GeoJSON Polygon file: reports inside, alerts that touch it"
    )
    evk = evsub.add_parser(
        "key", help="print the relay's evidence public key (PEM) and its fingerprint, to pin"
    )
    evk.add_argument("--data-dir", type=Path, required=True, help="the relay's data directory")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("alembic", "websockets"):  # a line per phone connecting is not news
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "serve":
        return _serve(args)
    if args.command == "evidence" and args.action == "key":
        return _evidence_key(args)
    if args.command == "mail":  # its own exit codes: a mail system reads them
        from relay.mail import bounces

        return bounces.main(args.data_dir, args.database_url)
    selectors = None
    if args.command in ("evidence", "export"):
        selectors = _evidence_selectors(args, allow_empty=args.command == "export")
        if selectors is None:
            return 2
    fresh = args.command == "officer" and args.action == "add" and args.init
    if args.database_url is None and not fresh and not (args.data_dir / "relay.sqlite").exists():
        print(
            f"no relay data in {args.data_dir}: check --data-dir (start the relay there with "
            f"`lookout-relay serve --data-dir {args.data_dir}`, or add --init to `officer add` "
            "to create it)",
            file=sys.stderr,
        )
        return 2
    try:
        engine = admin.open_engine(args.data_dir, args.database_url, args.secrets_key)
    except OSError as exc:
        print(f"cannot open relay data in {args.data_dir}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "officer":
            return _officer(args, engine)
        if args.command == "audit":
            return _audit_verify(args, engine)
        if args.command == "privacy":
            return _privacy_report(args, engine)
        if args.command == "evidence" and selectors is not None:
            return _evidence_export(args, engine, selectors)
        if args.command == "export" and selectors is not None:
            return _export(args, engine, selectors)
        if args.command == "alert" and args.action == "list":
            for a in admin.list_alerts(engine):
                print(
                    f"{a.alert_id}\t{a.state}\t{a.msg_type}\t{a.recipients} reached\t"
                    f"{a.delivered} delivered\t{a.read} read\t{a.info.headline}"
                )
            return 0
        if args.command == "alert":
            issuer = _export_issuer(args)
            if issuer is None:
                return 2
            try:
                xml = admin.export_cap(engine, args.alert_id, issuer, current=not args.message)
            except Exception as exc:  # ProtocolError(NOT_FOUND) or a broken record
                print(f"cannot export alert {args.alert_id}: {exc}", file=sys.stderr)
                return 1
            print(xml)
            # what a Google Public Alerts consumer would refuse, said beside the XML (the
            # message is printed as stored either way: it is what was sent)
            for problem in cap.validate_google_profile(xml):
                print(f"note: Google Public Alerts profile: {problem}", file=sys.stderr)
            return 0
    finally:
        engine.dispose()
    return 2


def _officer(args: argparse.Namespace, engine: object) -> int:
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    if args.action == "add":
        if sys.stdin.isatty():
            password = getpass.getpass(f"Password for {args.name}: ")
            if getpass.getpass("Again: ") != password:
                print("passwords differ; nothing created", file=sys.stderr)
                return 1
        else:
            password = sys.stdin.readline().rstrip("\n")
            if not password:
                print("no password given on standard input; nothing created", file=sys.stderr)
                return 1
        try:
            new = admin.add_officer(engine, args.name, args.role, password)
        except ValueError as exc:
            print(f"cannot add officer: {exc}", file=sys.stderr)
            return 1
        print(f"officer {new.username} ({new.role}) created in {engine.url.render_as_string()}.")
        print("Enrol this in the officer's authenticator app (shown once):")
        print(new.otpauth_uri)
        return 0
    if args.action == "code":
        try:
            print(admin.current_code(engine, args.name))
        except ValueError as exc:
            print(f"no code: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.action == "list":
        for name, role, disabled in admin.list_officers(engine):
            print(f"{name}\t{role}\t{'disabled' if disabled else 'active'}")
        return 0
    try:
        admin.disable_officer(engine, args.name)
    except ValueError as exc:
        print(f"cannot disable: {exc}", file=sys.stderr)
        return 1
    print(f"officer {args.name} disabled; their sessions are ended")
    return 0


def _audit_verify(args: argparse.Namespace, engine: Engine) -> int:
    """The chain, anchored at the latest signed checkpoint when there is one."""
    path = args.checkpoint or args.data_dir / checkpoints.CHECKPOINT_FILE
    try:
        cp = checkpoints.latest(path)
        if cp is not None:
            checkpoints.check_signature(cp, checkpoints.trusted_key(args.data_dir))
    except checkpoints.CheckpointError as exc:
        print(f"AUDIT CHECKPOINT INVALID ({path}): {exc}", file=sys.stderr)
        return 1
    if cp is None and args.checkpoint is not None:
        print(f"no checkpoint in {args.checkpoint}: nothing to verify against", file=sys.stderr)
        return 2
    with Session(engine) as s:
        rows = s.execute(
            select(db.AuditLog).order_by(db.AuditLog.seq).execution_options(yield_per=1000)
        ).scalars()
        if cp is None:
            verdict = audit.verify_chain(rows)
        else:
            verdict = audit.verify_through(rows, (cp.seq, cp.head))
    if not verdict.ok:
        print(
            f"AUDIT LOG TAMPERED at record {verdict.first_bad_seq}: {verdict.reason}",
            file=sys.stderr,
        )
        return 1
    print(f"audit log intact: {verdict.reason}")
    if cp is None:
        print(
            "  no signed checkpoint yet: records removed from the end could not be checked",
            file=sys.stderr,
        )
    else:
        print(f"  checkpoint: seq {cp.seq}, signed by key {cp.key}")
    return 0


def _privacy_report(args: argparse.Namespace, engine: Engine) -> int:
    import json

    from relay import privacy_report
    from relay.config import ConfigError, read_config_file

    settings: dict[str, object] = {}
    if args.config is not None:
        try:
            settings = read_config_file(args.config)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
    settings.pop("metrics", None)
    settings["data_dir"] = args.data_dir
    config = RelayConfig(**settings)  # type: ignore[arg-type]  # read_config_file typed each
    kinds = privacy_report.build(engine, config)
    if args.json:
        print(json.dumps(privacy_report.as_json(kinds, config), indent=2))
    else:
        print(privacy_report.as_text(kinds, config))
    return 0


def _evidence_selectors(
    args: argparse.Namespace, *, allow_empty: bool = False
) -> evidence.Selectors | None:
    """The export's selectors, or None after saying on stderr what is wrong."""
    try:
        since = None if args.since is None else evidence.parse_time(args.since)
        until = None if args.until is None else evidence.parse_time(args.until)
        area = None if args.area is None else evidence.parse_area(args.area.read_text())
    except (OSError, ValueError) as exc:
        print(f"cannot export: {exc}", file=sys.stderr)
        return None
    selectors = evidence.Selectors(
        incidents=tuple(args.incident),
        reports=tuple(getattr(args, "report", ())),
        since=since,
        until=until,
        area=area,
    )
    if selectors.empty() and not allow_empty:
        print(
            "cannot export: no selector given; name what goes in with --incident REF, "
            "--report ID, --since/--until TIME or --area FILE.geojson",
            file=sys.stderr,
        )
        return None
    if since is not None and until is not None and until < since:
        print("cannot export: --until is before --since", file=sys.stderr)
        return None
    return selectors


def _evidence_export(
    args: argparse.Namespace, engine: Engine, selectors: evidence.Selectors
) -> int:
    from relay.exports import os_user

    try:
        done = evidence.export(
            engine,
            args.data_dir,
            args.out,
            reason=args.reason,
            selectors=selectors,
            exported_by=os_user(),  # who ran it, as for `export`
        )
    except (evidence.EvidenceError, checkpoints.CheckpointError) as exc:
        print(f"cannot export: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{v} {k}" for k, v in done.counts.items())
    print(f"evidence package written: {done.path}")
    print(f"  {counts}")
    print(f"  merkle root: {done.merkle_root}")
    print(f"  signed by key: {done.fingerprint}")
    print(f"  check it with: lookout-evidence verify {done.path} --fingerprint {done.fingerprint}")
    return 0


def _export(args: argparse.Namespace, engine: Engine, selectors: evidence.Selectors) -> int:
    from relay import exports
    from relay.config import ConfigError, read_config_file

    floor = RelayConfig.min_count_shown
    if args.config is not None:
        try:
            value = read_config_file(args.config).get("min_count_shown", floor)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        floor = value if isinstance(value, int) else floor  # read_config_file typed it
    try:
        done = exports.export(
            engine,
            args.out,
            kind=args.kind,
            fmt=args.format,
            selectors=selectors,
            bom=args.bom,
            include_exercise=args.include_exercise,
            include_unpublished=args.include_unpublished,
            min_count_shown=floor,
            exported_by=exports.os_user(),
        )
    except evidence.EvidenceError as exc:
        print(f"cannot export: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    noun = args.kind if done.count != 1 else args.kind.removesuffix("s")
    print(f"{done.count} {noun} written as {args.format}: {done.path}")
    print(f"  sha256: {done.sha256} (in the audit log)")
    return 0


def _evidence_key(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives import serialization

    if not (args.data_dir / checkpoints.KEY_FILE).exists():
        print(f"no relay key in {args.data_dir}: check --data-dir", file=sys.stderr)
        return 2
    public = checkpoints.relay_key(args.data_dir).public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sys.stdout.write(pem.decode("ascii"))
    print(f"fingerprint: {checkpoints.fingerprint(public)}", file=sys.stderr)
    return 0


def _unwritable(data_dir: Path) -> str | None:
    """Why the relay cannot write in `data_dir`, or None: asked once, before anything starts."""
    probe = data_dir / f".write-probe-{os.getpid()}"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with probe.open("wb") as f:
            f.write(b"x")
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (0-65535)")
    return port


#: serve's command-line options, by their RelayConfig (and config file) name
SERVE_OPTIONS = (
    "data_dir",
    "database_url",
    "node_id",
    "drain_s",
    "secrets_key",
    "host",
    "port",
    "tls",
    "trusted_proxies",
    "cert",
    "key",
    "hostnames",
    "approval_threshold",
    "metrics_host",
    "metrics_port",
    "metrics",
    "smtp_url",
    "mail_from",
    "public_url",
    "portal_tiles",
    "cap_sender",
    "cap_sender_name",
    "cap_web_base",
)


def _export_issuer(args: argparse.Namespace) -> cap.Issuer | None:
    """The relay's CAP issuer for `alert export-cap`: the same `cap_sender` as `serve`
    (from --cap-sender or the config file); None, said on stderr, when there is none."""
    from relay.config import ConfigError, read_config_file

    settings: dict[str, object] = {}
    if args.config is not None:
        try:
            settings = read_config_file(args.config)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return None
    sender = args.cap_sender or settings.get("cap_sender") or ""
    name = args.cap_sender_name or settings.get("cap_sender_name") or ""
    web = args.cap_web_base or settings.get("cap_web_base") or settings.get("public_url") or ""
    if not isinstance(sender, str) or not sender:
        print(
            "no CAP sender: give --cap-sender (the relay's own, e.g. lookout@police.example.org) "
            "or --config FILE with cap_sender",
            file=sys.stderr,
        )
        return None
    return cap.Issuer(sender, str(web), str(name))


def serve_settings(args: argparse.Namespace) -> dict[str, object]:
    """serve's settings: the command line over the config file over the defaults.

    Raises ConfigError for a config file that cannot be used.
    """
    from relay.config import read_config_file

    settings = dict(SERVE_DEFAULTS)
    if args.config is not None:
        settings.update(read_config_file(args.config))
    settings.update({k: getattr(args, k) for k in SERVE_OPTIONS if getattr(args, k) is not None})
    return settings


def _serve(args: argparse.Namespace) -> int:
    from relay.config import ConfigError
    from relay.server import Relay

    try:
        settings = serve_settings(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    data_dir = settings.get("data_dir")
    if not isinstance(data_dir, Path):
        print(
            "no data directory: give --data-dir DIR, or data_dir in the --config file",
            file=sys.stderr,
        )
        return 2
    if ("cert" in settings) != ("key" in settings):
        print(
            "give --cert and --key together (or neither, to use the relay's own CA)",
            file=sys.stderr,
        )
        return 2
    if data_dir.exists() and not data_dir.is_dir():
        print(f"--data-dir {data_dir} is a file, not a directory", file=sys.stderr)
        return 2
    problem = _unwritable(data_dir)
    if problem is not None:
        print(
            f"cannot write to the data directory {data_dir}: {problem} (the relay keeps "
            "its database, media, keys and audit checkpoints there)",
            file=sys.stderr,
        )
        return 2

    if not settings.pop("metrics"):
        settings["metrics_port"] = None
    config = RelayConfig(**settings)  # type: ignore[arg-type]  # read_config_file typed each
    if config.host not in (*config.hostnames, "0.0.0.0", "::"):  # the certificate covers it
        config.hostnames = (*config.hostnames, config.host)
    if config.portal_tiles is not None:  # said now, in one line, not as a traceback later
        from backend_client.mbtiles import PackError, TilePack

        try:
            TilePack(config.portal_tiles).close()
        except PackError as exc:
            print(f"--portal-tiles: {exc}", file=sys.stderr)
            return 2

    async def run() -> None:
        # first of all: a stop sent while the relay starts (systemd, a test that stops it
        # once it has printed its fingerprint) must shut it down cleanly, not kill it
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        relay = Relay(config)
        await relay.start()
        print(f"Lookout relay listening on {relay.url}", flush=True)
        print(f"  officers: {relay.url}/v1/officer   citizens: {relay.url}/v1/citizen", flush=True)
        if relay.ca_path is not None:
            print(f"  CA certificate: {relay.ca_path}", flush=True)
        print(f"  certificate SHA-256 fingerprint: {relay.fingerprint}", flush=True)
        evidence_fp = checkpoints.fingerprint(relay.signing_key.public_key())
        print(f"  evidence key fingerprint (Ed25519): {evidence_fp}", flush=True)
        if not config.cap_sender:  # said at start, not first when an officer sends an alert
            print(
                "  warning: no --cap-sender (cap_sender in the config file): this relay "
                "refuses to send or export alerts until it has one",
                flush=True,
            )
        if config.cap_sender and not config.cap_web_url():
            print(
                "  warning: no cap_web_base or public_url: CAP messages have no <web>, which "
                "the Google Public Alerts profile requires",
                flush=True,
            )
        if relay.metrics_port is not None:
            print(
                f"  metrics: http://{config.metrics_host}:{relay.metrics_port}/metrics",
                flush=True,
            )
        await stop.wait()
        print("stopping relay", flush=True)
        await relay.stop()

    try:
        asyncio.run(run())
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(
                f"port {config.port} on {config.host} (or metrics port {config.metrics_port} "
                f"on {config.metrics_host}) is already in use (another relay?): stop it or choose "
                "--port / --metrics-port",
                file=sys.stderr,
            )
        else:
            print(f"the relay could not start: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # an unreadable certificate or key
        print(f"the relay could not start: {exc}", file=sys.stderr)
        return 1
    except OperationalError as exc:  # the database cannot be opened or written
        print(f"the relay could not open its database: {exc.orig}", file=sys.stderr)
        return 1
    except checkpoints.CheckpointError as exc:
        print(f"the relay could not start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
