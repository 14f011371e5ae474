"""`lookout-relay serve --config FILE`: the TOML reader, precedence, and the shipped example."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from relay import cli
from relay.config import FILE_ONLY_KEYS, ConfigError, RelayConfig, read_config_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "installer" / "deb" / "relay.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "relay.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_values_are_typed_and_relative_paths_follow_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'data_dir = "data"\ncert = "/etc/x.pem"\nport = 9000\nlogin_delay_s = 2\n'
        'hostnames = ["relay.example.org"]\nmetrics = false\n',
    )
    got = read_config_file(path)
    assert got == {
        "data_dir": tmp_path.resolve() / "data",
        "cert": Path("/etc/x.pem"),
        "port": 9000,
        "login_delay_s": 2.0,
        "hostnames": ("relay.example.org",),
        "metrics": False,
    }
    assert isinstance(got["login_delay_s"], float)  # an integer where a number is wanted


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prot = 8765", "unknown key 'prot' (did you mean 'port'?)"),
        ("[limits]\nport = 1", "unknown table key 'limits'"),
        ('port = "8765"', "port must be an integer, not a string ('8765')"),
        ("port = 70000", "port 70000 is not a TCP port (0-65535)"),
        ("approval_threshold = 2.5", "approval_threshold must be an integer, not a number"),
        ("metrics = 1", "metrics must be a boolean, not an integer"),
        ("login_delay_s = -1", "login_delay_s must not be negative"),
        ("keepalive_s = true", "keepalive_s must be a number, not a boolean"),
        ("hostnames = 'a'", "hostnames must be an array of strings, not a string"),
        ("address_allowlist = [1]", "address_allowlist must be an array of strings"),
        ("data_dir = 5", "data_dir must be a path (a string), not an integer"),
        ("port = ", "not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_in_one_line_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text + "\n")
    with pytest.raises(ConfigError) as caught:
        read_config_file(path)
    assert message in str(caught.value) and str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file .*No such file"):
        read_config_file(tmp_path / "nope.toml")


def test_the_command_line_wins_over_the_file_and_the_file_over_the_defaults(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, 'host = "0.0.0.0"\nport = 9000\napproval_threshold = 7\n')
    args = cli.build_parser().parse_args(["serve", "--config", str(path), "--port", "9100"])
    got = cli.serve_settings(args)
    assert got["port"] == 9100 and got["host"] == "0.0.0.0" and got["approval_threshold"] == 7
    assert got["metrics_port"] == cli.DEFAULT_METRICS_PORT and got["metrics"] is True
    assert "data_dir" not in got
    off = cli.build_parser().parse_args(["serve", "--config", str(path), "--no-metrics"])
    assert cli.serve_settings(off)["metrics"] is False


def test_cap_sender_name_comes_from_the_command_line_or_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'cap_sender_name = "Lancashire Constabulary"\n')
    from_file = cli.build_parser().parse_args(["serve", "--config", str(path)])
    assert cli.serve_settings(from_file)["cap_sender_name"] == "Lancashire Constabulary"
    given = ["serve", "--config", str(path), "--cap-sender-name", "Cumbria Constabulary"]
    got = cli.serve_settings(cli.build_parser().parse_args(given))
    assert got["cap_sender_name"] == "Cumbria Constabulary"
    assert "cap_sender_name" not in cli.serve_settings(cli.build_parser().parse_args(["serve"]))


def test_serve_with_a_bad_key_exits_2_with_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, f'data_dir = "{tmp_path}"\nconections_per_address = 3\n')
    assert cli.main(["serve", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"{path}: unknown key 'conections_per_address' (did you mean 'connections_per_address'?)\n"
    )
    assert not (tmp_path / "relay.sqlite").exists()  # refused before anything started


def test_serve_without_a_data_dir_anywhere_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", "--config", str(write(tmp_path, "port = 0\n"))]) == 2
    assert "give --data-dir DIR, or data_dir in the --config file" in capsys.readouterr().err


def test_the_example_lists_every_key_with_its_default(tmp_path: Path) -> None:
    """Uncommented, installer/deb/relay.toml must parse, name every key once, and give
    each its built-in default (the few it sets for a packaged relay aside)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    settings = re.compile(r"^# ?([a-z_0-9]+ = .*)$", re.M)
    uncommented = settings.sub(r"\1", text)
    names = re.findall(r"^([a-z_0-9]+) = ", uncommented, re.M)
    assert len(names) == len(set(names))
    fields = {f.name: f for f in dataclasses.fields(RelayConfig)}
    assert set(names) == set(fields) | set(FILE_ONLY_KEYS)
    got = read_config_file(write(tmp_path, uncommented))
    active = read_config_file(EXAMPLE)
    assert active == {"host": "0.0.0.0", "port": 8765, "data_dir": Path("/var/lib/lookout")}
    defaults = RelayConfig(data_dir=Path("/var/lib/lookout"))
    examples_only = {
        "database_url",
        "cert",
        "key",
        "secrets_key",
        "smtp_ca",
        "portal_tiles",
    }  # default None: no value
    for name in fields:
        if name in examples_only or name in active:
            continue
        want = cli.SERVE_DEFAULTS.get(name, getattr(defaults, name))
        assert got[name] == want, name
    assert got["metrics"] is cli.SERVE_DEFAULTS["metrics"]
