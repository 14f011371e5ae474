"""Prometheus metrics for one relay (its own registry, so tests can run several relays)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
)

from backend_client.version import lookout_version

#: latency buckets (seconds): a frame answered in a millisecond up to a stalled disk
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.frames_in = Counter("lookout_frames_in", "Frames received", ["endpoint"], registry=r)
        self.errors = Counter(
            "lookout_errors", "Error replies sent", ["endpoint", "code"], registry=r
        )
        self.reports = Counter(
            "lookout_reports_submitted",
            "Report submissions handled (live traffic; pilots' are counted apart)",
            registry=r,
        )
        self.alerts_delivered = Counter(
            "lookout_alert_frames", "Alert frames pushed to devices", registry=r
        )
        # ---- pilots (issue 12): exercise traffic is counted apart, so the statistics
        # above stay live operations only
        self.exercise_reports = Counter(
            "lookout_exercise_reports_submitted",
            "Report submissions from pilot participants (exercise traffic)",
            registry=r,
        )
        self.exercise_alerts_delivered = Counter(
            "lookout_exercise_alert_frames",
            "Exercise alert frames pushed to pilot participants",
            registry=r,
        )
        #: outcome: joined, refused (a wrong, used or expired code, or an ended pilot)
        self.pilot_joins = Counter(
            "lookout_pilot_joins", "Pilot invite codes tried, by outcome", ["outcome"], registry=r
        )
        self.officers = Gauge(
            "lookout_officer_connections", "Connected officer consoles", registry=r
        )
        self.citizens = Gauge(
            "lookout_citizen_connections", "Connected citizen devices", registry=r
        )
        self.devices_located = Gauge(
            "lookout_devices_located", "Devices with a live location fix", registry=r
        )
        self.event_head = Gauge(
            "lookout_event_head_seq", "Newest event sequence number", registry=r
        )
        # counters (issue 14): they only go up, so a rate() over them is meaningful
        self.db_batches = Counter("lookout_db_batches", "Write batches committed", registry=r)
        self.db_jobs = Counter("lookout_db_jobs", "Write jobs committed", registry=r)
        # ---- latency (issue 14, deliverable 4): what is slow, in seconds
        self.alert_fanout = Histogram(
            "lookout_alert_fanout_seconds",
            "Alert fan-out: the officer's send (or approve, update, cancel) received to the "
            "last device frame written",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.report_ack = Histogram(
            "lookout_report_ack_seconds",
            "Report ingest: a citizen's report.submit received to its answer written",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.db_commit = Histogram(
            "lookout_db_commit_seconds",
            "One write batch on the writer thread: its jobs run and the transaction committed",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        #: type: the message's wire tag (alert.send, history.query, ...)
        self.officer_request = Histogram(
            "lookout_officer_request_seconds",
            "An officer request received to its answer written, by message type",
            ["type"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # ---- the process and the build (issue 14): memory, CPU, open files, version
        ProcessCollector(registry=r)
        Info("lookout_build", "The relay's build", registry=r).info({"version": lookout_version()})
        # -- alerts: no location oracle (issue 8, deliverable 5) --
        self.previews_limited = Counter(
            "lookout_alert_previews_limited",
            "Alert previews and sends refused as over the per-officer limit",
            registry=r,
        )
        # ---- abuse limits (issue 8, deliverable 1)
        #: endpoint: citizen, officer, http (the upgrade), accept (reset before TLS);
        #: limit: messages, bytes, reports, registrations, connections, penalty (an
        #: address closed for flooding), auth_deadline, flood
        self.rate_limited = Counter(
            "lookout_rate_limited",
            "Frames, requests and connections refused (or closed) by a limit",
            ["endpoint", "limit"],
            registry=r,
        )
        # ---- officer sign-in (issue 8, deliverable 2)
        self.logins = Counter(
            "lookout_officer_logins", "Officer login attempts by outcome", ["outcome"], registry=r
        )
        self.login_lockouts = Counter(
            "lookout_officer_login_lockouts", "Login lockouts started", ["scope"], registry=r
        )

        # ---- email alerts (issue 11; relay/mail)
        self.emails_sent = Counter(
            "lookout_emails_sent", "Emails the SMTP server accepted", ["kind"], registry=r
        )
        #: reason: failed (a permanent refusal), bounced (the recipient refused, in the
        #: SMTP dialogue or by a DSN later: the subscription stops), gave_up (retries ran out)
        self.emails_failed = Counter(
            "lookout_emails_failed", "Emails not delivered, by reason", ["reason"], registry=r
        )
        #: delay notices (DSN Action: delayed) mail servers sent back: nothing changes
        self.emails_delayed = Counter(
            "lookout_emails_delayed", "Delay notices mail servers reported", registry=r
        )
        self.emails_retried = Counter(
            "lookout_emails_retried", "Email attempts that failed and will be retried", registry=r
        )
        self.emails_queued = Gauge(
            "lookout_emails_queued", "Emails waiting in the outbox", registry=r
        )

    def committed(self, seconds: float, jobs: int) -> None:
        """One write batch committed (called on the writer thread: these are thread-safe)."""
        self.db_batches.inc()
        self.db_jobs.inc(jobs)
        self.db_commit.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


# --- the metrics listener (issue 8, operations) ---------------------------------------

_REQUEST_LIMIT = 16 * 1024  # a scrape's request head; anything longer is dropped
_REQUEST_DEADLINE_S = 5.0


async def serve_metrics(host: str, port: int, render: Callable[[], bytes]) -> asyncio.Server:
    """A minimal plain-HTTP server answering `GET /metrics` and nothing else.

    Its own port, loopback by default: metrics say how many phones are connected and how
    busy the relay is, which is nobody's business on the internet-facing port. Plain
    HTTP is fine on loopback; an operator exposing it puts it behind their own proxy."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _REQUEST_DEADLINE_S)
            parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            if (
                len(parts) >= 2
                and parts[0] in ("GET", "HEAD")
                and parts[1].split("?")[0] == ("/metrics")
            ):
                status, ctype, body = "200 OK", CONTENT_TYPE_LATEST, render()
            else:
                status, ctype, body = "404 Not Found", "text/plain", b"only GET /metrics here\n"
            payload = b"" if parts and parts[0] == "HEAD" else body
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode("latin-1")
                + payload
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            pass  # a half request or a dropped scraper: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port, limit=_REQUEST_LIMIT)
