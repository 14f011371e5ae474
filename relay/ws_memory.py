"""What websockets keeps per idle connection, made smaller once the connection is open.

websockets gives each connection two `collections.deque()`s that an idle phone never fills:
its frame queue (`recv_messages.frames.queue`, frames not yet read by the handler) and its
`drain_waiters` (writers waiting while the socket's buffer is full). An empty deque is not
small in CPython: it allocates its first 64-slot block at once, 624 bytes each; an empty
list holds no slots at all. So both are swapped for list-based ones here, contents kept:
about 1.2 KB less per idle phone (bench/idle_connections.py). Either holds a handful of
items at most (max_queue, one writer per connection), so a list's O(n) front removal costs
nothing.

These are private websockets details (17.x); tests/unit/test_ws_memory.py fails if an
upgrade changes them, and `trim` leaves a connection alone if they are not what it expects.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")


class ListQueue(list[T]):
    """The part of deque's interface websockets' SimpleQueue uses, on a list."""

    __slots__ = ()

    def popleft(self) -> T:
        return self.pop(0)

    def extendleft(self, items: Iterable[T]) -> None:
        for item in items:  # as deque.extendleft: each item goes in at the front in turn
            self.insert(0, item)


def trim(ws: Any) -> bool:
    """Swap `ws`'s idle deques for lists (synchronously: nothing can run in between).
    False, leaving it untouched, when websockets no longer has them."""
    waiters = getattr(ws, "drain_waiters", None)
    frames = getattr(getattr(getattr(ws, "recv_messages", None), "frames", None), "queue", None)
    if not isinstance(waiters, collections.deque) or not isinstance(frames, collections.deque):
        return False
    ws.drain_waiters = list(waiters)  # websockets appends, removes and iterates it
    ws.recv_messages.frames.queue = ListQueue(frames)
    return True
