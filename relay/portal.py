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

Email links (docs/email.md): with email alerts on, `/email/confirm` and
`/email/unsubscribe` (any `?token=`) serve the static page `email.html`, which does
nothing until its button POSTs back to the same URL; `email_action` answers those POSTs,
including RFC 8058 one-click unsubscribes from mail providers. They are the only requests
whose body the relay reads (`FormReader`: a POST, at most MAX_FORM_BYTES), and
`/portal-config.json` tells the page whether to offer email sign-up at all.

The pin map (portal/js/pin-map.js) uses Leaflet, the same 1.9.3 the console's map uses,
from the `folium-offline` package (keyed by folium's own CDN addresses, as
console/map/page.py does): `/vendor/leaflet.js` and `/vendor/leaflet.css`, read once at
start like the portal's files (from the packages' source text, not by importing them:
`_leaflet_from_source`) and cached by browsers for a year (the page asks for them
with `?v=` their hash, so a new Leaflet is a new address). The page loads them only when
the pin map is opened. /portal-config.json's `map` says where they are, whether the relay
has base map tiles (relay/tiles.py) and where the map opens.
"""

from __future__ import annotations

import ast
import email.utils
import hashlib
import http
import importlib.util
import io
import itertools
import json
import logging
import re
import tokenize
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.streams import StreamReader

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

#: the links in every email (relay/mail/compose.py builds them); GET shows email.html
EMAIL_PATHS = ("/email/confirm", "/email/unsubscribe")
CONFIG_PATH = "/portal-config.json"
#: the largest request body read: "List-Unsubscribe=One-Click" is 26 bytes, a browser's
#: multipart form of it a few hundred
MAX_FORM_BYTES = 2048
#: the sign-up's radius bounds (relay/mail/signup.py), for the page's choices
EMAIL_RADIUS_M = (100, 10_000)
#: the pin map's files: request path -> (folium's name for it, content type); kept for a
#: year, since the page names them by content (`?v=`)
VENDOR = {
    "/vendor/leaflet.js": ("leaflet", CONTENT_TYPES[".js"]),
    "/vendor/leaflet.css": ("leaflet_css", CONTENT_TYPES[".css"]),
}
VENDOR_CACHE = "public, max-age=31536000, immutable"
#: where the pin map opens with no device position and no tile pack to say better: the
#: console's map opens there too (console/map/page.py PRESTON, ZOOM)
MAP_CENTRE = (53.7590, -2.6990)
MAP_ZOOM = 14

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
        self._vendor: dict[str, _File] = {}  # /vendor/...: Leaflet, for the pin map
        self._config: _File | None = None  # /portal-config.json

    @classmethod
    def load(
        cls, root: Path = PORTAL_ROOT, email: bool = False, tiles: dict[str, Any] | None = None
    ) -> Portal:
        """`email`: this relay sends email alerts (an SMTP server is set); the page is
        told so by /portal-config.json and the email links' page is served. `tiles`: the
        base map's settings for the page (relay/tiles.py `page_config`), None for none."""
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
        if email and "/email.html" in files:
            for link in EMAIL_PATHS:
                files[link] = files["/email.html"]
        portal = cls(files)
        if files:  # what the page must know of this relay: not a file, but served as one
            portal._vendor = _vendor_files()
            settings = {
                "email": email,
                "email_radius_m": list(EMAIL_RADIUS_M) if email else None,
                "map": _map_settings(portal._vendor, tiles),
            }
            body = json.dumps(settings, separators=(",", ":")).encode()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            portal._config = _File(body, CONTENT_TYPES[".json"], etag)
        return portal

    @property
    def paths(self) -> frozenset[str]:
        """The portal/ files served (the vendor files and the config are not files there)."""
        return frozenset(self._files)

    @property
    def vendor_paths(self) -> frozenset[str]:
        return frozenset(self._vendor)

    def respond(self, request: Request) -> Response | None:
        """The answer for a portal path; None for any other path (the caller's 404 and
        websocket endpoints). The query string is ignored (cache busting, share links)."""
        path = request.path.split("?", 1)[0]
        vendor = self._vendor.get(path)
        found = self._config if path == CONFIG_PATH else vendor or self._files.get(path)
        if found is None:
            return None
        if request.method not in METHODS:
            response = _response(http.HTTPStatus.METHOD_NOT_ALLOWED, b"use GET or HEAD\n")
            response.headers["Allow"] = ", ".join(METHODS)
            return response
        if _etag_matches(request.headers.get("If-None-Match", ""), found.etag):
            response = _response(http.HTTPStatus.NOT_MODIFIED, b"", length=False)
        else:
            response = _response(http.HTTPStatus.OK, found.body, found.content_type)
        # no-cache: keep it, but ask (If-None-Match) before each use; file names carry no
        # version, so a relay upgrade must never leave a phone on last month's script
        response.headers["Cache-Control"] = "no-cache" if vendor is None else VENDOR_CACHE
        response.headers["ETag"] = found.etag
        if request.method == "HEAD":
            response.body = b""
        return response


