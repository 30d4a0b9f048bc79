"""Detection quality on a labelled login trace: recall per attack and false alerts per 1,000.

`tests/trace.py` generates 200 users over 30 days with injected attacks (see its docstring and
docs/detection.md); the trace is replayed through a `SessionManager` with an injected clock and
the emitted events are scored. ``pytest -s`` prints the figures.

The trace runs on **one backend**, not on both like the store tests: on the real redis-server
of the test session when ``redis-server`` is installed (it is ~2.5x faster than fakeredis's
Lua emulation: ~7-9 s against ~12-20 s for ~12,000 script calls), else on fakeredis. Both give
identical figures (checked when the thresholds were set); every rule is exercised on both
backends by tests/test_detection_rules.py.

The thresholds below were chosen from measured figures: the worst of this trace (seed
20240304) and five other seeds (1-5), plus a margin (docs/detection.md has the spread). The
test replays the default seed only, which is deterministic; the thresholds catch regressions --
a rule that stops firing, or starts firing on ordinary travel, a signed-out device's own token
raised above ``low`` again, a sustained burst alerting more than once -- and
`test_thresholds_can_fail` proves they can fail.
"""

from __future__ import annotations

import importlib.util
import math
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import fakeredis
import pytest
import redis

from sessionwarden import DetectionSettings


