"""A hypothesis state machine against a plain in-memory model of the session rules.

The model says, for any interleaving of logins, validations, revocations and time passing:
which sessions are live, which one the limit evicts (least recently active; ties broken by
session id, as the sorted set does), and when idle or absolute expiry ends a session. After
every step the store must agree with it, and each user's index must equal their session keys.
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

from sessionwarden.keys import KeySchema

USERS = ["u1", "u2", "a:b", "{u1}"]
MAX, IDLE, ABSOLUTE, TOUCH = 3, 3600, 3 * 3600, 60


@dataclass
class Model:
    user: str
    token: str
    rand: str
    created: float
    active: float

    def dead(self, now: float) -> bool:
        return now - self.active >= IDLE or now >= self.created + ABSOLUTE


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

        @rule(target=tokens, user=st.sampled_from(USERS))
        def create(self, user: str) -> str:
            self.prune(user)
            live = sorted(self.live(user), key=lambda m: (m.active, m.rand))
            for victim in live[: max(0, len(live) - MAX + 1)]:
                del self.model[victim.token]
            created = self.mgr.create_session(user, user_agent=MAC_CHROME, ip=IP_US)
            now = self.clock.now
            self.model[created.token] = Model(user, created.token, created.session_id[16:],
                                              now, now)
            return created.token

        @rule(seconds=st.integers(min_value=0, max_value=2 * IDLE))
        def advance(self, seconds: int) -> None:
            self.clock.advance(seconds)

        @rule(token=tokens)
        def validate(self, token: str) -> None:
            session = self.mgr.validate_session(token)
            m = self.model.get(token)
            if m is not None and m.dead(self.clock.now):
                del self.model[token]
                m = None
            if m is None:
                assert session is None
                return
            assert session is not None and session.user_id == m.user
            if self.clock.now - m.active >= TOUCH:
                m.active = self.clock.now
            assert session.last_active_at.timestamp() == m.active

        @rule(token=tokens)
        def revoke(self, token: str) -> None:
            m = self.model.get(token)
            user = m.user if m else USERS[0]
            session_id = token.split(".")[0]
            revoked = self.mgr.revoke_session(user, session_id)
            expected = m is not None and not m.dead(self.clock.now)
            assert revoked == expected
            self.model.pop(token, None)

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
