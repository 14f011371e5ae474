"""The portal's static files over the relay's real TLS port: only allowlisted files, only
GET and HEAD, the right types, and the strict headers on every HTTP answer (portal file,
404, 405, 304, /healthz), with the portal on and off. Requests are written by hand on a
TLS socket, so nothing normalises a hostile path before the relay sees it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from relay.portal import PORTAL_ROOT, Portal
from tests.conftest import RunningRelay, start_relay
from tests.support.flows import device
from tests.support.raw_http import exchange as _exchange

NOT_FOUND = "no such endpoint: use /v1/officer, /v1/citizen or /healthz\n"
STRICT = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000",
}
CSP_PARTS = (
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob: data:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
)


class Answer:
    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("iso-8859-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


async def ask(r: RunningRelay, method: str, path: str, *extra: str) -> Answer:
    url = urlsplit(r.relay.url)  # type: ignore[attr-defined]
    host, port = url.hostname or "", url.port or 0
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", *extra, "", ""]
    raw = await asyncio.to_thread(_exchange, host, port, r.ssl, "\r\n".join(lines).encode())
    return Answer(raw)


def assert_strict(a: Answer, r: RunningRelay) -> None:
    for name, value in STRICT.items():
        assert a.header(name) == value, (name, a.headers)
    csp = a.header("Content-Security-Policy")
    for part in CSP_PARTS:
        assert part in csp, (part, csp)
    port = r.relay.port  # type: ignore[attr-defined]
    assert f"connect-src 'self' wss://127.0.0.1:{port}" in csp, csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


@pytest.fixture
async def portal_relay(tmp_path: Path) -> AsyncIterator[RunningRelay]:
    r = await start_relay(tmp_path / "relay")
    try:
        yield r
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]


async def test_root_is_index_html_with_the_strict_headers(portal_relay: RunningRelay) -> None:
    a = await ask(portal_relay, "GET", "/")
    assert a.status == 200
    assert a.header("Content-Type") == "text/html; charset=utf-8"
    assert a.body == (PORTAL_ROOT / "index.html").read_bytes()
    assert a.header("Content-Length") == str(len(a.body))
    assert a.header("Cache-Control") == "no-cache" and a.header("ETag")
    assert_strict(a, portal_relay)
    again = await ask(portal_relay, "GET", "/index.html?from=qr")
    assert again.body == a.body


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/app.css", "text/css; charset=utf-8"),
        ("/js/app.js", "text/javascript; charset=utf-8"),
        ("/js/link.js", "text/javascript; charset=utf-8"),
        ("/i18n/en.json", "application/json"),
        ("/i18n/cy.json", "application/json"),
    ],
)
async def test_each_kind_of_file_has_its_type(
    portal_relay: RunningRelay, path: str, kind: str
) -> None:
    a = await ask(portal_relay, "GET", path)
    assert a.status == 200 and a.header("Content-Type") == kind
    assert a.body == (PORTAL_ROOT / path.lstrip("/")).read_bytes()
    assert_strict(a, portal_relay)


async def test_head_has_the_length_and_no_body(portal_relay: RunningRelay) -> None:
    a = await ask(portal_relay, "HEAD", "/js/app.js")
    assert a.status == 200 and a.body == b""
    assert a.header("Content-Length") == str((PORTAL_ROOT / "js" / "app.js").stat().st_size)
    assert_strict(a, portal_relay)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
async def test_other_methods_are_refused(portal_relay: RunningRelay, method: str) -> None:
    a = await ask(portal_relay, method, "/index.html")
    assert a.status == 405 and a.header("Allow") == "GET, HEAD"
    assert_strict(a, portal_relay)


async def test_an_unchanged_file_answers_304(portal_relay: RunningRelay) -> None:
    etag = (await ask(portal_relay, "GET", "/app.css")).header("ETag")
    a = await ask(portal_relay, "GET", "/app.css", f"If-None-Match: {etag}")
    assert a.status == 304 and a.body == b"" and a.header("ETag") == etag
    assert_strict(a, portal_relay)
    other = await ask(portal_relay, "GET", "/app.css", 'If-None-Match: "stale"')
    assert other.status == 200 and other.body


async def test_if_none_match_star_answers_304_for_an_existing_file(
    portal_relay: RunningRelay,
) -> None:
    etag = (await ask(portal_relay, "GET", "/app.css")).header("ETag")
    for header in ("If-None-Match: *", 'If-None-Match: "stale", *'):
        a = await ask(portal_relay, "GET", "/app.css", header)
        assert a.status == 304 and a.body == b"" and a.header("ETag") == etag, header
    missing = await ask(portal_relay, "GET", "/no-such-file.css", "If-None-Match: *")
    assert missing.status == 404


@pytest.mark.parametrize(
    "path",
    [
        "/../pyproject.toml",
        "/js/../../relay/portal.py",
        "/%2e%2e/relay/config.py",
        "/js/%2e%2e/%2e%2e/pyproject.toml",
        "/..%2fpyproject.toml",
        "//etc/passwd",
        "/js/",
        "/js",
        "/i18n/",
        "/__init__.py",
        "/__pycache__/",
        "/.git/config",
        "/index.html%00.png",
        "/index.html/",
        "/JS/APP.JS",
        "/js\\..\\..\\pyproject.toml",
        "/nope.js",
        "/v1/nope",
        "/metrics",
    ],
)
async def test_anything_not_on_the_allowlist_is_the_plain_404(
    portal_relay: RunningRelay, path: str
) -> None:
    a = await ask(portal_relay, "GET", path)
    assert a.status == 404, (path, a.status)
    assert a.body.decode() == NOT_FOUND
    assert_strict(a, portal_relay)


async def test_healthz_and_the_websocket_endpoints_still_work(portal_relay: RunningRelay) -> None:
    a = await ask(portal_relay, "GET", "/healthz")
    assert a.status == 200 and a.body == b"ok\n"
    assert_strict(a, portal_relay)
    plain = await ask(portal_relay, "GET", "/v1/citizen")
    assert plain.status == 426
    assert_strict(plain, portal_relay)
    cit, reg = await device(portal_relay)  # a real websocket beside the portal
    assert reg.device_id
    await cit.close()


async def test_a_host_header_that_is_not_a_host_is_not_echoed(portal_relay: RunningRelay) -> None:
    url = urlsplit(portal_relay.relay.url)  # type: ignore[attr-defined]
    request = b"GET / HTTP/1.1\r\nHost: evil.example; script-src *\r\n\r\n"
    raw = await asyncio.to_thread(
        _exchange, url.hostname or "", url.port or 0, portal_relay.ssl, request
    )
    csp = Answer(raw).header("Content-Security-Policy")
    assert "connect-src 'self';" in csp and "evil" not in csp


async def test_portal_disabled_serves_nothing_but_keeps_the_headers(tmp_path: Path) -> None:
    r = await start_relay(tmp_path / "relay", portal_enabled=False)
    try:
        for path in ("/", "/index.html", "/js/app.js"):
            a = await ask(r, "GET", path)
            assert a.status == 404 and a.body.decode() == NOT_FOUND
            assert_strict(a, r)
        assert (await ask(r, "GET", "/healthz")).status == 200
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]


def test_the_allowlist_leaves_out_dotfiles_python_and_unknown_kinds(tmp_path: Path) -> None:
    root = tmp_path / "portal"
    for name in (
        "index.html",
        "js/a.js",
        ".env",
        ".hidden/x.js",
        "__init__.py",
        "__pycache__/x.js",
        "js/_private.js",
        "notes.txt",
        "server.py",
        "i18n/en.json",
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x", encoding="utf-8")
    assert Portal.load(root).paths == {"/", "/index.html", "/js/a.js", "/i18n/en.json"}
    assert Portal.load(tmp_path / "absent").paths == frozenset()


def test_the_shipped_portal_is_all_on_the_allowlist() -> None:
    """Every file of portal/ but the package marker is served: nothing is silently left out
    by a suffix the handler does not know."""
    shipped = {
        "/" + p.relative_to(PORTAL_ROOT).as_posix()
        for p in PORTAL_ROOT.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.name != "__init__.py"
    }
    assert shipped and shipped | {"/"} == Portal.load().paths
