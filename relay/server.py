"""The relay process: TLS websockets on one port, `/v1/officer`, `/v1/citizen`, `/healthz`
and the citizens' web portal (relay/portal.py); `/metrics` on a separate (loopback) listener; storage, the device index and the background
chores that tie them together.

`Relay` is the composition root: it builds the services once, hands the endpoints a
`RelayContext` of them (never itself), and runs the chores.
"""

from __future__ import annotations

import asyncio
import functools
import http
import itertools
import logging
import math
import time
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from backend_client import CITIZEN_PATH, OFFICER_PATH
from backend_client.errors import ErrorCode, ProtocolError
from backend_client.limits import MAX_FRAME_BYTES
from relay import (
    alerts,
    cap_feed,
    checkpoints,
    cluster,
    evidence_api,
    keepalive,
    log_epoch,
    node_notes,
    portal,
    reports,
    tls,
    tls_buffers,
    ws_memory,
)
from relay.citizen import CitizenConnection
from relay.config import RelayConfig
from relay.context import RelayContext
from relay.db import models as db
from relay.db.engine import checkpoint_wal, make_engine, migrate, private_dir, sqlite_url
from relay.db.uow import Database
from relay.delivery import Delivery
from relay.hub import Hub
from relay.listener import AcceptGate, connection_class, listen
from relay.mail import bounces
from relay.media import MediaStore
from relay.metrics import Metrics, serve_metrics
from relay.officer import OfficerConnection
from relay.ratelimit import (
    AddressCounts,
    KeyedBuckets,
    Penalties,
    SharedLimits,
    address_key,
    parse_allowlist,
)
from relay.secret_box import SecretBox, key_path, seal_plain_secrets
from relay.signin import SignIn
from relay.targeting import DeviceIndex
from relay.tiles import PortalTiles

if TYPE_CHECKING:
    from relay.mail.service import Mail

log = logging.getLogger(__name__)
#: the Retry-After of a 429 for too many connections from one address: about the time an
#: unauthenticated socket may hold a slot (auth_deadline_s)
CONNECTION_RETRY_AFTER_S = 10


