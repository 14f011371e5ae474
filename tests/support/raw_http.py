"""One raw HTTP/1.1 exchange over TLS: the request's bytes exactly as a test writes them
(a forged Host, a path no client library would send), the whole answer back."""

from __future__ import annotations

import socket
import ssl


def exchange(host: str, port: int, ctx: ssl.SSLContext, request: bytes) -> bytes:
    with (
        socket.create_connection((host, port), timeout=10) as sock,
        ctx.wrap_socket(sock, server_hostname=host) as tls,
    ):
        tls.sendall(request)
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
