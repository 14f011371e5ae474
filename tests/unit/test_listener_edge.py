"""relay/listener.py check_edge: which listener settings a relay refuses to start with, and
the serve flags that set them."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay import cli
from relay.config import RelayConfig
from relay.listener import AcceptGate, check_edge
from relay.metrics import Metrics
from relay.ratelimit import AddressCounts, Penalties


def config(**kw: object) -> RelayConfig:
    return RelayConfig(data_dir=Path("/nonexistent"), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.5"])
def test_plain_on_loopback_needs_no_proxies(host: str) -> None:
    assert check_edge(config(tls="proxy", host=host)) == ()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.0.0.2", "relay.example.org"])
def test_plain_elsewhere_needs_the_balancers_named(host: str) -> None:
    with pytest.raises(ValueError, match="only with trusted_proxies"):
        check_edge(config(tls="proxy", host=host))
    nets = check_edge(config(tls="proxy", host=host, trusted_proxies=("10.0.0.5", "fd00::/8")))
    assert [str(n) for n in nets] == ["10.0.0.5/32", "fd00::/8"]


def test_proxy_headers_need_tls_at_the_proxy() -> None:
    with pytest.raises(ValueError, match='trusted_proxies needs tls = "proxy"'):
        check_edge(config(trusted_proxies=("10.0.0.5/32",)))


def test_unknown_tls_mode_and_bad_proxy_entries() -> None:
    with pytest.raises(ValueError, match="tls must be one of relay, proxy"):
        check_edge(config(tls="haproxy"))
    with pytest.raises(ValueError, match="trusted_proxies: 'ten' is not an address"):
        check_edge(config(tls="proxy", trusted_proxies=("ten",)))


def test_the_gate_resets_everyone_but_the_proxies_and_counts_them_at_the_header() -> None:
    cfg = config(tls="proxy", host="0.0.0.0", trusted_proxies=("10.0.0.5/32",))
    gate = AcceptGate(cfg, AddressCounts(), Penalties(100), Metrics())
    assert gate.admit(("10.0.0.5", 1234)) == (True, None)  # its header decides
    assert gate.admit(("::ffff:10.0.0.5", 1234)) == (True, None)
    assert gate.admit(("10.0.0.6", 1234)) == (False, None)
    assert gate.admit_address(("203.0.113.7", 1)) == (True, "203.0.113.7")


def test_serve_flags_set_the_edge_keys() -> None:
    args = cli.build_parser().parse_args(
        ["serve", "--data-dir", "/tmp/x", "--tls", "proxy", "--trusted-proxy", "10.0.0.5/32"]
    )
    settings = cli.serve_settings(args)
    assert settings["tls"] == "proxy"
    assert list(settings["trusted_proxies"]) == ["10.0.0.5/32"]  # type: ignore[call-overload]


def test_serve_refuses_plain_on_every_interface_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "--data-dir", str(tmp_path), "--tls", "proxy", "--host", "0.0.0.0"]
    assert cli.main([*argv, "--no-metrics"]) == 1
    err = capsys.readouterr().err
    assert err.startswith('the relay could not start: tls = "proxy" serves plain ws://'), err
    assert "trusted_proxies" in err and len(err.strip().splitlines()) == 1
