"""Detection quality on a labelled login trace: recall per attack, false alerts per 1,000.

`tests/trace.py` generates 200 users over 30 days with injected attacks (see its docstring and
docs/detection.md); the trace is replayed through a `SessionManager` with an injected clock and
the emitted events are scored on what would be delivered (an incident's opening and
escalations). The suite replays the three seeds of `trace.SEEDS` and checks the targets of
docs/detection.md on their combined figures (~7,800 legitimate sign-ins); ``pytest -s``
prints each seed's report.

The trace runs on **one backend**, not on both like the store tests: on the real redis-server
of the test session when ``redis-server`` is installed (~4 s a seed; fakeredis's Lua
emulation takes ~11 s), else on fakeredis. Both give identical figures; every rule is
exercised on both backends by tests/test_detection_rules.py. `test_thresholds_can_fail`
proves the checks can fail: a deliberately broken rule set misses them.
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

#: The targets of docs/detection.md, checked on the seeds the suite replays (`trace.SEEDS`),
#: combined (counts added: ~7,800 legitimate sign-ins, 3 x 200 users x 30 days).
#: Recall: attacks whose own requests raised an assessment >= medium in an incident that was
#: delivered at >= medium.
MIN_RECALL_AT_MEDIUM = {
    "account_takeover": 0.95,
    "takeover_same_kind": 0.95,
    "slow_stuffing": 0.95,
    "token_theft_live": 0.95,
    "shared_countries": 0.95,
    "shared_devices": 0.95,
    "login_burst": 0.95,
    # a signed-out token replayed by the owner's kind of device from a country the account
    # does not know is medium (0.93-0.97 per seed before, when it was always low)
    "token_replay": 0.95,
    # Below the target, and why (docs/detection.md, "What cannot reach medium"): the thief's
    # presentation from a country reachable in the time since the owner's last use looks like
    # the owner's own first request abroad (50-67 legitimate ones per seed); with no user
    # agent it adds what 2-3 legitimate requests per seed also show.
    "theft_same_kind": 0.80,
    "theft_no_ua": 0.85,
}
#: Recall at any severity (the kinds that cannot reach medium without flooding users).
MIN_RECALL_ANY = {
    "takeover_local": 0.70,  # new_device (low): a new phone at home looks the same
    "token_replay": 0.95,
    "theft_same_kind": 0.95,
    "theft_no_ua": 0.95,
}
#: Delivered alerts on legitimate activity per 1,000 legitimate sign-ins (team accounts apart).
MAX_FALSE_MEDIUM_PER_1000 = 1.0
MAX_FALSE_HIGH_PER_1000 = 0.2
MAX_MEDIAN_ALERTS_PER_INCIDENT = 2
MAX_TEAM_ALERTS_PER_MONTH = 2.0


def failures(m: Any) -> list[str]:
    """Every target the measured figures miss, as readable lines (empty = all met)."""
    found = []
    for kind, minimum in MIN_RECALL_AT_MEDIUM.items():
        recall = m.recall(kind, any_medium=True)
        if math.isnan(recall) or recall < minimum:
            found.append(f"{kind}: recall at >= medium {recall:.2f} < {minimum}")
    for kind, minimum in MIN_RECALL_ANY.items():
        recall = m.recall(kind)
        if math.isnan(recall) or recall < minimum:
            found.append(f"{kind}: recall {recall:.2f} < {minimum}")
    if not m.false_alert_rate <= MAX_FALSE_MEDIUM_PER_1000:
        found.append(f"false alerts >= medium: {m.false_alert_rate:.2f} per 1,000 > "
                     f"{MAX_FALSE_MEDIUM_PER_1000}")
    if not m.high_rate <= MAX_FALSE_HIGH_PER_1000:
        found.append(f"false alerts >= high: {m.high_rate:.2f} per 1,000 > "
                     f"{MAX_FALSE_HIGH_PER_1000}")
    median = m.median_incident_alerts()
    if not median <= MAX_MEDIAN_ALERTS_PER_INCIDENT:
        found.append(f"alerts per incident: median {median:g} > "
                     f"{MAX_MEDIAN_ALERTS_PER_INCIDENT}")
    if not m.team_alerts_per_month <= MAX_TEAM_ALERTS_PER_MONTH:
        found.append(f"team accounts: {m.team_alerts_per_month:.1f} alerts per month > "
                     f"{MAX_TEAM_ALERTS_PER_MONTH}")
    # Users' own devices, victims' included, never raise revoked_token_used above 'low'.
    own = m.revoked_count("legit", serious=True) + m.revoked_count("aftermath", serious=True)
    if own:
        found.append(f"revoked_token_used: {own} alerts >= medium on users' own devices")
    if m.revoked_disagreements:
        found.append(f"revoked_token_used: same_device wrong in {m.revoked_disagreements} of "
                     f"{m.revoked_checked} events")
    # One burst, one login_burst event -- sustained ones (a sign-in every ~55 s) included.
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
def measured(fresh_client: Callable[[], Any]) -> tuple[list[Any], Any]:
    """The suite's seeds replayed (one empty Redis each) and their figures combined."""
    results = []
    for seed in trace.SEEDS:
        generated = trace.generate(seed=seed)
        client = fresh_client()
        results.append(trace.replay(generated, client))
        print(f"\n[{type(client).__module__.split('.')[0]}] "
              + trace.report(generated, results[-1]))
    for seed, m in zip(trace.SEEDS, results, strict=True):
        print(trace.summary(f"seed {seed}", m))
    total = trace.combined(results)
    print(trace.summary("combined", total))
    return results, total