def _vendor_files() -> dict[str, _File]:
    """Leaflet's script and style sheet from folium-offline, by folium's CDN address for
    them; none (the pin map then says it cannot be shown) when the package is missing."""
    sources = _leaflet_from_source() or _leaflet_by_import()
    if sources is None:
        return {}
    files: dict[str, _File] = {}
    for path, (name, kind) in VENDOR.items():
        content = sources.get(name)
        if content is None:
            log.warning("portal: folium-offline has no %s for this folium; no pin map", name)
            return {}
        body = content.encode()
        files[path] = _File(body, kind, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return files


def _leaflet_from_source() -> dict[str, str] | None:
    """VENDOR's files read from folium's and folium-offline's source text, not imported:
    importing them holds about 24 MB for the relay's life (folium-offline keeps every
    plugin's script as a string), and the relay needs two strings. None where the source
    is not a plain file (a PyInstaller bundle): the caller imports them then."""
    urls_src = _package_source("folium", "folium.py")
    res_src = _package_source("offlinefolium", "elements.py")
    if urls_src is None or res_src is None:
        return None
    try:
        urls: dict[str, str] = {}
        for node in ast.parse(urls_src).body:  # folium.Map's default_js and default_css
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in ("_default_js", "_default_css")
            ):
                urls.update(dict(ast.literal_eval(node.value)))
        out: dict[str, str] = {}
        for name, _ in VENDOR.values():
            content = _offline_resource(res_src, urls.get(name, ""))
            if content is not None:
                out[name] = content
        return out
    except (SyntaxError, ValueError, TypeError, tokenize.TokenError):
        return None  # a layout these packages no longer have: import them instead


def _package_source(package: str, name: str) -> str | None:
    """A module's source text, found without importing its package (find_spec of a
    top-level name runs none of its code)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / name
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _offline_resource(source: str, url: str) -> str | None:
    """The string folium-offline's elements.py assigns to `_res[url]` (one literal)."""
    start = source.find(f"_res[{url!r}] = ") if url else -1
    if start < 0:
        return None
    tokens = tokenize.generate_tokens(io.StringIO(source[start:]).readline)
    strings = [t.string for t in itertools.islice(tokens, 6) if t.type == tokenize.STRING]
    if len(strings) != 2:  # the key, then the value
        return None
    value = ast.literal_eval(strings[1])
    return value if isinstance(value, str) else None


def _leaflet_by_import() -> dict[str, str] | None:
    try:
        import folium
        from offlinefolium import elements as offline
    except ImportError:  # pragma: no cover - a broken install
        log.warning("portal: folium-offline is not installed; the pin map is not served")
        return None
    urls = dict([*folium.Map.default_js, *folium.Map.default_css])
    out = {}
    for name, _ in VENDOR.values():
        content = offline._res.get(urls.get(name, ""))
        if content is not None:
            out[name] = str(content)
    return out


def _map_settings(vendor: dict[str, _File], tiles: dict[str, Any] | None) -> dict[str, Any]:
    """The pin map's part of /portal-config.json: Leaflet's addresses (None: no map, only
    typed coordinates), the base map (None: a plain background), and where it opens: the
    pack's own centre, else the middle of its bounds, else MAP_CENTRE."""
    centre, zoom = list(MAP_CENTRE), MAP_ZOOM
    if tiles is not None and tiles.get("center"):
        lon, lat, zoom = tiles["center"]
        centre = [lat, lon]
    elif tiles is not None and tiles.get("bounds"):
        west, south, east, north = tiles["bounds"]
        centre = [(south + north) / 2, (west + east) / 2]
        zoom = max(tiles.get("minzoom") or 0, min(MAP_ZOOM, tiles.get("maxzoom") or MAP_ZOOM))
    leaflet = None
    if vendor:
        leaflet = {
            kind: f"{path}?v={vendor[path].etag.strip(chr(34))[:16]}"
            for kind, path in (("js", "/vendor/leaflet.js"), ("css", "/vendor/leaflet.css"))
        }
    return {"leaflet": leaflet, "tiles": tiles, "centre": centre, "zoom": zoom}


class EmailLinks(Protocol):
    """What `email_action` needs of relay.mail.service.Mail."""

    async def confirm(self, token: str) -> bool: ...

    async def unsubscribe(self, token: str) -> bool: ...


_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


async def email_action(request: Request, body: bytes | None, mail: EmailLinks) -> Response | None:
    """A POST to an email link: confirm the sign-up, or unsubscribe (RFC 8058 one-click:
    `List-Unsubscribe=One-Click` in the body, nothing else asked). None for anything else
    (GET and HEAD are the static page). No CSRF check is needed: the token in the URL is
    the whole capability, and a forged POST can only do what opening the link does.

    Answers in plain text, for a browser without script; email.html reads the status."""
    path, _, query = request.path.partition("?")
    if path not in EMAIL_PATHS or request.method in METHODS:
        return None
    if request.method != "POST":
        response = _response(http.HTTPStatus.METHOD_NOT_ALLOWED, b"use GET or POST\n")
        response.headers["Allow"] = "GET, HEAD, POST"
        return response
    if body is None:  # over MAX_FORM_BYTES, or chunked: never read
        return _response(http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"the form is too large\n")
    kind = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    fields = _form_fields(kind, body)
    if fields is None:
        return _response(
            http.HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"send the form as {_FORM}\n".encode()
        )
    tokens = parse_qs(query, max_num_fields=4).get("token", []) if query else []
    if len(tokens) != 1:
        return _response(http.HTTPStatus.BAD_REQUEST, b"this link has no token\n")
    if path == "/email/confirm":
        if fields.get("confirm") != "yes":
            return _response(http.HTTPStatus.BAD_REQUEST, b"press the button to confirm\n")
        if await mail.confirm(tokens[0]):
            return _response(http.HTTPStatus.OK, b"confirmed: email alerts will come\n")
        return _response(http.HTTPStatus.NOT_FOUND, b"this link is unknown or has expired\n")
    if fields.get("List-Unsubscribe") != "One-Click":
        return _response(http.HTTPStatus.BAD_REQUEST, b"send List-Unsubscribe=One-Click\n")
    if await mail.unsubscribe(tokens[0]):
        return _response(http.HTTPStatus.OK, b"unsubscribed: no more email alerts\n")
    return _response(http.HTTPStatus.NOT_FOUND, b"this unsubscribe link is unknown\n")


def _form_fields(kind: str, body: bytes) -> dict[str, str] | None:
    """The form's fields (first value of each), or None when it is not a form. A
    multipart body (some mail providers send RFC 8058's POST so) is read for its simple
    text fields only."""
    if kind == _FORM:
        try:
            text = body.decode("ascii")
            pairs = parse_qs(
                text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=8
            )
        except (UnicodeDecodeError, ValueError):
            return None
        return {k: v[0] for k, v in pairs.items()}
    if kind == _MULTIPART:
        found = re.findall(rb'name="([A-Za-z-]{1,40})"\r\n\r\n([^\r]{0,64})\r\n', body)
        return {k.decode(): v.decode("ascii", "replace") for k, v in found}
    return None


class FormReader(StreamReader):
    """websockets' stream reader, except for one thing: when the connection's first
    request is a POST whose Content-Length is at most MAX_FORM_BYTES, its body is read here
    (right after the blank line that ends the headers) into `body`, and websockets' own
    parser is shown `Content-Length: 0`, since it refuses any body (a websocket handshake
    has none). Every other request passes through untouched and is refused as before;
    frames after an upgrade are not looked at. `body` stays None unless a POST was read."""

    def __init__(self) -> None:
        super().__init__()
        self.body: bytes | None = None
        self._seen = 0  # lines of the first request read; -1 once past its headers
        self._post = False
        self._length: int | None = None
        self._refused = False

    def read_line(
        self, m: int, too_long_exc_type: type[Exception] = RuntimeError
    ) -> Generator[None, None, bytearray]:
        line = yield from super().read_line(m, too_long_exc_type)
        if self._seen < 0:
            return line
        self._seen += 1
        if self._seen == 1:
            self._post = line.startswith(b"POST ")
            return line
        if bytes(line) in (b"\r\n", b"\n"):
            self._seen = -1
            if self._post and not self._refused:
                self.body = bytes((yield from self.read_exact(self._length or 0)))
            return line
        if self._post and line[:15].lower() == b"content-length:":
            value = line[15:].strip()
            size = int(value) if value.isdigit() and len(value) <= 6 else None
            if size is None or size > MAX_FORM_BYTES or self._length not in (None, size):
                self._refused = True  # websockets sees the real header and refuses it
                return line
            self._length = size
            return bytearray(b"Content-Length: 0\r\n")
        if self._post and line[:18].lower() == b"transfer-encoding:":
            self._refused = True
        return line


class FormConnection(ServerConnection):
    """websockets' connection (its `create_connection` hook), reading through FormReader.
    Made as the TCP connection is, before any byte arrived, so the parser websockets
    primed is simply restarted on the new reader."""

    def __init__(self, protocol: ServerProtocol, *args: Any, **kwargs: Any) -> None:
        protocol.reader = FormReader()
        protocol.parser = protocol.parse()
        next(protocol.parser)
        super().__init__(protocol, *args, **kwargs)


def form_body(conn: ServerConnection) -> bytes | None:
    reader = conn.protocol.reader
    return reader.body if isinstance(reader, FormReader) else None


def _etag_matches(header: str, etag: str) -> bool:
    """Whether an If-None-Match `header` names `etag` (weak comparison, RFC 9110 13.1.2):
    `*` matches any current representation, and every answer here has one."""
    tags = {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}
    return "*" in tags or etag.removeprefix("W/") in tags


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