class Relay:
    """One relay. `async with Relay(config) as relay:` serves until the block ends."""

    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self.hub = Hub()
        self.metrics = Metrics()
        self.index = DeviceIndex()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._servers: list[Server] = []
        #: stopping: out of the balancer, no new websocket (`drain`)
        self.draining = False
        self._metrics_server: asyncio.Server | None = None
        self.metrics_port: int | None = None
        self.tls_files: tls.TlsFiles | None = None
        self.port = config.port
        data = config.data_dir
        private_dir(data)
        self.media = MediaStore(data / "media")
        self.signing_key = checkpoints.relay_key(data)
        self.checkpoint_file = data / checkpoints.CHECKPOINT_FILE
        last = checkpoints.latest(self.checkpoint_file)
        self._checkpointed = (last.seq, last.head) if last else (0, "")
        url = config.database_url or sqlite_url(data)
        engine = make_engine(url)
        migrate(engine)
        log_epoch.ensure(engine, audit_seen=self._checkpointed[0])  # relay/log_epoch.py
        box = SecretBox.load_or_create(key_path(data, config.secrets_key))
        seal_plain_secrets(engine, box)
        self.db = Database(engine, on_events=self._published)
        self.delivery = Delivery(self.db, self.hub, self.metrics)
        # several relays on one PostgreSQL: every node's events reach this node's officers
        self.follower = cluster.follower_for(
            config.database_url,
            self.db,
            self._published,
            config.node_id,
            on_remote=cluster.RemoteChat(
                self.db, self.hub, self.spawn, self.delivery.mark_delivered_to_officers
            ),
        )
        self.db.on_commit = self.metrics.committed
        if self.follower is not None:  # what the other nodes tell: index, alerts, sessions
            self.follower.on_notes = node_notes.NodeNotes(
                self.index, self.hub, self.delivery.redeliver, self.spawn
            )
            self.follower.on_notes_lost = self._load_devices
        self.cap_feed = cap_feed.CapFeed(
            self.db,
            config.cap_sender,
            config.cap_web_url(),
            config.hostnames,
            exercise=config.cap_feed_exercise,
        )
        self.mail: Mail | None = None
        if config.smtp_url:
            from relay.mail.service import Mail

            self.mail = Mail(config, self.db, box, self.metrics, self.delivery.counts_changed)
        self._open_by_address = AddressCounts()
        parse_allowlist(config.address_allowlist)  # a bad entry fails here, not per socket
        penalties = Penalties(config.rate_limit_max_keys)
        self._gate = AcceptGate(config, self._open_by_address, penalties, self.metrics)
        self.ctx = RelayContext(
            config=config,
            db=self.db,
            hub=self.hub,
            index=self.index,
            media=self.media,
            metrics=self.metrics,
            spawn=self.spawn,
            delivery=self.delivery,
            limits=SharedLimits(
                reports=KeyedBuckets(config.rate_limit_max_keys),
                registrations=KeyedBuckets(config.rate_limit_max_keys),
                penalties=penalties,
            ),
            signin=SignIn.for_config(config, box),
            mail=self.mail,
        )
        # the pin map's base map (relay/tiles.py): a pack that cannot be used stops the start
        self.tiles: PortalTiles | None = None
        if config.portal_enabled and config.portal_tiles is not None:
            self.tiles = PortalTiles.open(config.portal_tiles)
        self.portal = (
            portal.Portal.load(
                email=self.mail is not None,
                tiles=None if self.tiles is None else self.tiles.page_config(),
            )
            if config.portal_enabled
            else None
        )
        self._load_devices()

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        cfg = self.config
        tls_buffers.install()  # 16 KB less per idle phone (relay/tls_buffers.py)
        if cfg.cert and cfg.key:
            cert, key = cfg.cert, cfg.key
            self.fingerprint = tls.fingerprint_of_file(cert)
            self.ca_path: Path | None = None
        else:
            self.tls_files = tls.ensure_certificates(cfg.data_dir, cfg.hostnames)
            cert, key = self.tls_files.server_cert, self.tls_files.server_key
            self.fingerprint = self.tls_files.fingerprint
            self.ca_path = self.tls_files.ca_cert
        # TLS ended by a balancer in front (relay/listener.py check_edge): plain ws://
        ssl_context = None if cfg.tls == "proxy" else tls.server_ssl_context(cert, key)
        # our own listening sockets, so an address over its limit is refused at accept,
        # before its TLS handshake (relay/listener.py); one websockets server per address
        for sock in listen(cfg.host, cfg.port, self._gate):
            self._servers.append(
                await serve(
                    self._route,
                    sock=sock,
                    ssl=ssl_context,
                    compression=None,
                    max_size=MAX_FRAME_BYTES,
                    max_queue=64,
                    ping_interval=None,  # the phones': relay/keepalive.py, one task for all
                    ping_timeout=cfg.keepalive_s,
                    close_timeout=5,
                    process_request=self._http,
                    create_connection=connection_class(portal.FormConnection, self._gate),
                )
            )
        self.port = int(next(iter(self._servers[0].sockets)).getsockname()[1])
        if cfg.metrics_port is not None:
            self._metrics_server = await serve_metrics(
                cfg.metrics_host, cfg.metrics_port, self._render_metrics
            )
            msock = next(iter(self._metrics_server.sockets))
            self.metrics_port = int(msock.getsockname()[1])
        await self._reconcile_media()
        self.spawn(self._chores())
        if self.follower is not None:
            self.spawn(self.follower.run())
        self.spawn(keepalive.run(self._connections, cfg.keepalive_s, cfg.keepalive_s, self.spawn))
        if self.mail is not None:
            self.spawn(self.mail.run())

    async def stop(self) -> None:
        if self.config.drain_s > 0:
            await self.drain(self.config.drain_s)
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        if self._metrics_server is not None:
            self._metrics_server.close()
            await self._metrics_server.wait_closed()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        evidence_api.close(self.hub)
        if self.tiles is not None:
            self.tiles.close()
        if self.mail is not None:
            await asyncio.to_thread(self.mail.close)
        await asyncio.to_thread(self.db.close)
        # every queued write is committed now: sign the final head (the engine reopens)
        try:
            await asyncio.to_thread(self._checkpoint_sync)
        except Exception:
            log.exception("could not write the final audit checkpoint")
        finally:
            self.db.engine.dispose()

    async def __aenter__(self) -> Relay:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        host = self.config.host
        host = "localhost" if host in ("0.0.0.0", "::", "") else host
        host = f"[{host}]" if ":" in host else host
        return f"{'ws' if self.config.tls == 'proxy' else 'wss'}://{host}:{self.port}"

    async def drain(self, seconds: float, slices: int = 10) -> None:
        """Leave the balancer before stopping (`RelayConfig.drain_s`): /healthz answers 404
        at once (HAProxy's `disable-on-404` stops sending new connections and keeps the
        ones here; any other balancer sees not-ready), then every connection is closed
        with 1001 going away, a slice at a time."""
        self.draining = True
        log.info("draining: /healthz answers 404; closing connections in %.1f s", seconds / 2)
        await asyncio.sleep(seconds / 2)
        conns = list(self._connections())
        for k in range(slices):
            for ws in conns[k::slices]:
                self.spawn(ws.close(1001, "relay draining: reconnect"))
            await asyncio.sleep(seconds / 2 / slices)

    def _connections(self) -> Iterable[ServerConnection]:
        return itertools.chain.from_iterable(s.connections for s in self._servers)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _published(self, events: list[tuple[int, bytes]], exercise: frozenset[int]) -> None:
        """Committed events to the officers; an alert change may have queued emails."""
        self.hub.publish(events, exercise)
        if self.mail is not None and any(b'"alert.changed"' in f for _, f in events):
            self.mail.wake()

    # ------------------------------------------------------------ routing

    async def _route(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else ""
        _forget_handshake(ws)
        if path == OFFICER_PATH:
            # websockets' own keepalive for the few officers (the phones share one task)
            ws.ping_interval = self.config.keepalive_s
            ws.start_keepalive()
            self.metrics.officers.inc()
            try:
                await OfficerConnection(self.ctx, ws).run()
            finally:
                self.metrics.officers.dec()
        elif path == CITIZEN_PATH:
            self.metrics.citizens.inc()
            try:
                await CitizenConnection(self.ctx, ws).run()
            finally:
                self.metrics.citizens.dec()
        else:  # unreachable: _http refuses other paths before the upgrade
            await ws.close(1008, "unknown endpoint")

    async def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        """Every request on the TLS port before any upgrade: a plain HTTP answer, hardened
        (relay/portal.py `harden`: CSP, HSTS...), or None to open the websocket."""
        response = await self._answer(conn, request)
        return None if response is None else portal.harden(response, request)

    async def _answer(self, conn: ServerConnection, request: Request) -> Response | None:
        if self.portal is not None:
            if self.mail is not None:  # the email links' POSTs (GET is a portal page)
                done = await portal.email_action(request, portal.form_body(conn), self.mail)
                if done is not None:
                    return done
            page = self.portal.respond(request)
            if page is not None:
                return page
            if self.tiles is not None:  # the pin map's base map: /tiles/{z}/{x}/{y}
                tile = await self.tiles.respond(request)
                if tile is not None:
                    return tile
        feed = await self.cap_feed.respond(request)  # /cap/feed.atom, /cap/alerts/ID.xml
        if feed is not None:
            return feed
        path = request.path.split("?", 1)[0]
        if self.draining and path == "/healthz":  # HAProxy `http-check disable-on-404`:
            # no new connection comes, the ones here stay until `drain` closes them
            return conn.respond(http.HTTPStatus.NOT_FOUND, "draining\n")
        if self.draining and path in (OFFICER_PATH, CITIZEN_PATH):
            return conn.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "draining: try again\n")
        if path == "/healthz":
            problem = self.db.problem or self.media.problem
            if problem is not None:  # storage failed: a load balancer should look elsewhere
                return conn.respond(
                    http.HTTPStatus.SERVICE_UNAVAILABLE, f"unavailable: {problem}\n"
                )
            return conn.respond(http.HTTPStatus.OK, "ok\n")
        if path not in (OFFICER_PATH, CITIZEN_PATH):
            return conn.respond(
                http.HTTPStatus.NOT_FOUND,
                "no such endpoint: use /v1/officer, /v1/citizen or /healthz\n",
            )
        origin = request.headers.get("Origin")
        if (
            path == OFFICER_PATH
            and origin is not None
            and origin not in self.config.officer_origins
        ):
            # a web page (any Origin, "null" too) must never drive an officer's session
            return conn.respond(http.HTTPStatus.FORBIDDEN, "this Origin may not use /v1/officer\n")
        if "upgrade" not in request.headers.get("Connection", "").lower():
            return conn.respond(
                http.HTTPStatus.UPGRADE_REQUIRED, "this endpoint speaks websocket only\n"
            )
        return self._admit(conn)

    def _admit(self, conn: ServerConnection) -> Response | None:
        """Concurrent connections per address. A socket our listener accepted holds its slot
        since accept (relay/listener.py); on a loop that accepts by itself (a proactor,
        uvloop) it is counted here from the upgrade until the socket is gone, handshake
        failures included. Over the limit, or penalised for flooding: 429 before any
        websocket."""
        cfg = self.config
        if self._gate.counted_at_accept(conn.transport.get_extra_info("socket")):
            return None
        key = address_key(conn.remote_address, cfg.address_allowlist)
        if key is None:
            return None
        if self.ctx.limits.penalties.active(key):
            self.metrics.rate_limited.labels("http", "penalty").inc()
            why = "a connection from this address was closed for flooding; try again later\n"
            return _too_many(conn, why, math.ceil(cfg.abuse_penalty_s))
        if not self._open_by_address.acquire(key, cfg.connections_per_address):
            self.metrics.rate_limited.labels("http", "connections").inc()
            why = "too many connections from this address; close one or try again later\n"
            return _too_many(conn, why, CONNECTION_RETRY_AFTER_S)
        conn.connection_lost_waiter.add_done_callback(lambda _: self._open_by_address.release(key))
        return None

    def _render_metrics(self) -> bytes:
        self.metrics.event_head.set(self.db.head_seq)
        self.metrics.devices_located.set(len(self.index))
        return self.metrics.render()

    # ------------------------------------------------------------ chores

    async def _chores(self) -> None:
        """Throttled alert counts, alert and location expiry, bounces counted by `lookout-relay
        mail bounce`, lapsed sessions, old uploads, audit checkpoints, the WAL emptied of
        superseded fixes, storage health."""
        cfg = self.config
        last_expiry = 0.0
        last_sweep = time.time()
        last_session_check = time.time()
        last_checkpoint = last_wal = time.time()
        storage_failure = ""  # the last one logged, so a full disk logs once, not per loop
        while True:
            await asyncio.sleep(cfg.counts_interval_s)
            try:
                dirty = self.delivery.take_dirty()
                if dirty:
                    await self.db.write(alerts.emit_counts(dirty, cfg.min_count_shown))
                now = time.time()
                if now - last_expiry >= cfg.expiry_every_s:
                    last_expiry = now
                    await self.db.write(alerts.expire_due(cfg.min_count_shown))
                    late = await self.db.write(bounces.take_reported())
                    self.metrics.emails_failed.labels("bounced").inc(late.bounced)
                    self.metrics.emails_delayed.inc(late.delayed)
                    for pk in late.alerts:  # pushed at the next round, as acks are
                        self.delivery.counts_changed(pk)
                    forgotten = await self.db.write(_forget_expired_fixes())
                    for key in forgotten:
                        self.index.remove(key)
                    if self.follower is not None:
                        await self.db.write(node_notes.prune())
                    if forgotten or now - last_wal >= cfg.wal_checkpoint_every_s:
                        last_wal = now
                        await self.db.maintain(functools.partial(checkpoint_wal, self.db.engine))
                if now - last_checkpoint >= cfg.checkpoint_every_s:
                    last_checkpoint = now
                    await asyncio.to_thread(self._checkpoint_sync)
                if self.media.problem is not None:
                    await asyncio.to_thread(self.media.probe)
                if now - last_session_check >= cfg.recheck_s:
                    last_session_check = now
                    await self._end_lapsed_sessions()
                if now - last_sweep >= cfg.partial_sweep_every_s:
                    last_sweep = now
                    await asyncio.to_thread(self.media.sweep_partials, cfg.partial_upload_ttl_s)
            except ProtocolError as exc:  # UNAVAILABLE: the writer logged it once already
                if exc.code is not ErrorCode.UNAVAILABLE:
                    log.warning("relay chores: %s", exc.message)
            except (OSError, OperationalError) as exc:  # the WAL or checkpoint file: a full disk
                reason = f"relay chores: storage failed: {exc}"
                if reason != storage_failure:
                    log.warning("%s", reason)
                storage_failure = reason
            except Exception:
                log.exception("relay chores failed; retrying")
            else:
                storage_failure = ""

    def _checkpoint_sync(self) -> bool:
        """Sign the audit chain's committed head, if it moved since the last checkpoint."""
        head = self.db.read_sync(_audit_head)
        if head[0] == 0 or head == self._checkpointed:
            return False
        cp = checkpoints.sign(self.signing_key, head[0], head[1], time.time())
        checkpoints.append(self.checkpoint_file, cp)
        self._checkpointed = head
        return True

    async def _reconcile_media(self) -> None:
        """Finish uploads the store holds but the database may not record (a crash between
        the two): a receipt names the report whose own device sent the bytes."""
        for owner, sha in await asyncio.to_thread(self.media.receipts):
            pending = await self.db.read(reports.pending_media(int(owner), sha))
            if pending is not None and await asyncio.to_thread(self.media.verifies, sha, *pending):
                await self.db.write(reports.media_stored(int(owner), sha))
                log.info("recorded a media upload finished before the last stop")
            await asyncio.to_thread(self.media.clear_receipt, sha, owner)

    async def _end_lapsed_sessions(self) -> None:
        for conn in self.hub.sessions():
            if not await conn.still_valid():
                self.hub.discard_session(conn)
                self.hub.drop_officer(conn.ws)
                self.spawn(conn.ws.close(1008, "session ended: log in again"))

    def _load_devices(self) -> None:
        now = time.time()

        def q(s: Any) -> list[tuple[int, float, float, int, float]]:
            rows = s.execute(
                select(
                    db.Device.id,
                    db.Device.lat,
                    db.Device.lon,
                    db.Device.category_mask,
                    db.Device.fix_expires_at,
                ).where(db.Device.fix_expires_at > now)
            ).all()
            return [(int(a), float(b), float(c), int(d), float(e)) for a, b, c, d, e in rows]

        rows = self.db.read_sync(q)
        if rows:
            arr = list(zip(*rows, strict=True))
            self.index.bulk_load(
                np.array(arr[0], dtype=np.int64),
                np.array(arr[1], dtype=np.float64),
                np.array(arr[2], dtype=np.float64),
                np.array(arr[3], dtype=np.uint64),
                np.array(arr[4], dtype=np.float64),
            )


