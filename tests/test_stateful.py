"""A hypothesis state machine against a plain in-memory model of the session rules.

The model says, for any interleaving of logins (with or without a session policy),
validations (as activity or not), re-authentications, token rotations, revocations and time
passing: which sessions are live, which one the limit evicts (least recently active; ties
broken by session id, as the sorted set does), and when idle or absolute expiry ends a session.
After every step the store must agree with it, and each user's index must equal their session
keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from conftest import IP_US, MAC_CHROME, Backend, Clock, indexed_sessions, settings
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from sessionwarden import SessionPolicy
from sessionwarden.keys import KeySchema

USERS = ["u1", "u2", "a:b", "{u1}"]
MAX, IDLE, ABSOLUTE, TOUCH = 3, 3600, 3 * 3600, 60
# A policy with shorter windows than the Settings', whose re-authentication extends the
# deadline by 1 h within 4 h of the sign-in.
POLICY = SessionPolicy(idle_timeout=timedelta(minutes=30), absolute_lifetime=timedelta(hours=2),
                       touch_interval=timedelta(seconds=30), reauth_extension=timedelta(hours=1),
                       max_lifetime=timedelta(hours=4), name="short")


@dataclass
class Model:
    user: str
    token: str
    rand: str
    created: float
    active: float
    idle: float = IDLE
    deadline: float = 0.0
    touch: float = TOUCH
    extension: float = 0.0  # 0: a re-authentication leaves the deadline
    bound: float = 0.0

    def dead(self, now: float) -> bool:
        return now - self.active >= self.idle or now >= self.deadline


def make_machine(backend: Backend) -> type[RuleBasedStateMachine]:
    class Sessions(RuleBasedStateMachine):
        tokens = Bundle("tokens")

        def __init__(self) -> None:
            super().__init__()
            self.raw = backend.raw()
            self.raw.flushall()
            self.clock = Clock()
            self.mgr = backend.manager(
                settings(max_sessions=MAX, idle_timeout=timedelta(seconds=IDLE),
                         absolute_lifetime=timedelta(seconds=ABSOLUTE),
                         touch_interval=timedelta(seconds=TOUCH)),
                clock=self.clock)
            self.model: dict[str, Model] = {}
            self.keys = KeySchema("sw")

        def live(self, user: str) -> list[Model]:
            return [m for m in self.model.values() if m.user == user]

        def prune(self, user: str) -> None:
            for m in self.live(user):
                if m.dead(self.clock.now):
                    del self.model[m.token]

        @rule(target=tokens, user=st.sampled_from(USERS), policy=st.booleans())
        def create(self, user: str, policy: bool) -> str:
            self.prune(user)
            live = sorted(self.live(user), key=lambda m: (m.active, m.rand))
            for victim in live[: max(0, len(live) - MAX + 1)]:
                del self.model[victim.token]
            created = self.mgr.create_session(user, user_agent=MAC_CHROME, ip=IP_US,
                                              policy=POLICY if policy else None)
            now = self.clock.now
            m = Model(user, created.token, created.session_id[16:], now, now,
                      deadline=now + ABSOLUTE)
            if policy:
                m.idle, m.deadline, m.touch = 1800, now + 7200, 30
                m.extension, m.bound = 3600, now + 4 * 3600
            self.model[created.token] = m
            return created.token

        @rule(seconds=st.integers(min_value=0, max_value=2 * IDLE))
        def advance(self, seconds: int) -> None:
            self.clock.advance(seconds)

        def alive(self, token: str) -> Model | None:
            m = self.model.get(token)
            if m is not None and m.dead(self.clock.now):
                del self.model[token]
                return None
            return m

        @rule(token=tokens, touch=st.booleans())
        def validate(self, token: str, touch: bool) -> None:
            session = self.mgr.validate_session(token, touch=touch)
            m = self.alive(token)
            if m is None:
                assert session is None
                return
            assert session is not None and session.user_id == m.user
            if touch and self.clock.now - m.active >= m.touch:
                m.active = self.clock.now
            assert session.last_active_at.timestamp() == m.active

        @rule(token=tokens)
        def reauthenticate(self, token: str) -> None:
            session = self.mgr.reauthenticate(token, assurance="mfa")
            m = self.alive(token)
            if m is None:
                assert session is None
                return
            now = self.clock.now
            m.active = now
            if m.extension:
                m.deadline = max(m.deadline, min(now + m.extension, m.bound))
            assert session is not None and session.last_active_at.timestamp() == now
            assert session.absolute_expires_at.timestamp() == m.deadline
            assert session.authenticated_at.timestamp() == now

        @rule(target=tokens, token=tokens)
        def rotate(self, token: str) -> str:
            rotated = self.mgr.rotate_session(token)
            m = self.alive(token)
            if m is None:
                assert rotated is None
                return token
            assert rotated is not None and rotated.session_id[16:] == m.rand
            del self.model[token]
            m.token = rotated.token
            self.model[rotated.token] = m
            return rotated.token

        @rule(token=tokens)
        def revoke(self, token: str) -> None:
            # by session id, which a rotated-out token shares with its live successor
            session_id = token.split(".")[0]
            m = next((m for m in self.model.values() if m.rand == session_id[16:]), None)
            user = m.user if m else USERS[0]
            revoked = self.mgr.revoke_session(user, session_id)
            expected = m is not None and not m.dead(self.clock.now)
            assert revoked == expected
            if m is not None:
                del self.model[m.token]

        @rule(user=st.sampled_from(USERS), keep=st.one_of(st.none(), tokens))
        def revoke_all(self, user: str, keep: str | None) -> None:
            self.prune(user)
            kept = self.model.get(keep) if keep else None
            survivors = {keep} if kept is not None and kept.user == user else set()
            expected = len([m for m in self.live(user) if m.token not in survivors])
            assert self.mgr.revoke_all_sessions(user, except_token=keep) == expected
            for m in self.live(user):
                if m.token not in survivors:
                    del self.model[m.token]

        @invariant()
        def store_matches_model(self) -> None:
            for user in USERS:
                uk = self.keys.for_user(user)
                members = set(indexed_sessions(self.raw, uk.record))
                existing = {r for r in members if self.raw.exists(uk.session(r))}
                assert members == existing, "index member without a session key"
                pattern = uk.base.replace("{", "\\{").replace("}", "\\}") + "s:*"
                keys = {k.decode().rsplit(":", 1)[1] for k in self.raw.scan_iter(match=pattern)}
                assert keys == members, "session key missing from the index"
                live_model = {m.rand for m in self.live(user) if not m.dead(self.clock.now)}
                assert live_model <= members
                assert len(live_model) <= MAX

        def teardown(self) -> None:
            for user in USERS:
                self.prune(user)
                got = {v.session_id[16:] for v in self.mgr.get_active_sessions(user)}
                assert got == {m.rand for m in self.live(user)}

    return Sessions


def test_store_follows_the_model(backend: Backend) -> None:
    examples = 60 if backend.name == "fake" else 25
    run_state_machine_as_test(
        make_machine(backend),
        settings=hsettings(max_examples=examples, stateful_step_count=30, deadline=None),
    )
