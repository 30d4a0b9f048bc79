"""The demo's traffic: ongoing activity of the seeded tenant (requests touching sessions,
sign-outs and sign-ins again, now and then a new phone) and, every so often, one scripted
incident in turn:

* ``idle_expiry`` — a session signed in almost a whole idle window ago goes idle (backdated
  sign-in), and the daemon's sweep ends it;
* ``takeover`` — the account signs in from a device and a country it has never used;
* ``impossible_travel`` — a sign-in at home, then one from the other side of the world;
* ``revoked_token`` — a signed-out session's token presented again from another device;
* ``shared_login`` — one team account signed in from three countries at once.

Each incident names the event types, any one of which shows it on the console
(`Incident.expect`); `Watcher` reports when one arrives. The simulator only uses the core's
public API, as a web app would.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sessionwarden import SessionManager
from sessionwarden.errors import SessionWardenError
from sessionwarden.geo import centroid, haversine_km
from sessionwarden.models import Event

from .tenant import DEVICES, HOMES, LAPTOPS, PHONES, BackdatedClock, City, DemoSession, DemoUser

#: kind -> event types any one of which shows the incident (severity and grouping aside)
EXPECT: dict[str, frozenset[str]] = {
    "idle_expiry": frozenset({"session_expired"}),  # first: it takes the longest to show
    "takeover": frozenset({"new_country", "new_device", "impossible_travel"}),
    "impossible_travel": frozenset({"impossible_travel"}),
    "revoked_token": frozenset({"revoked_token_used"}),
    "shared_login": frozenset({"shared_account"}),
}
#: what an incident method returns: (user id, what happens, the action)
Plan = tuple[str, str, Callable[[], object]]
KINDS = tuple(EXPECT)
IDLE_EXPIRY_IN = 5.0  # seconds: how soon the idle-expiry incident's session goes idle
FIRST_ROUND_GAP = 3.0  # seconds between the first round's incidents


@dataclass(slots=True)
class Incident:
    kind: str
    user_id: str
    text: str
    started: float = field(default_factory=time.monotonic)
    seen: str | None = None  # the event type that showed it

    @property
    def expect(self) -> frozenset[str]:
        return EXPECT[self.kind]


def event_kinds(event: Event) -> set[str]:
    """The finding types an event reports: its type, and those it groups, if any."""
    kinds = {event.type}
    grouped = event.details.get("types")
    if isinstance(grouped, list):
        kinds.update(str(t) for t in grouped)
    return kinds


def far_city(home: City, rng: random.Random, avoid: set[str], min_km: float = 3000) -> City:
    """A city in another country, at least ``min_km`` from ``home`` (centroids)."""
    here = centroid(home.country)
    choices = []
    for city in HOMES:
        there = centroid(city.country)
        if city.country in avoid or city.country == home.country or not here or not there:
            continue
        if haversine_km(here[0], here[1], there[0], there[1]) >= min_km:
            choices.append(city)
    return rng.choice(choices or [c for c in HOMES if c.country != home.country])


class Simulator:
    """Runs in a thread until ``stop`` is set: activity every ``tick`` seconds, an incident
    every ``every`` seconds (the first round of all kinds `FIRST_ROUND_GAP` apart, starting
    soon after start), reported through ``report``."""

    def __init__(self, mgr: SessionManager, backdated: SessionManager, clock: BackdatedClock,
                 users: list[DemoUser], *, report: Callable[[str], None],
                 every: float = 20.0, tick: float = 0.2, seed: int = 11) -> None:
        self.mgr, self.backdated, self.clock = mgr, backdated, clock
        self.users = users
        self.report = report
        self.every, self.tick = every, tick
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.incidents: list[Incident] = []
        self.lock = threading.Lock()
        self._spare = [u for u in users if 2 <= len(u.devices) <= 4]  # incident victims
        self._team = 0
        self.requests = 0
        self.sign_ins = 0

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> None:
        next_incident = time.monotonic() + min(self.every, 1.0)
        turn = 0
        while not self.stop.is_set():
            try:
                if time.monotonic() >= next_incident:
                    self.incident(KINDS[turn % len(KINDS)])
                    turn += 1
                    # the first round comes quickly (each kind on screen within seconds),
                    # then one incident every `every` seconds
                    gap = min(self.every, FIRST_ROUND_GAP) if turn < len(KINDS) else self.every
                    next_incident = time.monotonic() + gap
                else:
                    self.activity()
            except SessionWardenError as exc:  # the store went away (shutting down)
                if self.stop.is_set():
                    return
                self.report(f"traffic: {type(exc).__name__}: {exc}; retrying")
                self.stop.wait(1.0)
            self.stop.wait(self.tick)

    def activity(self) -> None:
        user = self.rng.choice(self.users)
        if not user.sessions:
            return
        roll = self.rng.random()
        if roll < 0.04:
            self.sign_in_again(user)
        elif roll < 0.045:
            self.new_phone(user)
        else:
            s = self.rng.choice(user.sessions)
            found = self.mgr.validate_session(s.token, ip=s.city.ip(self.rng),
                                              user_agent=s.device[2])
            self.requests += 1
            if found is None:  # expired or ended: the browser drops its cookie
                user.sessions.remove(s)

    def _sign_in(self, user: DemoUser, device: tuple[str, str, str], city: City,
                 mgr: SessionManager | None = None) -> DemoSession:
        made = (mgr or self.mgr).create_session(
            user.user_id, user_agent=device[2], ip=city.ip(self.rng), country=city.country,
            city=city.name, email=user.email)
        self.sign_ins += 1
        session = DemoSession(made.token, made.session_id, device, city)
        user.sessions.append(session)
        return session

    def sign_out(self, user: DemoUser, session: DemoSession, reason: str = "signed out") -> None:
        self.mgr.revoke_session(user.user_id, session.session_id, actor=f"user:{user.user_id}",
                                reason=reason)
        if session in user.sessions:
            user.sessions.remove(session)

    def sign_in_again(self, user: DemoUser) -> None:
        """Sign out on one device and back in (a cleared cookie, a new browser profile)."""
        old = self.rng.choice(user.sessions)
        self.sign_out(user, old)
        self._sign_in(user, old.device, user.home)

    def new_phone(self, user: DemoUser) -> None:
        """A benign new device: the owner bought a phone (a low-severity new_device)."""
        fresh = [d for d in PHONES if d not in user.devices]
        if not fresh or len(user.sessions) >= 4:
            return
        user.devices.append(fresh[0])
        self._sign_in(user, fresh[0], user.home)

    # -- incidents -------------------------------------------------------------------------

    def _victim(self) -> DemoUser:
        """A seeded user not yet in an incident (once all have been: any with a session)."""
        while True:
            if not self._spare:
                self._spare = [u for u in self.users if u.sessions and u.devices]
            user = self._spare.pop(self.rng.randrange(len(self._spare)))
            if user.sessions:
                return user

    def incident(self, kind: str) -> Incident:
        """Run one scripted incident: plan it, register and report it (so `Watcher` matches
        an alert that arrives at once), then act."""
        user_id, text, act = getattr(self, "_" + kind)()
        found = Incident(kind, user_id, text)
        with self.lock:
            self.incidents.append(found)
        self.report(f"incident {kind:<17} user={user_id}  {text}  "
                    f"(expect {' or '.join(sorted(found.expect))})")
        act()
        return found

    def _takeover(self) -> Plan:
        user = self._victim()
        device = next(d for d in (*LAPTOPS, *DEVICES) if d not in user.devices)
        city = far_city(user.home, self.rng, {s.city.country for s in user.sessions})
        return (user.user_id, f"signs in on {device[0]} from {city.name} ({city.country})",
                lambda: self._sign_in(user, device, city))

    def _impossible_travel(self) -> Plan:
        user = self._victim()
        device = user.devices[-1]
        city = far_city(user.home, self.rng, set())

        def act() -> None:
            self._sign_in(user, device, user.home)
            self._sign_in(user, device, city)

        return (user.user_id, f"{device[0]} in {user.home.name}, seconds later in "
                f"{city.name} ({city.country})", act)

    def _revoked_token(self) -> Plan:
        user = self._victim()
        session = user.sessions[0]
        thief = next(d for d in DEVICES if d[1] != session.device[1])
        city = far_city(user.home, self.rng, set())

        def act() -> None:
            self.sign_out(user, session)
            self.mgr.validate_session(session.token, ip=city.ip(self.rng), user_agent=thief[2])

        return (user.user_id, f"signed out on {session.device[0]}; its token replayed from "
                f"{thief[0]} in {city.name}", act)

    def _shared_login(self) -> Plan:
        self._team += 1
        team = DemoUser(f"team.support{self._team}", f"support{self._team}@example.com",
                        HOMES[0], list(LAPTOPS[:3]))
        cities = [HOMES[0], HOMES[5], HOMES[11]]  # US, DE, IN

        def act() -> None:
            for device, city in zip(team.devices, cities, strict=True):
                self._sign_in(team, device, city)
            self.users.append(team)

        return (team.user_id, "one login used in " + ", ".join(
            f"{c.name} ({c.country})" for c in cities), act)

    def _idle_expiry(self) -> Plan:
        user = self._victim()
        device = user.devices[0]
        idle = self.backdated.settings.idle_timeout.total_seconds()

        def act() -> None:
            self.clock.back = idle - IDLE_EXPIRY_IN  # only the backdated manager reads it
            session = self._sign_in(user, device, user.home, self.backdated)
            user.sessions.remove(session)  # left alone: nothing touches it again

        return (user.user_id, f"a {device[0]} session last active {idle / 86400:g} days ago "
                f"goes idle in {IDLE_EXPIRY_IN:g} s", act)


class Watcher:
    """Tails the event stream and marks each incident seen when an event of one of its
    expected types arrives for its user; reports each with the delay."""

    def __init__(self, mgr: SessionManager, simulator: Simulator,
                 report: Callable[[str], None]) -> None:
        self.mgr, self.sim, self.report = mgr, simulator, report
        self.stop = simulator.stop

    def run(self) -> None:
        cursor = self.mgr.events_after("0-0", limit=1).cursor
        while not self.stop.is_set():
            try:
                page = self.mgr.events_after(cursor, limit=500, block_ms=500)
            except SessionWardenError:
                if self.stop.is_set():
                    return
                self.stop.wait(1.0)
                continue
            cursor = page.cursor
            for event in page.events:
                self.match(event)

    def match(self, event: Event) -> None:
        with self.sim.lock:
            open_ = [i for i in self.sim.incidents if i.seen is None
                     and i.user_id == event.user_id and event_kinds(event) & i.expect]
        for incident in open_:
            incident.seen = event.type
            delay = time.monotonic() - incident.started
            self.report(f"alert    {incident.kind:<17} user={incident.user_id}  "
                        f"{event.type} ({event.severity}) in the feed after {delay:.1f} s")
