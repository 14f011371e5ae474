"""`/metrics` as Prometheus reads it (issue 14, deliverable 4): scraped from a real relay
(TLS on the phones' and consoles' ports, its metrics listener on loopback) and parsed by
prometheus_client's own text parser, not by string matching. Latency histograms count the
report, the alert and the officer requests that just happened; counters end in `_total`;
process metrics and the build's version are there."""

from __future__ import annotations

import asyncio
import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from backend_client import messages as m
from backend_client.version import lookout_version
from tests.conftest import RunningRelay, start_relay
from tests.support.flows import alert_info, device, officer, report
from tests.support.peer import next_id, wait_until_async

#: family (as the parser names it) -> its type
EXPECTED = {
    "lookout_alert_fanout_seconds": "histogram",
    "lookout_report_ack_seconds": "histogram",
    "lookout_db_commit_seconds": "histogram",
    "lookout_officer_request_seconds": "histogram",
    "lookout_db_batches": "counter",
    "lookout_db_jobs": "counter",
    "lookout_reports_submitted": "counter",
    "lookout_alert_frames": "counter",
    "lookout_frames_in": "counter",
    "lookout_officer_connections": "gauge",
    "lookout_build_info": "gauge",
    "process_resident_memory_bytes": "gauge",
    "process_cpu_seconds": "counter",
    "process_open_fds": "gauge",
}


def _scrape(r: RunningRelay) -> dict[str, tuple[str, list[Sample]]]:
    port = r.relay.metrics_port  # type: ignore[attr-defined]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    return {f.name: (f.type, list(f.samples)) for f in text_string_to_metric_families(text)}


def _count(families: dict[str, tuple[str, list[Sample]]], name: str, **labels: str) -> float:
    """A histogram's `_count` sample (0 when that label set has not been observed yet)."""
    _type, samples = families[name]
    return sum(
        s.value
        for s in samples
        if s.name == f"{name}_count" and all(s.labels.get(k) == v for k, v in labels.items())
    )


async def test_metrics_parse_with_the_families_and_histograms_that_count(tmp_path):
    r = await start_relay(tmp_path / "r", metrics_port=0)
    try:
        before = await asyncio.to_thread(_scrape, r)
        for name, kind in EXPECTED.items():
            assert name in before, name
            assert before[name][0] == kind, (name, before[name][0])
        # every counter's samples end in _total (what rate() and the dashboards expect)
        for name, (kind, samples) in before.items():
            if kind == "counter":
                assert all(s.name.endswith(("_total", "_created")) for s in samples), name
        (build,) = before["lookout_build_info"][1]
        assert build.labels["version"] == lookout_version() and build.value == 1.0
        assert before["process_resident_memory_bytes"][1][0].value > 0
        assert before["process_open_fds"][1][0].value > 0

        dana = await officer(r)
        cit, _ = await device(r)
        await report(cit)
        sent = await dana.request(m.AlertSend(id=next_id(), idem=next_id(), info=alert_info()))
        assert isinstance(sent, m.AlertAccepted) and sent.alert.state == "active", sent
        await cit.wait_for(lambda x: isinstance(x, m.AlertDeliver))

        # each latency is recorded just after its answer is written: wait for the scrape
        # that shows them all (the clients may have read their answers a moment earlier)
        scraped: list[dict[str, tuple[str, list[Sample]]]] = []

        async def counted() -> bool:
            fams = await asyncio.to_thread(_scrape, r)
            scraped[:] = [fams]
            return all(
                _count(fams, name, **labels) > _count(before, name, **labels)
                for name, labels in (
                    ("lookout_report_ack_seconds", {}),
                    ("lookout_alert_fanout_seconds", {}),
                    ("lookout_db_commit_seconds", {}),
                    ("lookout_officer_request_seconds", {"type": "auth.login"}),
                    ("lookout_officer_request_seconds", {"type": "alert.send"}),
                )
            )

        await wait_until_async(counted, timeout=10)
        now = scraped[0]
        assert _count(now, "lookout_report_ack_seconds") == 1  # one report, one ack
        assert _count(now, "lookout_alert_fanout_seconds") == 1  # one alert sent
        batches = [s for s in now["lookout_db_batches"][1] if s.name.endswith("_total")]
        assert batches[0].value >= 1
        await cit.close()
        await dana.close()
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]
