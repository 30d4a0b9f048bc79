"""A realistic tenant for the demo (and for benchmarks that want real sign-ins): users with
1-5 devices each (laptops, phones, tablets, with real user agents), signed in from plausible
cities, sessions days old and recently active, a few about to go idle.

Everything is made through the core's public API (`SessionManager.create_session` /
`validate_session`), so the records, device lists, directory and totals are the library's own.
Old sessions are made by signing in with a backdated clock (``SessionManager(clock=...)``, the
documented hook for simulations); each record keeps the times it was made with, so a session
"signed in 6 days, 23 hours and 59 minutes ago" goes idle a minute from now, judged by the
record alone, exactly as in production.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sessionwarden import SessionManager

DAY = 86_400.0

#: (label, device class, user agent): real user agents of current browsers.
LAPTOPS = (
    ("Mac/Chrome", "laptop", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"),
    ("Mac/Safari", "laptop", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.4 Safari/605.1.15"),
    ("Mac/Firefox", "laptop", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) "
     "Gecko/20100101 Firefox/125.0"),
    ("Windows/Chrome", "laptop", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"),
    ("Windows/Edge", "laptop", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51"),
    ("Windows/Firefox", "laptop", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) "
     "Gecko/20100101 Firefox/125.0"),
    ("Linux/Firefox", "laptop", "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 "
     "Firefox/125.0"),
    ("ChromeOS/Chrome", "laptop", "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"),
)
PHONES = (
    ("iPhone/Safari", "phone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) "
     "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1"),
    ("iPhone/Chrome", "phone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) "
     "AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 "
     "Safari/604.1"),
    ("Pixel/Chrome", "phone", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36"),
    ("Galaxy/Samsung Internet", "phone", "Mozilla/5.0 (Linux; Android 14; SM-S921B) "
     "AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile "
     "Safari/537.36"),
)
TABLETS = (
    ("iPad/Safari", "tablet", "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"),
    ("Galaxy Tab/Chrome", "tablet", "Mozilla/5.0 (Linux; Android 13; SM-X710) "
     "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Safari/537.36"),
)
DEVICES = LAPTOPS + PHONES + TABLETS


@dataclass(frozen=True, slots=True)
class City:
    name: str
    country: str  # ISO 3166-1 alpha-2, what the registry lookup of `net` says too
    net: str  # the first two octets of public addresses registered in that country

    def ip(self, rng: random.Random) -> str:
        return f"{self.net}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"


#: Where the tenant's users live (weights: a US-heavy SaaS with customers worldwide). The
#: networks' registry countries are checked by tests/test_demo.py.
CITIES = (
    (City("San Francisco", "US", "8.8"), 14), (City("New York", "US", "23.20"), 14),
    (City("Toronto", "CA", "24.64"), 5), (City("London", "GB", "86.128"), 8),
    (City("Amsterdam", "NL", "145.94"), 5), (City("Berlin", "DE", "85.214"), 6),
    (City("Paris", "FR", "90.10"), 5), (City("Madrid", "ES", "88.0"), 3),
    (City("Milan", "IT", "2.32"), 3), (City("São Paulo", "BR", "200.147"), 5),
    (City("Mexico City", "MX", "187.188"), 3), (City("Bangalore", "IN", "117.192"), 6),
    (City("Singapore", "SG", "118.189"), 3), (City("Tokyo", "JP", "133.11"), 4),
    (City("Seoul", "KR", "211.234"), 2), (City("Sydney", "AU", "1.120"), 4),
    (City("Johannesburg", "ZA", "41.0"), 2), (City("Lagos", "NG", "105.112"), 2),
)
HOMES = tuple(c for c, _ in CITIES)
WEIGHTS = tuple(w for _, w in CITIES)

FIRST = ("ana", "ben", "chloe", "david", "emma", "farid", "grace", "hiro", "isabel", "jonas",
         "kavya", "liam", "maria", "noah", "olivia", "pedro", "quinn", "ravi", "sofia", "tom",
         "uma", "victor", "wei", "ximena", "yusuf", "zoe", "amara", "bruno", "chen", "dina")
LAST = ("souza", "smith", "martin", "kim", "müller", "garcia", "tanaka", "okafor", "rossi",
        "dubois", "patel", "nguyen", "jones", "silva", "novak", "cohen", "lopez", "berg",
        "ivanova", "walker")


@dataclass(slots=True)
class DemoSession:
    token: str
    session_id: str
    device: tuple[str, str, str]  # (label, class, user agent)
    city: City


@dataclass(slots=True)
class DemoUser:
    user_id: str
    email: str
    home: City
    devices: list[tuple[str, str, str]]
    sessions: list[DemoSession] = field(default_factory=list)


class BackdatedClock:
    """The seeding manager's clock: real time minus ``back`` seconds (set per call)."""

    def __init__(self) -> None:
        self.back = 0.0

    def __call__(self) -> float:
        return time.time() - self.back


