"""The relay refuses NUL in a request's text (`relay.endpoint.has_nul`): PostgreSQL's
text type cannot hold one, so it failed the write as `internal`. The codec still round
trips it literally; only what the relay stores is refused."""

from __future__ import annotations

import json

from relay.endpoint import has_nul


def _frame(text: str) -> str:
    return json.dumps({"type": "report.note", "v": 1, "id": "n1", "text": text})


def test_a_nul_anywhere_is_found() -> None:
    for text in ("\x00", "a\x00b", "\\\x00", "ok \\\\ then \x00"):
        assert has_nul(_frame(text)) and has_nul(_frame(text).encode()), repr(text)


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul() -> None:
    for text in ("\\u0000", "\\\\\\u0000x", "plain", "\u2028\x01\x1f"):
        assert not has_nul(_frame(text)), repr(text)
