"""A relay started from a config file, as the systemd unit starts it: over TLS on loopback."""

from __future__ import annotations

import asyncio
import http.client
import ssl
import subprocess
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect

from backend_client import CITIZEN_PATH
from relay import tls
from tests.support.serving import serving

CLI = [sys.executable, "-m", "relay.cli"]


def test_serve_from_a_config_file_with_a_flag_over_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "relay.toml"
    config.write_text(
        # host: overridden on the command line below; data_dir: relative to the file
        'host = "127.0.0.2"\nport = 0\ndata_dir = "data"\nmetrics_port = 0\n'
        'hostnames = ["localhost", "127.0.0.1"]\nauth_deadline_s = 0.5\n',
        encoding="utf-8",
    )
    with serving(
        [*CLI, "serve", "--config", str(config), "--host", "127.0.0.1"], "metrics: http"
    ) as served:
        text = served.text
        url = served.url
        assert url.startswith("wss://127.0.0.1:")  # the flag won over the file's 127.0.0.2
        ca = data / "tls" / "ca.pem"
        assert ca.exists()  # data_dir came from the file, relative to it
        port = int(url.rsplit(":", 1)[1])

        ctx = ssl.create_default_context(cafile=str(ca))
        https = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        https.request("GET", "/healthz")
        reply = https.getresponse()
        assert (reply.status, reply.read()) == (200, b"ok\n")
        https.close()

        metrics_url = text.split("metrics: ")[1].split()[0]
        host, mport = metrics_url.split("//")[1].split("/")[0].rsplit(":", 1)
        plain = http.client.HTTPConnection(host, int(mport), timeout=10)
        plain.request("GET", "/metrics")
        assert plain.getresponse().status == 200
        plain.close()

        async def silent_socket_is_closed() -> tuple[int | None, float]:
            started = time.monotonic()
            async with connect(url + CITIZEN_PATH, ssl=tls.client_ssl_context(ca)) as ws:
                await asyncio.wait_for(ws.wait_closed(), timeout=8)
                return ws.close_code, time.monotonic() - started

        code, took = asyncio.run(silent_socket_is_closed())
        # the file's auth_deadline_s (0.5 s, not the default 10 s) reached the relay
        assert code == 1008 and took < 5
    assert served.proc.returncode == 0


def test_serve_with_a_bad_type_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "relay.toml"
    config.write_text(f'data_dir = "{tmp_path}"\nport = "8765"\n', encoding="utf-8")
    done = subprocess.run(
        [*CLI, "serve", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr == f"{config}: port must be an integer, not a string ('8765')\n"
