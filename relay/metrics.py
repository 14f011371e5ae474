"""Prometheus metrics for one relay (its own registry, so tests can run several relays)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.frames_in = Counter("lookout_frames_in", "Frames received", ["endpoint"], registry=r)
        self.errors = Counter(
            "lookout_errors", "Error replies sent", ["endpoint", "code"], registry=r
        )
        self.reports = Counter(
            "lookout_reports_submitted", "Report submissions handled", registry=r
        )
        self.alerts_delivered = Counter(
            "lookout_alert_frames", "Alert frames pushed to devices", registry=r
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
        self.db_batches = Gauge("lookout_db_batches", "Write batches committed", registry=r)
        self.db_jobs = Gauge("lookout_db_jobs", "Write jobs committed", registry=r)
        # ---- officer sign-in (issue 8, deliverable 2)
        self.logins = Counter(
            "lookout_officer_logins", "Officer login attempts by outcome", ["outcome"], registry=r
        )
        self.login_lockouts = Counter(
            "lookout_officer_login_lockouts", "Login lockouts started", ["scope"], registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
