"""docs/grafana-lookout.json graphs the relay's real metrics (issue 14, deliverable 4):
every metric name in every panel's expression is one the relay's registry exposes, and
every latency histogram the relay keeps has a panel."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from relay.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-lookout.json"
_NAME = re.compile(r"\b((?:lookout|process)_[a-z0-9_]+)")
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
    "info": ("_info",),
}


def _exposed() -> tuple[set[str], set[str]]:
    """Every sample name the registry can expose, and its histograms' names."""
    names: set[str] = set()
    histograms: set[str] = set()
    for family in Metrics().registry.collect():
        names.update(family.name + s for s in _SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
        if family.type == "histogram":
            histograms.add(family.name)
    return names, histograms


def _exprs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return found + [e for v in node.values() for e in _exprs(v)]
    if isinstance(node, list):
        return [e for v in node for e in _exprs(v)]
    return []


def test_every_dashboard_expression_names_a_metric_the_relay_exposes():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = _exprs(dashboard["panels"])
    assert len(exprs) >= 10
    exposed, _ = _exposed()
    used = {name for e in exprs for name in _NAME.findall(e)}
    assert used, exprs
    assert used <= exposed, sorted(used - exposed)
    # the instance picker's query too
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert set(_NAME.findall(variable["definition"])) <= exposed


def test_every_latency_histogram_and_the_process_and_build_are_graphed():
    text = " ".join(_exprs(json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]))
    _, histograms = _exposed()
    assert histograms >= {
        "lookout_alert_fanout_seconds",
        "lookout_report_ack_seconds",
        "lookout_db_commit_seconds",
        "lookout_officer_request_seconds",
    }
    for name in histograms:
        assert f"{name}_bucket" in text, name
    for name in (
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "lookout_build_info",
        "lookout_db_batches_total",
    ):
        assert name in text, name


def test_panel_ids_are_unique_and_every_panel_has_a_query():
    panels = json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel["type"] != "row":
            assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
