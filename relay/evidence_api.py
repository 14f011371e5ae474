"""`evidence.export` / `evidence.get` over the officer API (docs/protocol.md 5.8).

An analyst, supervisor or admin asks for a package with a reason and selectors; the relay
builds it with `relay.evidence.build` on a worker thread, with its own read session (never
the event loop, never the writer), writes the same `evidence.export` audit record the CLI
writes (actor: the officer) through the writer, and answers `evidence.ready` with a
package id, its size and SHA-256. The officer then fetches the bytes with `evidence.get`
in pieces below the frame limit, as `media.get` does.

One build runs at a time per relay: a second one is answered `rate_limited`. A built
package is a temporary file under `DATA_DIR/evidence-tmp/`, readable only by the officer
who asked for it, and deleted when that officer starts another export, after `HOLD_S`, or
when the relay stops (`close`). One killed meanwhile leaves it there until it next starts.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
import shutil
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend_client import messages as m
from backend_client.errors import ErrorCode, ProtocolError
from relay import evidence
from relay.context import RelayContext
from relay.db.uow import Tx
from relay.reports import Actor

#: seconds a built package is kept for its officer to fetch
HOLD_S = 900.0
#: `retry_after_s` for an export refused because another is being built
BUSY_RETRY_S = 5.0
#: the package file name's suffix (docs/evidence.md)
SUFFIX = ".lookout-evidence"
TMP_DIR = "evidence-tmp"


@dataclass
class _Package:
    package_id: str
    owner: str
    path: Path
    total: int
    sha256: str
    expires_at: float
    timer: asyncio.TimerHandle | None = None


class Exports:
    """The relay's export slot and the packages waiting to be fetched."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / TMP_DIR
        shutil.rmtree(self.dir, ignore_errors=True)  # left by a relay that stopped
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.building = False
        self.packages: dict[str, _Package] = {}

    def drop(self, package_id: str) -> None:
        pkg = self.packages.pop(package_id, None)
        if pkg is not None:
            if pkg.timer is not None:
                pkg.timer.cancel()
            pkg.path.unlink(missing_ok=True)

    def drop_owned_by(self, owner: str) -> None:
        for pid in [p.package_id for p in self.packages.values() if p.owner == owner]:
            self.drop(pid)


#: one registry per relay (keyed by its hub), shared by every officer connection
_registries: weakref.WeakKeyDictionary[Any, Exports] = weakref.WeakKeyDictionary()


def close(hub: Any) -> None:
    """The relay is stopping: no package outlives it (none could be fetched any more)."""
    found = _registries.pop(hub, None)
    if found is not None:
        for pid in list(found.packages):
            found.drop(pid)
        shutil.rmtree(found.dir, ignore_errors=True)


def registry(ctx: RelayContext) -> Exports:
    found = _registries.get(ctx.hub)
    if found is None:
        found = _registries[ctx.hub] = Exports(ctx.config.data_dir)
    return found


def selectors(msg: m.EvidenceExport) -> evidence.Selectors:
    """The message's selectors, or ProtocolError `invalid` / `invalid_geometry`."""
    for name, t in (("since", msg.since), ("until", msg.until)):
        if t is not None and not math.isfinite(t):
            raise ProtocolError(ErrorCode.INVALID, f"{name} must be a finite unix time")
    if msg.since is not None and msg.until is not None and msg.since > msg.until:
        raise ProtocolError(ErrorCode.INVALID, "since is after until")
    area = None
    if msg.area is not None:
        ring = [[lon, lat] for lon, lat in msg.area.coordinates]
        if ring[0] != ring[-1]:
            ring.append(ring[0])
        try:
            area = evidence.parse_area_geometry({"type": "Polygon", "coordinates": [ring]})
        except ValueError as exc:
            raise ProtocolError(ErrorCode.INVALID_GEOMETRY, str(exc)) from None
    sel = evidence.Selectors(
        incidents=tuple(dict.fromkeys(msg.incidents)),
        reports=tuple(dict.fromkeys(msg.reports)),
        since=msg.since,
        until=msg.until,
        area=area,
    )
    if sel.empty():
        raise ProtocolError(
            ErrorCode.INVALID,
            "give at least one selector: incidents, reports, since/until or area",
        )
    return sel