def _load_trace() -> ModuleType:
    # Loaded by path: "trace" is also the name of a standard-library module.
    path = Path(__file__).with_name("trace.py")
    spec = importlib.util.spec_from_file_location("sessionwarden_tests_trace", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


trace = _load_trace()

#: Minimum recall per attack type (attacks caught by their expected rules, at any severity /
#: attacks injected).
MIN_RECALL = {
    "account_takeover": 0.95,
    "takeover_local": 0.75,  # expected: new_device only (low); a known blind spot
    "token_replay": 0.95,
    "token_theft_live": 0.75,  # misses: the thief's device is the same kind as the owner's
    "shared_countries": 0.90,
    "shared_devices": 0.90,
    "login_burst": 0.95,
}
#: Minimum recall by an alert of severity medium or higher, where it differs from the above.
MIN_RECALL_AT_MEDIUM = {
    # a thief presenting the copy from the owner's kind of device gets only a 'low'
    # revoked_token_used (0.93-0.97 across seeds)
    "token_replay": 0.85,
}
#: Maximum false alerts (severity >= medium, legitimate activity) per 1,000 legitimate sign-ins.
MAX_FALSE_PER_1000 = {
    "new_country": 28.0,  # first visits abroad: by design, see docs/detection.md
    "impossible_travel": 8.0,  # VPN exits and home-routed roaming
    "shared_account": 4.0,  # multi-country trips with sessions still live at home
    "revoked_token_used": 0.0,  # a signed-out device's own token is 'low' (checked below too)
    "device_mismatch": 0.0,
    "login_burst": 0.0,
}
MAX_FALSE_TOTAL_PER_1000 = 36.0
#: Maximum low-severity alerts on legitimate activity per 1,000 (reported separately).
MAX_LOW_PER_1000 = {
    "new_device": 6.0,
    "revoked_token_used": 7.0,  # own devices after "sign out everywhere else" or an eviction
}


def failures(m: Any) -> list[str]:
    """Every threshold the measured figures miss, as readable lines (empty = all met)."""
    found = []
    for kind, minimum in MIN_RECALL.items():
        recall = m.recall(kind)
        if math.isnan(recall) or recall < minimum:
            found.append(f"{kind}: recall {recall:.2f} < {minimum}")
    for kind, minimum in MIN_RECALL_AT_MEDIUM.items():
        recall = m.recall(kind, any_medium=True)
        if math.isnan(recall) or recall < minimum:
            found.append(f"{kind}: recall at severity >= medium {recall:.2f} < {minimum}")
    for rule, maximum in MAX_FALSE_PER_1000.items():
        if m.false_rate(rule) > maximum:
            found.append(f"{rule}: {m.false_rate(rule):.2f} false alerts per 1,000 > {maximum}")
    if m.false_alert_rate > MAX_FALSE_TOTAL_PER_1000:
        found.append(f"all rules: {m.false_alert_rate:.2f} false alerts per 1,000 > "
                     f"{MAX_FALSE_TOTAL_PER_1000}")
    for rule, maximum in MAX_LOW_PER_1000.items():
        if m.low_rate(rule) > maximum:
            found.append(f"{rule}: {m.low_rate(rule):.2f} low alerts per 1,000 > {maximum}")
    # Users' own devices, victims' included, never raise revoked_token_used above 'low': in the
    # trace they only ever present their own old tokens.
    own = m.revoked_count("legit", serious=True) + m.revoked_count("aftermath", serious=True)
    if own:
        found.append(f"revoked_token_used: {own} alerts >= medium on users' own devices")
    if m.revoked_disagreements:
        found.append(f"revoked_token_used: same_device wrong in {m.revoked_disagreements} of "
                     f"{m.revoked_checked} events")
    # One burst, one login_burst alert -- sustained ones (a sign-in every ~55 s) included.
    for variant, per_burst in sorted(m.burst_alerts.items()):
        wrong = [n for n in per_burst if n != 1]
        if wrong:
            found.append(f"login_burst: {variant} bursts with {wrong} alerts instead of 1")
    return found


@pytest.fixture(scope="module")
def fresh_client(request: pytest.FixtureRequest) -> Callable[[], Any]:
    """Makes an empty Redis client: the session's real server if installed, else fakeredis."""
    if shutil.which("redis-server") is None:
        return fakeredis.FakeRedis
    url = request.getfixturevalue("redis_server")
    clients: list[Any] = []

    def make() -> Any:
        client = redis.Redis.from_url(url, socket_timeout=10)
        client.flushall()
        clients.append(client)
        return client

    request.addfinalizer(lambda: [c.close() for c in clients])
    return make


@pytest.fixture(scope="module")
def measured(fresh_client: Callable[[], Any]) -> tuple[Any, Any]:
    generated = trace.generate()
    client = fresh_client()
    result = trace.replay(generated, client)
    print(f"\n[{type(client).__module__.split('.')[0]}] " + trace.report(generated, result))
    return generated, result


def test_detection_meets_thresholds_on_the_trace(measured: tuple[Any, Any]) -> None:
    generated, m = measured
    assert m.legit_logins > 2000  # enough sign-ins for per-1,000 figures to mean something
    assert sum(m.attack_counts.values()) == len(generated.attacks) > 100
    missed = failures(m)
    assert not missed, "\n".join(missed) + "\n\n" + trace.report(generated, m)


def test_travel_sweep_mirrors_the_rule(measured: tuple[Any, Any]) -> None:
    """The report's impossible_travel sweep recomputes the rule from the trace; at the
    configured limit it must find exactly the alerts the library raised, or the sweep (and the
    what-if figures in docs/detection.md) describe another rule."""
    _, m = measured
    [(_, legit, caught, _)] = m.travel_sweep([m.settings.impossible_travel_kmh])
    assert legit == m.false_alerts["impossible_travel"]
    assert caught == m.detected_by_rule["account_takeover"]["impossible_travel"]


def test_legitimate_users_never_burst(measured: tuple[Any, Any]) -> None:
    _, m = measured
    # The burst threshold (10 in 10 minutes) leaves a wide gap above ordinary use.
    assert m.max_legit_logins_in_burst_window <= 3


def test_trace_is_deterministic() -> None:
    def shape(t: Any) -> list[tuple[Any, ...]]:
        return [(s.at, s.user, s.kind, s.ua, s.ip, s.country, s.attack) for s in t.steps]

    first, second = trace.generate(users=30), trace.generate(users=30)
    assert shape(first) == shape(second)
    assert shape(first) != shape(trace.generate(users=30, seed=7))


def test_trace_models_plausible_travel() -> None:
    london, new_york = trace.CITIES["GB"][0], trace.CITIES["US"][0]
    brussels, amsterdam = trace.CITIES["BE"][0], trace.CITIES["NL"][0]
    assert trace.travel_seconds(london, new_york) >= 6 * 3600  # intercontinental
    assert 2 * 3600 <= trace.travel_seconds(brussels, amsterdam) <= 3 * 3600  # by train
    generated = trace.generate(users=60)
    for step in generated.steps:  # one request per second, all labelled
        assert step.kind in ("seed", "visit", "password_change", "attack_login", "replay")
        assert step.ua and step.ip
        assert (step.attack is None) == (step.kind in ("seed", "visit", "password_change"))
    ats = [s.at for s in generated.steps]
    assert ats == sorted(ats) and len(set(ats)) == len(ats)
    assert {a.type for a in generated.attacks} == set(trace.EXPECTED)


def test_thresholds_can_fail(fresh_client: Callable[[], Any]) -> None:
    """Absurd settings on a small trace must trip the thresholds, both ways: an
    impossible_travel rule that fires on any move floods legitimate users with false alerts,
    and a login_burst rule that needs 1,000 sign-ins misses every burst. The checks no setting
    can provoke (a signed-out device's token above 'low', a burst alerting twice -- the
    behaviour before they were fixed) are tripped on doctored figures."""
    generated = trace.generate(users=30)
    absurd = DetectionSettings(impossible_travel_kmh=1, impossible_travel_min_km=0,
                               burst_logins=1000)
    m = trace.replay(generated, fresh_client(), detection=absurd)
    missed = failures(m)
    assert any(line.startswith("impossible_travel:") for line in missed), missed
    assert any(line.startswith("login_burst: recall") for line in missed), missed
    assert any(line.startswith("login_burst: ") and "bursts with [0" in line
               for line in missed), missed

    m.revoked[("aftermath", "high")] += 1  # the figures before these were fixed
    m.revoked_disagreements += 1
    m.burst_alerts["sustained"] = [1, 20]
    missed = failures(m)
    assert "revoked_token_used: 1 alerts >= medium on users' own devices" in missed, missed
    assert any(line.startswith("revoked_token_used: same_device wrong") for line in missed)
    assert "login_burst: sustained bursts with [20] alerts instead of 1" in missed, missed