def _forget_handshake(ws: ServerConnection) -> None:
    """Nothing reads the upgrade's headers after routing; websockets would keep them (and
    its response's) for the connection's life: about 4 KB per idle phone. Emptied in place,
    since its handshake parser's frame still holds the same request."""
    if ws.request is not None:
        ws.request.headers.clear()
    ws.response = None
    ws_memory.trim(ws)  # and its two idle deques: 1.2 KB (relay/ws_memory.py)


def _too_many(conn: ServerConnection, why: str, retry_after_s: int) -> Response:
    response = conn.respond(http.HTTPStatus.TOO_MANY_REQUESTS, why)
    response.headers["Retry-After"] = str(max(1, retry_after_s))
    return response


def _audit_head(s: Any) -> tuple[int, str]:
    last = s.execute(
        select(db.AuditLog.seq, db.AuditLog.hash).order_by(db.AuditLog.seq.desc()).limit(1)
    ).first()
    return (int(last[0]), str(last[1])) if last else (0, "")


def _forget_expired_fixes() -> Any:
    """Privacy: a device's position is kept only until its fix expires."""
    from sqlalchemy import update

    def job(tx: Any) -> list[int]:
        keys = list(tx.s.scalars(select(db.Device.id).where(db.Device.fix_expires_at <= tx.now)))
        if keys:
            tx.s.execute(
                update(db.Device)
                .where(db.Device.id.in_(keys))
                .values(lat=None, lon=None, fix_expires_at=None)
            )
            node_notes.tell_gone(tx, keys)  # and from every other node's index
        return keys

    return job
