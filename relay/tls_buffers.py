"""asyncio's TLS read buffer: one per thread, shared by every connection, not one each.

CPython's `asyncio.sslproto.SSLProtocol` gives each TLS connection a `bytearray(max_size)`
to receive into (256 KiB, zero-filled, so every page is resident: 2.5 GB for 10,000 idle
phones). The relay lowers `max_size` to 16 KiB (a TLS record's largest plaintext; a
smaller size only costs more read calls on bulk uploads) and, here, shares one buffer per
thread: the transport calls `get_buffer()`, `recv_into()` it and `buffer_updated(n)`,
which first copies the n bytes into the connection's own `MemoryBIO`. Between two reads
the buffer holds nothing, and an event loop runs in one thread, so one buffer serves
every connection of that loop (bench/idle_connections.py: 16 KB less per connection).

Both are private asyncio details (3.11-3.13 alike); tests/unit/test_tls_buffers.py fails if
a Python upgrade changes them, instead of the relay silently using more memory.
"""

from __future__ import annotations

import asyncio.sslproto
import threading
from typing import Any

#: the most one read takes from a socket (asyncio's SSLProtocol.max_size: 256 KiB)
TLS_READ_BUFFER = 16 * 1024

_local = threading.local()


def _get_buffer(self: Any, n: int) -> memoryview:
    """SSLProtocol.get_buffer, returning this thread's buffer instead of the connection's."""
    want = n if 0 < n <= self.max_size else self.max_size
    view: memoryview | None = getattr(_local, "view", None)
    if view is None or len(view) < want:
        view = _local.view = memoryview(bytearray(want))
    # buffer_updated() reads from _ssl_buffer_view; the connection's own buffer (made in
    # __init__) is dropped at its first read
    self._ssl_buffer, self._ssl_buffer_view = view.obj, view
    return view


def install() -> None:
    """Small read buffers, shared per thread, for every asyncio TLS connection in this
    process (idempotent). A loop with its own TLS (uvloop) is not affected."""
    proto: Any = asyncio.sslproto.SSLProtocol
    if not hasattr(proto, "max_size") or not hasattr(proto, "get_buffer"):
        return  # an asyncio that no longer works this way: nothing to shrink
    proto.max_size = TLS_READ_BUFFER
    proto.get_buffer = _get_buffer


def installed() -> bool:
    proto: Any = asyncio.sslproto.SSLProtocol
    return getattr(proto, "get_buffer", None) is _get_buffer
