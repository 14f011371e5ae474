"""asyncio's TLS read buffer: one per thread, shared by every connection, not one each.

CPython's `asyncio.sslproto.SSLProtocol` gives each TLS connection a `bytearray(max_size)`
to receive into (256 KiB, zero-filled, so every page is resident: 2.5 GB for 10,000 idle
phones). The relay lowers `max_size` to 16 KiB (a TLS record's largest plaintext; a
smaller size only costs more read calls on bulk uploads) and, here, shares one buffer per
thread: the transport calls `get_buffer()`, `recv_into()` it and `buffer_updated(n)`,
which first copies the n bytes into the connection's own `MemoryBIO`. Between two reads
the buffer holds nothing, and an event loop runs in one thread, so one buffer serves
every connection of that loop (bench/idle_connections.py: 16 KB less per connection).

Two more of the per-connection costs go the same way (`LeanSSLProtocol`, 1.9 KB less per
idle phone): SSLProtocol sets about 35 attributes, past the 30 a CPython 3.11 instance keeps
in its class's shared key table, so every connection got a full dict of its own (1.6 KB);
slots hold them in 0.3 KB. And its write backlog, an empty `collections.deque()` (624 bytes
allocated at once, never more than a few items on an idle phone), becomes a list. asyncio
makes its TLS protocol by the module's name (`sslproto.SSLProtocol(...)`), so install()
puts the subclass there.

These are private asyncio details (3.11-3.13 alike); tests/unit/test_tls_buffers.py fails if
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


#: the attributes asyncio's SSLProtocol sets on each instance (CPython 3.11); those the
#: class also defines (a default) stay in the instance dict, since a slot would hide it
_ATTRIBUTES = (
    "_app_protocol",
    "_app_protocol_buffer_updated",
    "_app_protocol_get_buffer",
    "_app_protocol_is_buffer",
    "_app_reading_paused",
    "_app_state",
    "_app_transport",
    "_app_transport_created",
    "_app_writing_paused",
    "_conn_lost",
    "_eof_received",
    "_extra",
    "_incoming",
    "_incoming_high_water",
    "_incoming_low_water",
    "_loop",
    "_outgoing",
    "_outgoing_high_water",
    "_outgoing_low_water",
    "_server_hostname",
    "_server_side",
    "_ssl_buffer",
    "_ssl_buffer_view",
    "_ssl_handshake_timeout",
    "_ssl_reading_paused",
    "_ssl_shutdown_timeout",
    "_ssl_writing_paused",
    "_sslcontext",
    "_sslobj",
    "_state",
    "_transport",
    "_waiter",
    "_write_backlog",
    "_write_buffer_size",
)
_ORIGINAL: Any = asyncio.sslproto.SSLProtocol


class LeanSSLProtocol(_ORIGINAL):  # type: ignore[misc]
    """asyncio's SSLProtocol with its attributes in slots and a list for a write backlog."""

    __slots__ = tuple(name for name in _ATTRIBUTES if not hasattr(_ORIGINAL, name))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # appended, cleared, indexed at [0], replaced and deleted there: a list does all
        self._write_backlog: list[Any] = list(self._write_backlog)


def install() -> None:
    """Small read buffers, shared per thread, and the lean protocol, for every asyncio TLS
    connection in this process (idempotent). A loop with its own TLS (uvloop) is not
    affected."""
    proto: Any = _ORIGINAL
    if not hasattr(proto, "max_size") or not hasattr(proto, "get_buffer"):
        return  # an asyncio that no longer works this way: nothing to shrink
    proto.max_size = TLS_READ_BUFFER
    proto.get_buffer = _get_buffer
    asyncio.sslproto.SSLProtocol = LeanSSLProtocol  # type: ignore[misc]


def installed() -> bool:
    proto: Any = asyncio.sslproto.SSLProtocol
    return proto is LeanSSLProtocol and getattr(proto, "get_buffer", None) is _get_buffer
