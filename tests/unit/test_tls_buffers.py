"""asyncio's TLS read buffer, small and shared by every connection (relay/tls_buffers.py)."""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import inspect
import os
from pathlib import Path
from typing import Any

from relay import tls_buffers
from relay.tls import client_ssl_context, ensure_certificates, server_ssl_context


def test_asyncio_still_reads_tls_the_way_the_patch_assumes() -> None:
    """The patch relies on these private details of CPython's sslproto; a Python upgrade
    that changes them fails here, instead of the relay silently using 16-256 KB more per
    phone (or reading from a buffer it no longer fills)."""
    proto: Any = tls_buffers._ORIGINAL  # asyncio's own, whether or not install() ran
    assert "bytearray(self.max_size)" in inspect.getsource(proto.__init__)
    # LeanSSLProtocol: the backlog is used only as a list can be, and made by that name
    backlog = {
        line.strip() for line in inspect.getsource(proto).splitlines() if "_write_backlog" in line
    }
    assert backlog == {
        "self._write_backlog = collections.deque()",
        "self._write_backlog.clear()",
        "self._write_backlog.append(data)",
        "while self._write_backlog:",
        "data = self._write_backlog[0]",
        "self._write_backlog[0] = data[count:]",
        "del self._write_backlog[0]",
        "if self._write_backlog:",
    }
    made = inspect.getsource(inspect.getmodule(asyncio.selector_events))  # type: ignore[arg-type]
    assert "ssl_protocol = sslproto.SSLProtocol(" in made
    # buffer_updated copies out of the view get_buffer handed over, before anything else
    updated = inspect.getsource(proto.buffer_updated).splitlines()
    body = [line.strip() for line in updated[1:] if line.strip()]
    assert body[0] == "self._incoming.write(self._ssl_buffer_view[:nbytes])"


def test_install_shrinks_and_shares_the_read_buffer() -> None:
    tls_buffers.install()
    tls_buffers.install()  # idempotent
    proto: Any = asyncio.sslproto.SSLProtocol
    assert tls_buffers.installed()
    assert proto.max_size == tls_buffers.TLS_READ_BUFFER == 16 * 1024
    assert proto is tls_buffers.LeanSSLProtocol


async def test_connections_share_one_buffer_and_read_every_byte(tmp_path: Path) -> None:
    """Three TLS connections, each sending 200 KB (many buffers' worth) at once: each gets
    its own bytes back intact, and all three server sides hold the same one buffer."""
    tls_buffers.install()
    files = ensure_certificates(tmp_path)
    server_protocols: list[Any] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server_protocols.append(writer.transport._ssl_protocol)  # type: ignore[attr-defined]
        try:
            writer.write(await reader.readexactly(200_000))
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(
        echo, "127.0.0.1", 0, ssl=server_ssl_context(files.server_cert, files.server_key)
    )
    port = server.sockets[0].getsockname()[1]

    async def one() -> tuple[bytes, bytes]:
        payload = os.urandom(200_000)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ssl_context(files.ca_cert), server_hostname="127.0.0.1"
        )
        try:
            writer.write(payload)
            await writer.drain()
            return payload, await reader.readexactly(len(payload))
        finally:
            writer.close()

    try:
        async with asyncio.timeout(30):
            results = await asyncio.gather(one(), one(), one())
    finally:
        server.close()
        await server.wait_closed()
    for sent, echoed in results:
        assert echoed == sent
    assert len(server_protocols) == 3
    buffers = {id(p._ssl_buffer) for p in server_protocols}
    assert len(buffers) == 1
    assert len(server_protocols[0]._ssl_buffer) == tls_buffers.TLS_READ_BUFFER
    for p in server_protocols:  # lean: slots, a list backlog, nearly nothing in a dict
        assert isinstance(p, tls_buffers.LeanSSLProtocol)
        assert isinstance(p._write_backlog, list)
        assert set(vars(p)) <= {n for n in dir(tls_buffers._ORIGINAL) if not n.startswith("__")}
