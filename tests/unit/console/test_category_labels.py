"""Categories read the same everywhere: one label (`rules.category_label`) in the feed,
the report pane, the map's popups and legend, alerts, the dashboard and a pilot's
timeline. Issue 13 found three namings ('antisocial' on the map, 'Anti-social' in the
feed, 'missing person' in the pilot timeline); this keeps them one."""

from __future__ import annotations

import re
from pathlib import Path

from backend_client import rules
from backend_client.pilots.model import ReportInject
from backend_client.pilots.schedule import _inject_label

ROOT = Path(__file__).resolve().parents[3]


def test_the_map_page_is_given_the_shared_labels_and_its_popup_uses_them() -> None:
    from console.map.page import page_config

    assert page_config()["categoryLabels"] == rules.CATEGORY_LABELS
    js = (ROOT / "resources/map/lookout-map.js").read_text(encoding="utf-8")
    assert 'el("span", "lk-popup-cat", words(r.cat))' not in js
    assert "cfg.categoryLabels" in js


def test_a_pilots_timeline_names_the_category_as_the_feed_does() -> None:
    inject = ReportInject(id="i1", at_s=0.0, text="A child is missing", category="missing_person")
    assert _inject_label(inject) == "Scripted Missing person report: A child is missing"


def test_no_screen_spells_a_category_out_by_itself() -> None:
    """A category turned into words by hand (`category.replace('_', ' ')`) is a second
    naming; the check is first pointed at such a line, to prove it can fail."""
    pattern = re.compile(r"categor\w*\.replace\(\s*['\"]_['\"]")
    assert pattern.search("f\"{inject.category.replace('_', ' ')}\"")
    offenders = [
        str(p.relative_to(ROOT))
        for folder in ("console", "backend_client")
        for p in (ROOT / folder).rglob("*.py")
        if pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []
