"""One incident, one alert: findings on one user close together in time share an incident.

A finding within ``incident_window`` of the user's incident's last finding joins it (and keeps
it open); any other opens a new incident. Every finding's event carries ``details["incident"]``
(the id) and ``details["notify"]``: whether it was *delivered* — put on the alert stream for the
daemon, counted as an alert — which happens when it opens its incident and again only when it
raises the incident's severity. ``details["why"]`` (one sentence per signal) is kept on a
delivered finding only; the others keep their ``reason``.

The decision is made by the script that writes the finding (``scripts/finding.lua``), from the
user's incident key (`KeySchema.incident`: "<id>|<opened s>|<last s>|<severity rank>", expiring
a window after its last finding) in the event stream's slot, next to the alert stream it gates.
Redis runs one script at a time, so two concurrent requests of one user join one incident: one
alert, however they interleave, and no extra round trip (the finding is written in the
request's last round trip anyway). This module builds that script's incident arguments.
"""

from __future__ import annotations

import secrets
from typing import Any, NamedTuple

from .codec import details_json
from .settings import SEVERITIES, DetectionSettings


class IncidentArgs(NamedTuple):
    """The incident arguments of ``finding.lua`` (see `sessionwarden.scripts.calls.FindingArgs`)."""

    why: str  # '"why":[...]': the JSON member a delivered finding's details get ('' = none)
    rank: int  # the finding's severity, as its index in SEVERITIES
    window_s: int  # incident_window
    new_id: str  # the id of the incident this finding opens, if it opens one


def incident_args(details: dict[str, Any], severity: str,
                  rules: DetectionSettings) -> tuple[dict[str, Any], IncidentArgs]:
    """A finding's details without ``why``, and the arguments the finding script joins it to
    its user's incident by."""
    kept = dict(details)
    why = kept.pop("why", None)
    member = details_json({"why": why})[1:-1] if why is not None else ""
    return kept, IncidentArgs(member, SEVERITIES.index(severity),
                              int(rules.incident_window.total_seconds()), secrets.token_hex(4))
