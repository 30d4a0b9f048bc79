"""Every operation of the library as a sans-I/O generator (see `protocol`), split by concern.

Each operation: check and clean its input (a ``ValueError`` naming the argument before anything
is sent), run one atomic script on the user's slot, then, in at most one more round trip,
write what the script could not (findings of the detection rules; on a Cluster the events and
global index entries) with idempotent commands. `Core` combines the concerns over one
`Settings`; it holds no connection and does no I/O, so the sync and asyncio managers drive the
very same code.
"""

from __future__ import annotations

from .alert_links import AlertLinkOps
from .base import MAX_LIST, MAX_REASON_LENGTH, SYSTEM_ACTOR
from .consumer import ConsumerOps
from .controls import ControlOps
from .directory import DirectoryOps
from .events import EventOps
from .heartbeat import HeartbeatOps
from .lease import LeaseOps
from .memo import bounded_put
from .reauth import ReauthOps
from .sessions import MAX_DEVICES_PER_USER
from .sweep import SweepOps
from .validate import SLOW, ValidateOps, ValidateProbe

__all__ = [
    "MAX_DEVICES_PER_USER",
    "MAX_LIST",
    "MAX_REASON_LENGTH",
    "SLOW",
    "SYSTEM_ACTOR",
    "Core",
    "ValidateProbe",
    "bounded_put",
]


class Core(ControlOps, ReauthOps, ValidateOps, AlertLinkOps, DirectoryOps, EventOps, SweepOps,
           ConsumerOps, HeartbeatOps, LeaseOps):  # daemon support
    """All operations over one `Settings`: sessions (create, revoke, list), validate,
    re-authentication and rotation, alert links, the directory, the event stream, the expiry
    sweep and the incident controls."""
