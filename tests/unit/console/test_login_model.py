"""Trust on first use, decided without Qt (where pins live is the dialog's business)."""

from __future__ import annotations

from console.login.model import check_trust, relay_key


class Pins:
    def __init__(self, pins: dict[str, str]) -> None:
        self.pins = pins

    def pinned(self, url: str) -> str | None:
        return self.pins.get(relay_key(url))


def test_new_then_pinned_then_changed() -> None:
    url = "wss://relay.example:8765"
    assert check_trust(Pins({}), url, "AA:BB") == "new"
    pins = Pins({relay_key(url): "AA:BB"})
    assert check_trust(pins, url, "aa:bb") == "pinned"  # fingerprints compare any case
    assert check_trust(pins, url, "CC:DD") == "changed"
    assert check_trust(pins, "wss://other:1", "AA:BB") == "new"


def test_one_key_per_relay_address() -> None:
    assert relay_key(" wss://relay.example:8765/ ") == relay_key("wss://relay.example:8765")
    assert "/" not in relay_key("wss://relay.example:8765/v1")  # a settings group separator
    assert relay_key("wss://a:1") != relay_key("wss://b:1")


def test_the_password_form_says_what_it_can_tell_alone() -> None:
    from console.login.model import password_form_problem

    good = "quiet orchard lamplight 42"
    assert password_form_problem("old one", good, good, "123456") is None
    assert "Fill in" in str(password_form_problem("", good, good, "123456"))
    assert "differ" in str(password_form_problem("old one", good, good + "x", "123456"))
    assert "8 characters" in str(password_form_problem("old one", "short", "short", "123456"))
    assert "current one" in str(password_form_problem(good, good, good, "123456"))
    assert "6 digits" in str(password_form_problem("old one", good, good, "12ab56"))
