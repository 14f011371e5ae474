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
