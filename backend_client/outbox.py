"""The officer's outbox: every action is on disk before it is sent, with its idempotency key.

After a dropped link or a crash of the console the client sends what is still queued, in
order, with the same keys; the relay applies each key once. SQLite with synchronous=FULL, so
an action the console accepted survives a power cut, not just a crash.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Float, Integer, String, Text, create_engine, event, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from backend_client import codec
from backend_client import messages as m


class _Base(DeclarativeBase):
    pass


class _Row(_Base):
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idem: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    frame: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(10), index=True)  # queued | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


@dataclass(frozen=True)
class OutboxEntry:
    entry_id: int
    idem: str
    type: str
    message: m.Msg
    created_at: float
    state: str
    attempts: int
    error: str | None


class Outbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

        @event.listens_for(self._engine, "connect")
        def _pragmas(conn: Any, _rec: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

        _Base.metadata.create_all(self._engine)

    def add(self, msg: m.Msg) -> OutboxEntry:
        """Persist an action. It must carry an `idem` field; an empty one is filled in."""
        if not hasattr(msg, "idem"):
            raise TypeError(f"{type(msg).__name__} is not an outbox action (no idempotency key)")
        if not msg.idem:
            msg = msgspec.structs.replace(msg, idem=uuid.uuid4().hex)
        if not getattr(msg, "id", ""):
            msg = msgspec.structs.replace(msg, id="outbox")
        tag = str(msgspec.inspect.type_info(type(msg)).tag)  # type: ignore[attr-defined]
        with Session(self._engine) as s, s.begin():
            row = _Row(
                idem=msg.idem,
                type=tag,
                frame=codec.encode_text(msg),
                created_at=time.time(),
                state="queued",
                attempts=0,
            )
            s.add(row)
            s.flush()
            return self._entry(row)

    def pending(self) -> list[OutboxEntry]:
        with Session(self._engine) as s:
            rows = s.scalars(select(_Row).where(_Row.state == "queued").order_by(_Row.id))
            return [self._entry(r) for r in rows]

    def count_pending(self) -> int:
        with Session(self._engine) as s:
            return int(
                s.scalar(select(func.count()).select_from(_Row).where(_Row.state == "queued")) or 0
            )

    def recent(self, limit: int = 100) -> list[OutboxEntry]:
        with Session(self._engine) as s:
            rows = s.scalars(select(_Row).order_by(_Row.id.desc()).limit(limit))
            return [self._entry(r) for r in rows]

    def attempted(self, entry_id: int) -> None:
        with Session(self._engine) as s, s.begin():
            row = s.get(_Row, entry_id)
            if row is not None:
                row.attempts += 1

    def complete(self, entry_id: int, reply: m.Msg) -> None:
        with Session(self._engine) as s, s.begin():
            row = s.get(_Row, entry_id)
            if row is not None:
                row.state = "done"
                row.reply = codec.encode_text(reply)

    def fail(self, entry_id: int, reason: str) -> None:
        with Session(self._engine) as s, s.begin():
            row = s.get(_Row, entry_id)
            if row is not None:
                row.state = "failed"
                row.error = reason

    def close(self) -> None:
        self._engine.dispose()

    @staticmethod
    def _entry(r: _Row) -> OutboxEntry:
        return OutboxEntry(
            entry_id=r.id,
            idem=r.idem,
            type=r.type,
            message=codec.officer_inbound.decode(r.frame),
            created_at=r.created_at,
            state=r.state,
            attempts=r.attempts,
            error=r.error,
        )
