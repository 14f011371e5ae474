"""Which act a report belongs to: the one rule, `backend_client.pilots.attribution` (pure,
so the relay's review attributes as the stand-ins and the tracker do)."""

from __future__ import annotations

from backend_client.pilots.attribution import GRACE_S, Attribution, Span

__all__ = ["GRACE_S", "Attribution", "Span"]
