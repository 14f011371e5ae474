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

Behind a load balancer that ends TLS (`tls = "proxy"`) the listener serves plain ws://;
with `trusted_proxies`, only those balancers may connect (anyone else is reset at accept:
a plain connection around the balancer would carry tokens unencrypted), and each of their
connections must start with a PROXY protocol v2 header (relay/proxy_protocol.py). The
connection class made by `connection_class` reads it before websockets sees a byte, takes
the slot under the header's source address (the phone's, not the balancer's; the same
limits and penalties as at accept, reset likewise), and answers `remote_address` with it,
so every per-address limit after it counts the phone. A header that is missing, malformed
or too long resets the connection; websockets' open_timeout closes one that never sends it.

Only asyncio's selector loops (and qasync's on Unix, a subclass) call `sock.accept()`.
A proactor loop (Windows) or uvloop accepts by itself: then nothing is counted here and
the upgrade counts and refuses with 429 as before (relay/server.py `_admit`).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection

from relay import proxy_protocol
from relay.config import RelayConfig
from relay.metrics import Metrics
from relay.ratelimit import AddressCounts, Network, Penalties, address_key, parse_allowlist

#: SO_LINGER on, 0 s: close() sends RST and leaves no TIME_WAIT behind
_RESET = struct.pack("ii", 1, 0)
#: refusals per accept() call before giving the event loop back (a flood of refused
#: connects must not hold the loop in one call)
_MAX_REFUSALS_PER_CALL = 64
#: the listen backlog (asyncio's default)
BACKLOG = 100


#: RelayConfig.tls values
TLS_MODES = ("relay", "proxy")


def check_edge(config: RelayConfig) -> tuple[Network, ...]:
    """The trusted proxies, parsed; ValueError (one line naming the setting) for a listener
    that must not start: an unknown `tls`, a bad `trusted_proxies` entry, PROXY headers
    wanted in front of the relay's own TLS, or plain ws:// on a non-loopback address with
    no balancer named."""
    if config.tls not in TLS_MODES:
        raise ValueError(f"tls must be one of {', '.join(TLS_MODES)}, not {config.tls!r}")
    try:
        trusted = parse_allowlist(config.trusted_proxies)
    except ValueError as exc:
        raise ValueError(str(exc).replace("address_allowlist", "trusted_proxies")) from None
    if trusted and config.tls != "proxy":
        raise ValueError(
            'trusted_proxies needs tls = "proxy": the relay reads a PROXY header only on a '
            "plain listener, with TLS ended at the balancer"
        )
    if config.tls == "proxy" and not trusted and not _loopback(config.host):
        raise ValueError(
            f'tls = "proxy" serves plain ws:// and http://: on {config.host or "every interface"}'
            " only with trusted_proxies naming the balancers that end TLS (or listen on "
            "127.0.0.1 behind a balancer on this machine)"
        )
    return trusted


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # "" (every interface), 0.0.0.0, a name


def _in(addr: Any, networks: tuple[Network, ...]) -> bool:
    host = addr[0] if isinstance(addr, tuple) and addr else addr
    if not isinstance(host, str):
        return False
    try:
        ip: Any = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


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
        self.trusted = check_edge(config)
        self._by_fd: dict[int, str] = {}  # accepted socket -> the key it holds a slot under
        self._over_limit = metrics.rate_limited.labels("accept", "connections")
        self._penalised = metrics.rate_limited.labels("accept", "penalty")

    def is_proxy(self, addr: Any) -> bool:
        """A trusted balancer's connection: it must start with a PROXY header."""
        return bool(self.trusted) and _in(addr, self.trusted)

    def admit(self, addr: Any) -> tuple[bool, str | None]:
        """(admitted, the key it now holds a slot under or None if nothing is counted)."""
        if self.trusted:  # behind balancers: theirs are counted at the header, none other
            return self.is_proxy(addr), None
        return self.admit_address(addr)

    def admit_address(self, addr: Any) -> tuple[bool, str | None]:
        """The per-address decision for a connection from `addr` (the peer's, or the
        source in its PROXY header)."""
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
        accept or at its PROXY header; False on a loop that never called our accept()."""
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
                    _reset(conn)
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


def _reset(sock: Any) -> None:
    """close() will send RST (a socket or asyncio's TransportSocket)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)


class ProxiedConnection(ServerConnection):
    """A websockets connection that first reads a PROXY v2 header when its peer is a
    trusted balancer (only ever a base: `connection_class` binds it to a relay's gate).
    What it adds lives on the class until a connection needs it: a phone's connection
    holds only `_proxy_source` and `_proxy_release` once its header is read."""

    gate: AcceptGate
    _proxy_buffer: bytearray | None = None
    _proxy_source: tuple[str, int] | None = None
    _proxy_release: Callable[[], None] | None = None

    @property
    def remote_address(self) -> Any:
        return self._proxy_source or super().remote_address

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        if self.gate.is_proxy(transport.get_extra_info("peername")):
            self._proxy_buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        buffer = self._proxy_buffer
        if buffer is None:
            super().data_received(data)
            return
        buffer += data
        try:
            header = proxy_protocol.parse(buffer)
        except proxy_protocol.ProxyHeaderError:
            self._refuse()
            return
        if header is None:
            return
        del self._proxy_buffer  # back to the class's None
        self._proxy_source = header.source
        admitted, key = self.gate.admit_address(self.remote_address)
        if not admitted:
            self._refuse()
            return
        if key is not None:
            sock = self.transport.get_extra_info("socket")
            self._proxy_release = self.gate.holds(sock.fileno(), key)
        if len(buffer) > header.length:
            super().data_received(bytes(buffer[header.length :]))

    def connection_lost(self, exc: Exception | None) -> None:
        release = self._proxy_release
        self._proxy_release = None
        if release is not None:
            release()
        super().connection_lost(exc)

    def _refuse(self) -> None:
        self._proxy_buffer = None
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            _reset(sock)
        self.transport.abort()


def connection_class(base: type[ServerConnection], gate: AcceptGate) -> type[ServerConnection]:
    """websockets' `create_connection` for this relay: `base` itself, or with trusted
    proxies `base` reading their PROXY headers first."""
    if not gate.trusted:
        return base
    return type(f"Proxied{base.__name__}", (ProxiedConnection, base), {"gate": gate})
