"""Optional Prometheus metrics (``prometheus-client``) on ``[daemon] metrics_listen``."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("sessionwarden.daemon")


class Metrics:
    """Counters and gauges, or no-ops when metrics are off or the client is missing."""

    def __init__(self, listen: tuple[str, int] | None) -> None:
        self.on = False
        if listen is None:
            return
        try:
            from prometheus_client import (
                CollectorRegistry,
                Counter,
                Gauge,
                Histogram,
                start_http_server,
            )
        except ImportError:
            log.warning("metrics_listen is set but prometheus-client is not installed "
                        "(pip install 'sessionwarden-daemon[metrics]'); metrics are off")
            return
        reg = CollectorRegistry()
        self.delivered = Counter("sessionwarden_alerts_delivered", "Alerts delivered",
                                 ["sink"], registry=reg)
        self.failed = Counter("sessionwarden_alert_failures", "Failed delivery attempts",
                              ["sink"], registry=reg)
        self.dead = Counter("sessionwarden_alert_dead_letters", "Deliveries given up",
                            ["sink"], registry=reg)
        self.lag = Gauge("sessionwarden_alert_lag", "Alerts not yet read by the group",
                         registry=reg)
        self.pending = Gauge("sessionwarden_alert_pending", "Alerts read, not acknowledged",
                             registry=reg)
        self.expired = Counter("sessionwarden_sessions_expired", "Sessions swept as expired",
                               registry=reg)
        self.sweep = Histogram("sessionwarden_sweep_seconds", "Duration of one sweep run",
                               registry=reg)
        start_http_server(listen[1], addr=listen[0], registry=reg)
        self.on = True
        log.info("metrics on http://%s:%d/metrics", *listen)

    def count(self, name: str, sink: str | None = None, n: float = 1) -> None:
        if self.on:
            metric: Any = getattr(self, name)
            (metric.labels(sink) if sink else metric).inc(n)

    def set(self, name: str, value: float) -> None:
        if self.on:
            getattr(self, name).set(value)

    def observe(self, seconds: float) -> None:
        if self.on:
            self.sweep.observe(seconds)
