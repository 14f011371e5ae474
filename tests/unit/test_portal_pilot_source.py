"""portal/js/pilot.js against the relay it talks to: the invite alphabet and length are
backend_client.rules', and each `not_found` reason the page tells apart by its words is
still worded so by relay/pilots.py (else the page would say "not known" for a used code)."""

from __future__ import annotations

import re

from backend_client import rules
from relay import pilots
from relay.portal import PORTAL_ROOT

SOURCE = (PORTAL_ROOT / "js" / "pilot.js").read_text(encoding="utf-8")


def test_the_code_rules_are_the_relays() -> None:
    assert f'INVITE_ALPHABET = "{rules.INVITE_ALPHABET}"' in SOURCE
    assert f"INVITE_CODE_LENGTH = {rules.INVITE_CODE_LENGTH};" in SOURCE


def test_each_reason_the_page_tells_apart_matches_exactly_one_relay_message() -> None:
    reasons = dict(re.findall(r'\["([^"]+)", "(pilot\.error_\w+)"\]', SOURCE))
    assert set(reasons.values()) == {"pilot.error_used", "pilot.error_expired", "pilot.error_ended"}
    messages = {
        "pilot.error_used": pilots.USED_CODE,
        "pilot.error_expired": pilots.EXPIRED_CODE,
        "pilot.error_ended": pilots.ENDED,
    }
    for words, key in reasons.items():
        matching = [k for k, text in messages.items() if words in text]
        assert matching == [key], (words, matching)
        assert words not in pilots.WRONG_CODE