def test_detection_meets_the_targets_on_the_trace(measured: tuple[list[Any], Any]) -> None:
    results, total = measured
    assert total.legit_logins > 6000  # enough sign-ins for per-1,000 figures to mean something
    assert all(sum(m.attack_counts.values()) > 150 for m in results)
    missed = failures(total)
    assert not missed, "\n".join(missed) + "\n\n" + "\n".join(
        trace.summary(f"seed {seed}", m) for seed, m in zip(trace.SEEDS, results, strict=True))


def test_each_seed_keeps_its_own_events_checks(measured: tuple[list[Any], Any]) -> None:
    """The checks that hold per replay, not only combined: no own-device revoked token above
    low, same_device right, exactly one burst event per burst."""
    results, _ = measured
    for m in results:
        per_seed = [line for line in failures(m) if line.startswith(
            ("revoked_token_used", "login_burst: fast", "login_burst: sustained"))]
        assert not per_seed, per_seed


def test_legitimate_users_never_burst(measured: tuple[list[Any], Any]) -> None:
    results, _ = measured
    # The burst threshold (10 in 10 minutes) leaves a wide gap above ordinary use.
    assert all(m.max_legit_logins_in_burst_window <= 3 for m in results)


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
        assert (step.ua or step.context == "theft_no_ua") and step.ip
        assert step.no_ua == (not step.ua) or step.kind == "visit"
        assert (step.attack is None) == (step.kind in ("seed", "visit", "password_change"))
    ats = [s.at for s in generated.steps]
    assert ats == sorted(ats) and len(set(ats)) == len(ats)
    assert {a.type for a in generated.attacks} == set(trace.EXPECTED)


def test_thresholds_can_fail(fresh_client: Callable[[], Any]) -> None:
    """A deliberately broken rule set on a small trace must miss the targets, both ways:
    impossible travel and new countries weighed as if each alone were an incident flood
    legitimate users with false alerts, and a login_burst rule that needs 1,000 sign-ins raises
    no burst event. The checks no setting can provoke (a signed-out device's token above 'low', a
    burst alerting twice, re-alerting incidents -- the behaviour before they were fixed) are
    tripped on doctored figures."""
    generated = trace.generate(users=40)
    broken = trace.trace_detection(
        burst_logins=1000, weights={"new_country": 4.0, "impossible_travel": 4.0},
        impossible_travel_kmh=1, impossible_travel_min_km=0)
    m = trace.replay(generated, fresh_client(), detection=broken)
    missed = failures(m)
    assert any(line.startswith("false alerts >= medium:") for line in missed), missed
    assert any(line.startswith("false alerts >= high:") for line in missed), missed
    assert any(line.startswith("login_burst: fast bursts with [0") for line in missed), missed

    m.revoked[("aftermath", "high")] += 1  # the figures before these were fixed
    m.revoked_disagreements += 1
    m.burst_alerts["sustained"] = [1, 20]
    for kind, per in m.incident_alerts.items():  # every alert of an incident delivered
        m.incident_alerts[kind] = [30] * len(per)
    m.team_alerts["team000"] = 50
    missed = failures(m)
    assert "revoked_token_used: 1 alerts >= medium on users' own devices" in missed, missed
    assert any(line.startswith("revoked_token_used: same_device wrong") for line in missed)
    assert "login_burst: sustained bursts with [20] alerts instead of 1" in missed, missed
    assert any(line.startswith("alerts per incident: median") for line in missed), missed
    assert any(line.startswith("team accounts:") for line in missed), missed
