"""One incident, one alert: findings on one user close together in time share an incident.

A user's open incident is one short field of the user record (``ic`` =
"<id>|<opened s>|<last s>|<severity rank>", well under the 64 bytes of the compact encoding),
read by the script that produced the finding (create, validate) and written back by the same
request's second round trip. A finding within ``incident_window`` of the incident's last
finding joins it (and keeps it open); the incident is *delivered* (put on the alert stream for
the daemon, counted as an alert) when it opens and again only when a finding raises its
severity. Pure functions, no I/O.

Two concurrent requests of one user may both open an incident (each read the record before the
other wrote it): two alerts instead of one, never a lost one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .settings import SEVERITIES, DetectionSettings


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    opened_s: int
    last_s: int
    severity: str

    def encode(self) -> str:
        return f"{self.id}|{self.opened_s}|{self.last_s}|{SEVERITIES.index(self.severity)}"


def parse_incident(raw: str | None) -> Incident | None:
    """The incident a user record's ``ic`` field holds (None: none, or not this format)."""
    parts = (raw or "").split("|")
    if (len(parts) != 4 or not parts[0].isalnum() or not all(p.isdigit() for p in parts[1:])
            or int(parts[3]) >= len(SEVERITIES)):
        return None
    return Incident(parts[0], int(parts[1]), int(parts[2]), SEVERITIES[int(parts[3])])


def join_incident(current: Incident | None, severity: str, at_ms: int,
                  rules: DetectionSettings) -> tuple[Incident, bool]:
    """The incident a finding of ``severity`` at ``at_ms`` belongs to, and whether it is to be
    delivered (the incident opens, or escalates)."""
    now_s = at_ms // 1000
    window_s = int(rules.incident_window.total_seconds())
    if current is None or now_s - current.last_s > window_s:
        return Incident(secrets.token_hex(4), now_s, now_s, severity), True
    rank = SEVERITIES.index
    escalates = rank(severity) > rank(current.severity)
    top = severity if escalates else current.severity
    return Incident(current.id, current.opened_s, max(now_s, current.last_s), top), escalates
