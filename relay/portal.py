"""The citizens' web portal: the static files of `portal/`, served on the relay's TLS port
beside `/v1/citizen` (websockets' `process_request` hook hands every plain HTTP request
here first).

Why it is this small: the portal is a handful of files that never change while the relay
runs, so they are read once at start into an allowlist keyed by the exact request path.
A path that is not a key is not served: no file system lookup happens per request, so
there is nothing to traverse (`..`, `%2e%2e`, `//`, backslashes, NUL), no directory to
list and no dotfile or Python source to leak. Everything else about a response (types,
the Content-Security-Policy, caching) is decided here, in one place; docs/portal.md is
the operator's description of the same rules.
"""

from __future__ import annotations

import email.utils
import hashlib
import http
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

log = logging.getLogger(__name__)

#: the static files, beside the relay package in a checkout, an installed wheel
#: (package data) and the PyInstaller bundle (_internal/portal/) alike
PORTAL_ROOT = Path(__file__).resolve().parents[1] / "portal"

#: the only kinds of file served, by suffix; anything else under portal/ stays private
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
METHODS = ("GET", "HEAD")

#: a Host header the CSP may name as the websocket origin: a DNS name or an address, and a
#: port. Anything else (it is the client's text) is left out, and 'self' still applies.
_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$"
)


def content_security_policy(host: str | None) -> str:
    """No inline script or style, nothing from another origin, no framing; the websocket
    back to this same host only. (CSP 3 lets 'self' match wss: on an https page, but not
    every browser in use does, so the host is named too.)"""
    connect = "'self'"
    if host is not None and _HOST.match(host):
        connect += f" wss://{host}"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' blob: data:",
            "media-src 'self' blob:",
            f"connect-src {connect}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ]
    )


def harden(response: Response, request: Request) -> Response:
    """The headers every HTTP answer of the relay's TLS port carries (portal file, 404,
    /healthz, 429 alike): a browser that opens any of them gets the same strict policy."""
    h = response.headers
    h["Content-Security-Policy"] = content_security_policy(request.headers.get("Host"))
    h["X-Content-Type-Options"] = "nosniff"
    h["Referrer-Policy"] = "no-referrer"
    h["X-Frame-Options"] = "DENY"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["Cross-Origin-Resource-Policy"] = "same-origin"
    h["Permissions-Policy"] = "geolocation=(self), camera=(self), microphone=(), interest-cohort=()"
    # a year, this host only: the relay cannot know what else lives under its domain
    h["Strict-Transport-Security"] = "max-age=31536000"
    if "Cache-Control" not in h:
        h["Cache-Control"] = "no-store"
    return response


@dataclass(frozen=True)
class _File:
    body: bytes
    content_type: str
    etag: str


class Portal:
    """The allowlist: request path -> file. Build with `Portal.load()`."""

    def __init__(self, files: dict[str, _File]) -> None:
        self._files = files

    @classmethod
    def load(cls, root: Path = PORTAL_ROOT) -> Portal:
        files: dict[str, _File] = {}
        if not root.is_dir():
            log.warning("portal: no files at %s; the web portal is not served", root)
            return cls(files)
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if not path.is_file() or any(p.startswith((".", "_")) for p in rel.parts):
                continue  # dotfiles, __init__.py, __pycache__
            kind = CONTENT_TYPES.get(path.suffix)
            if kind is None:
                continue
            body = path.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            files["/" + rel.as_posix()] = _File(body, kind, etag)
        if "/index.html" in files:
            files["/"] = files["/index.html"]
        return cls(files)

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(self._files)

    def respond(self, request: Request) -> Response | None:
        """The answer for a portal path; None for any other path (the caller's 404 and
        websocket endpoints). The query string is ignored (cache busting, share links)."""
        found = self._files.get(request.path.split("?", 1)[0])
        if found is None:
            return None
        if request.method not in METHODS:
            response = _response(http.HTTPStatus.METHOD_NOT_ALLOWED, b"use GET or HEAD\n")
            response.headers["Allow"] = ", ".join(METHODS)
            return response
        if found.etag in _etags(request.headers.get("If-None-Match", "")):
            response = _response(http.HTTPStatus.NOT_MODIFIED, b"", length=False)
        else:
            response = _response(http.HTTPStatus.OK, found.body, found.content_type)
        # no-cache: keep it, but ask (If-None-Match) before each use; file names carry no
        # version, so a relay upgrade must never leave a phone on last month's script
        response.headers["Cache-Control"] = "no-cache"
        response.headers["ETag"] = found.etag
        if request.method == "HEAD":
            response.body = b""
        return response


def _etags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}


def _response(
    status: http.HTTPStatus,
    body: bytes,
    content_type: str = "text/plain; charset=utf-8",
    length: bool = True,
) -> Response:
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),  # websockets closes the socket after any non-101 answer
        ]
    )
    if length:
        headers["Content-Length"] = str(len(body))
        headers["Content-Type"] = content_type
    return Response(status.value, status.phrase, headers, body)