async def export(ctx: RelayContext, actor: Actor, msg: m.EvidenceExport) -> m.Msg:
    reason = msg.reason.strip()
    if not reason:
        raise ProtocolError(
            ErrorCode.INVALID, "give the reason for this export: it is signed and audited"
        )
    sel = selectors(msg)
    reg = registry(ctx)
    if reg.building:
        ctx.metrics.errors.labels("officer", ErrorCode.RATE_LIMITED.value).inc()
        return m.Error(
            code=ErrorCode.RATE_LIMITED.value,
            message=f"another evidence export is being built: try again in {BUSY_RETRY_S:g} s",
            re=msg.id,
            retry_after_s=BUSY_RETRY_S,
        )
    reg.building = True
    try:
        reg.drop_owned_by(actor.username)
        package_id = "evp_" + secrets.token_hex(12)
        out = reg.dir / f"{package_id}{SUFFIX}"
        try:
            done, digest = await asyncio.to_thread(_build, ctx, out, reason, sel, actor.username)
        except evidence.UnknownItem as exc:
            raise ProtocolError(ErrorCode.NOT_FOUND, str(exc)) from None
        except evidence.EvidenceError as exc:
            raise ProtocolError(ErrorCode.UNAVAILABLE, str(exc)) from None
        try:
            await ctx.db.write(_audit(actor, out.name, reason, sel, done))
            total = out.stat().st_size
        except BaseException:
            out.unlink(missing_ok=True)
            raise
    finally:
        reg.building = False
    expires = time.time() + HOLD_S
    pkg = _Package(package_id, actor.username, out, total, digest, expires)
    pkg.timer = asyncio.get_running_loop().call_later(HOLD_S, reg.drop, package_id)
    reg.packages[package_id] = pkg
    c = done.counts
    return m.EvidenceReady(
        re=msg.id,
        package_id=package_id,
        total=total,
        sha256=digest,
        merkle_root=done.merkle_root,
        fingerprint=done.fingerprint,
        counts=m.EvidenceCounts(
            reports=c["reports"],
            chat=c["chat"],
            incidents=c["incidents"],
            alerts=c["alerts"],
            media=c["media"],
            audit_records=c["audit_records"],
        ),
        expires_at=expires,
    )


def _build(
    ctx: RelayContext, out: Path, reason: str, sel: evidence.Selectors, by: str
) -> tuple[evidence.Exported, str]:
    """On a worker thread: the package (its own read session), then its SHA-256."""
    try:
        done = evidence.build(
            ctx.db.engine, ctx.config.data_dir, out, reason=reason, selectors=sel, exported_by=by
        )
        h = hashlib.sha256()
        with out.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return done, h.hexdigest()


def _audit(
    actor: Actor, name: str, reason: str, sel: evidence.Selectors, done: evidence.Exported
) -> Any:
    def job(tx: Tx) -> None:
        tx.audit(
            actor.username,
            "evidence.export",
            name,
            reason=reason,
            selectors=sel.to_json(),
            merkle_root=done.merkle_root,
            key=done.fingerprint,
            counts=done.counts,
        )

    return job


async def get(ctx: RelayContext, actor: Actor, msg: m.EvidenceGet) -> m.Msg:
    pkg = registry(ctx).packages.get(msg.package_id)
    if pkg is None or pkg.owner != actor.username:
        raise ProtocolError(
            ErrorCode.NOT_FOUND, "no such evidence package (it expired or was replaced)"
        )
    if msg.offset > pkg.total:
        raise ProtocolError(
            ErrorCode.INVALID, f"offset {msg.offset} is past the end ({pkg.total} bytes)"
        )
    data = await asyncio.to_thread(_read, pkg.path, msg.offset, msg.length)
    return m.EvidenceData(
        re=msg.id, package_id=pkg.package_id, total=pkg.total, offset=msg.offset, data=data
    )


def _read(path: Path, offset: int, length: int) -> bytes:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(length)
    except FileNotFoundError:
        raise ProtocolError(ErrorCode.NOT_FOUND, "the evidence package expired") from None
