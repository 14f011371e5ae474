"""The portal's source, read as text: one catalogue per language with the same keys and
placeholders, every key the page uses present, the protocol's values the same as
`backend_client`'s, and none of the things the CSP would block or that would parse text
as HTML."""

from __future__ import annotations

import json
import re
from typing import get_args

import pytest

from backend_client import messages as m
from relay.portal import PORTAL_ROOT

LANGS = ("en", "cy")
HTML = (PORTAL_ROOT / "index.html").read_text(encoding="utf-8")
SCRIPTS = {p.name: p.read_text(encoding="utf-8") for p in sorted((PORTAL_ROOT / "js").glob("*.js"))}


def catalogue(lang: str) -> dict[str, str]:
    data = json.loads((PORTAL_ROOT / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_every_language_has_every_key_with_the_same_placeholders() -> None:
    english = catalogue("en")
    for lang in LANGS[1:]:
        other = catalogue(lang)
        assert set(other) == set(english), set(other) ^ set(english)
        for key, text in english.items():
            assert isinstance(other[key], str) and other[key].strip(), (lang, key)
            assert placeholders(other[key]) == placeholders(text), (lang, key)


def used_keys() -> set[str]:
    keys = set(re.findall(r'data-i18n(?:-aria-label)?="([^"]+)"', HTML))
    for text in SCRIPTS.values():
        keys |= set(re.findall(r'\bt\("([a-z_.]+)"', text))
        keys |= {k + ".other" for k in re.findall(r'\bplural\("([a-z_.]+)"', text)}
    return keys


def test_every_key_the_page_uses_is_in_the_catalogue() -> None:
    keys = used_keys()
    assert len(keys) > 40  # the pattern finds them (a broken regex would pass vacuously)
    missing = keys - set(catalogue("en"))
    assert not missing, missing
    for lang in LANGS:
        assert f"language.{lang}" in catalogue(lang)


def js_array(name: str) -> list[str]:
    found = re.search(rf"export const {name} = \[([^\]]*)\]", SCRIPTS["protocol.js"])
    assert found, name
    return re.findall(r'"([^"]+)"', found.group(1))


def test_the_portal_speaks_the_protocols_categories_and_statuses() -> None:
    assert js_array("CATEGORIES") == list(m.CATEGORIES)
    assert js_array("REPORT_STATUSES") == list(get_args(m.ReportStatus))
    english = catalogue("en")
    for name in m.CATEGORIES:
        assert f"category.{name}" in english
    for status in get_args(m.ReportStatus):
        assert f"status.{status}" in english


def test_no_inline_script_or_style_in_the_page() -> None:
    for tag in re.findall(r"<script\b[^>]*>", HTML):
        assert 'src="/' in tag, tag
    assert re.search(r"<script\b[^>]*>\s*[^<\s]", HTML) is None  # no script body
    assert "<style" not in HTML
    assert re.search(r"\sstyle=", HTML) is None
    assert re.search(r"\son[a-z]+=", HTML) is None


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_scripts_never_parse_text_as_html_or_code(name: str) -> None:
    text = SCRIPTS[name]
    for banned in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        'setAttribute("on',
    ):
        assert banned not in text, (name, banned)


def test_nothing_refers_to_another_host() -> None:
    files = [HTML, *SCRIPTS.values(), (PORTAL_ROOT / "app.css").read_text(encoding="utf-8")]
    for text in files:
        assert re.search(r"(?:https?|wss?)://(?!\$\{location\.host\})", text) is None