def make_users(count: int, rng: random.Random) -> list[DemoUser]:
    """``count`` users with distinct ids, a home city and 1-5 devices (most have a laptop and a
    phone; some a tablet or a second laptop)."""
    users: list[DemoUser] = []
    taken: set[str] = set()
    while len(users) < count:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        user_id = f"{first}.{last}"
        if user_id in taken:
            user_id = f"{first}.{last}{len(users)}"
        taken.add(user_id)
        n = rng.choices((1, 2, 3, 4, 5), weights=(15, 40, 25, 12, 8))[0]
        devices = [rng.choice(LAPTOPS)]
        pools = [PHONES, TABLETS, LAPTOPS, PHONES]
        for pool in pools[: n - 1]:
            choice = rng.choice(pool)
            if choice not in devices:
                devices.append(choice)
        ascii_id = user_id.encode("ascii", "ignore").decode() or f"user{len(users)}"
        users.append(DemoUser(user_id, f"{ascii_id}@example.com",
                              rng.choices(HOMES, weights=WEIGHTS)[0], devices))
    return users


def seed(manager_factory: Callable[[BackdatedClock], SessionManager], count: int = 200, *,
         rng: random.Random | None = None, near_expiry: int = 4,
         progress: Callable[[int], None] | None = None) -> list[DemoUser]:
    """Sign ``count`` users in on each of their devices, from their home city, days ago, and
    make most sessions recently active. ``near_expiry`` sessions are left to go idle within
    the first minutes (their idle window ends 30 s, 60 s, ... from now).

    ``manager_factory(clock)`` builds the manager to write with; its settings should disable
    the detection rules, so that a tenant's history is quiet (devices and countries are still
    recorded: the rules judge later sign-ins against them)."""
    rng = rng or random.Random(7)
    clock = BackdatedClock()
    mgr = manager_factory(clock)
    idle = mgr.settings.idle_timeout.total_seconds()
    users = make_users(count, rng)
    try:
        for i, user in enumerate(users):
            for device in user.devices:
                ua = device[2]
                created_ago = rng.uniform(0.3, min(6.5, idle / DAY - 0.2)) * DAY
                clock.back = created_ago
                ip = user.home.ip(rng)
                made = mgr.create_session(user.user_id, user_agent=ua, ip=ip,
                                          country=user.home.country, city=user.home.name,
                                          email=user.email)
                user.sessions.append(DemoSession(made.token, made.session_id, device,
                                                 user.home))
                # recently active: minutes for most, hours or a day for the rest
                clock.back = min(rng.expovariate(1 / 1800), created_ago - 60)
                mgr.validate_session(made.token, ip=ip, user_agent=ua)
            if progress:
                progress(i + 1)
        for k in range(min(near_expiry, len(users))):
            user = users[-1 - k]
            ua = user.devices[-1][2]
            clock.back = idle - 30 * (k + 1)  # idle window ends 30 s, 60 s, ... from now
            made = mgr.create_session(user.user_id, user_agent=ua, ip=user.home.ip(rng),
                                      country=user.home.country, city=user.home.name,
                                      email=user.email)
            user.sessions.append(DemoSession(made.token, made.session_id, user.devices[-1],
                                             user.home))
    finally:
        mgr.close()
    return users
