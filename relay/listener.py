"""The relay's listening sockets: an address over its limit is refused at accept, before TLS.

A refused connection used to cost a full TLS handshake (an ECDSA signature, key exchange,
the asyncio TLS machinery) and an HTTP request before its 429: about 1,000 handshakes a
second from one flooding address, on the core the honest phones share. Here the listening
socket's `accept()` looks at the peer first and resets (RST, no TIME_WAIT) a connection
from an address that already holds `connections_per_address` sockets, or that was closed
for flooding within `abuse_penalty_s` (`Penalties`), and goes on accepting.

Accepted sockets are counted in the relay's one `AddressCounts` from accept until the
socket is closed, whatever ends it (a TLS handshake that fails or times out included), so
in-flight handshakes count against the limit too. `counted_at_accept` tells the HTTP
upgrade that the socket already holds its slot.

Only asyncio's selector loops (and qasync's on Unix, a subclass) call `sock.accept()`.
A proactor loop (Windows) or uvloop accepts by itself: then nothing is counted here and
the upgrade counts and refuses with 429 as before (relay/server.py `_admit`).
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable
from typing import Any

from relay.config import RelayConfig
from relay.metrics import Metrics
from relay.ratelimit import AddressCounts, Penalties, address_key

#: SO_LINGER on, 0 s: close() sends RST and leaves no TIME_WAIT behind
_RESET = struct.pack("ii", 1, 0)
#: refusals per accept() call before giving the event loop back (a flood of refused
#: connects must not hold the loop in one call)
_MAX_REFUSALS_PER_CALL = 64
#: the listen backlog (asyncio's default)
BACKLOG = 100


class AcceptGate:
    """The accept-time decision, shared by every listening socket of one relay."""

    def __init__(
        self,
        config: RelayConfig,
        counts: AddressCounts,
        penalties: Penalties,
        metrics: Metrics,
    ) -> None:
        self.config = config
        self.counts = counts
        self.penalties = penalties
        self._by_fd: dict[int, str] = {}  # accepted socket -> the key it holds a slot under
        self._over_limit = metrics.rate_limited.labels("accept", "connections")
        self._penalised = metrics.rate_limited.labels("accept", "penalty")

    def admit(self, addr: Any) -> tuple[bool, str | None]:
        """(admitted, the key it now holds a slot under or None if nothing is counted)."""
        key = address_key(addr, self.config.address_allowlist)
        if key is None:
            return True, None
        if self.penalties.active(key):
            self._penalised.inc()
            return False, None
        if not self.counts.acquire(key, self.config.connections_per_address):
            self._over_limit.inc()
            return False, None
        return True, key

    def holds(self, fd: int, key: str) -> Callable[[], None]:
        self._by_fd[fd] = key

        def release() -> None:
            if self._by_fd.get(fd) == key:
                del self._by_fd[fd]
            self.counts.release(key)

        return release

    def counted_at_accept(self, sock: Any) -> bool:
        """Whether this connection's socket (a transport's `socket` extra) took its slot at
        accept; False on a loop that never called our accept()."""
        fileno = getattr(sock, "fileno", None)
        return fileno is not None and fileno() in self._by_fd


class _CountedSocket(socket.socket):
    """An accepted connection holding a slot in the address counts until it is closed."""

    __slots__ = ("_release",)
    _release: Callable[[], None] | None

    def close(self) -> None:
        release: Callable[[], None] | None = getattr(self, "_release", None)
        self._release = None
        if release is not None:
            release()
        super().close()


class GatedListener(socket.socket):
    """A listening socket whose accept() refuses what the gate refuses."""

    __slots__ = ("gate",)
    gate: AcceptGate

    def accept(self) -> tuple[socket.socket, Any]:
        gate = self.gate
        for _ in range(_MAX_REFUSALS_PER_CALL):
            conn, addr = super().accept()  # BlockingIOError when none is waiting
            admitted, key = gate.admit(addr)
            if not admitted:
                try:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
                finally:
                    conn.close()
                continue
            if key is None:
                return conn, addr
            counted = _CountedSocket(conn.family, conn.type, conn.proto, fileno=conn.detach())
            counted._release = gate.holds(counted.fileno(), key)
            return counted, addr
        raise BlockingIOError("refused a run of connections; more on the next loop pass")


def listen(host: str, port: int, gate: AcceptGate) -> list[GatedListener]:
    """Listening sockets for `host` (every address it resolves to, as asyncio's
    create_server would: "" means every interface), all on one port."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    seen: set[tuple[Any, ...]] = set()
    out: list[GatedListener] = []
    try:
        for family, kind, proto, _, addr in infos:
            if (family, addr) in seen:
                continue
            seen.add((family, addr))
            sock = GatedListener(family, kind, proto)
            out.append(sock)
            sock.gate = gate
            if os.name == "posix":  # as asyncio: a restart need not wait for TIME_WAIT
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(out) > 1:  # one free port for every address
                addr = (addr[0], out[0].getsockname()[1], *addr[2:])
            sock.bind(addr)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except BaseException:
        for sock in out:
            sock.close()
        raise
    return out
