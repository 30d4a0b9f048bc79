"""The daemon's config sections: defaults, durations, and errors naming section.key."""

from __future__ import annotations

import pytest

pytest.importorskip("sessionwarden_daemon")
from sessionwarden_daemon.settings import (
    AlertSettings,
    DaemonSettings,
    EmailSettings,
    parse_duration,
)


def test_defaults_and_durations() -> None:
    d = DaemonSettings.from_mapping({})
    assert (d.sweep_interval, d.heartbeat_interval, d.event_retention) == (30, 5, 14 * 86400)
    assert d.metrics_listen is None
    d = DaemonSettings.from_mapping({"sweep_interval": "250ms", "metrics_listen":
                                     "127.0.0.1:9464", "event_retention": "7d"})
    assert (d.sweep_interval, d.metrics_listen, d.event_retention) == (
        0.25, ("127.0.0.1", 9464), 7 * 86400)
    assert parse_duration("x", "5m") == 300


@pytest.mark.parametrize(("cls", "mapping", "message"), [
    (DaemonSettings, {"sweep_interval": "soon"}, "daemon.sweep_interval: 'soon': expected"),
    (DaemonSettings, {"metrics_listen": "9464"}, "daemon.metrics_listen: '9464': expected"),
    (DaemonSettings, {"nope": 1}, "daemon.nope: 1: expected no such key"),
    (AlertSettings, {"min_severity": "urgent"}, "alerts.min_severity: 'urgent': expected"),
    (AlertSettings, {"routes": {"high": ["pager"]}}, "alerts.routes.high: ['pager']: expected"),
    (EmailSettings, {"smtp_url": "http://x"}, "alerts.email.smtp_url: 'http://x': expected"),
    (EmailSettings, {"password": "hunter2"}, "alerts.email.password: (hidden): expected"),
    (EmailSettings, {"action_url": "https://a/x"}, "alerts.email.action_url: 'https://a/x'"),
    (AlertSettings, {"webhook": {"enabled": True, "url": "https://h", "secret": "short"}},
     "alerts.webhook.secret: (hidden): expected"),
])
def test_errors_name_the_key_and_value(cls: type, mapping: dict, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        cls.from_mapping(mapping)
    assert str(caught.value).startswith(message)
    assert "hunter2" not in str(caught.value)
