"""Device intelligence through the manager (both backends, both faces): client hints, Chrome's
reduced user agent, one normalisation for every path, and sessions made before the v2 class key.
"""

from __future__ import annotations

import asyncio

import pytest
from conftest import IP_US, Backend, Clock, set_record_fields, settings

from sessionwarden.devices import legacy_device_class_key, legacy_fingerprint, parse_user_agent
from sessionwarden.keys import KeySchema
from sessionwarden.settings import DetectionSettings

PIXEL_FULL = ("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/109.0.0.0 Mobile Safari/537.36")
PIXEL_REDUCED = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/120.0.0.0 Mobile Safari/537.36")
TAB_REDUCED = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/120.0.0.0 Safari/537.36")
PIXEL_HINTS = {  # as Chrome sends them once the site asked (Accept-CH)
    "Sec-CH-UA": '"Not_A Brand";v="8", "Chromium";v="120", "Google Chrome";v="120"',
    "Sec-CH-UA-Mobile": "?1",
    "Sec-CH-UA-Platform": '"Android"',
    "Sec-CH-UA-Platform-Version": '"14.0.0"',
    "Sec-CH-UA-Model": '"Pixel 7"',
}
MSIE_DOUBLE = "Mozilla/4.0 (compatible; MSIE  5.5; Windows NT 5.0)"
MSIE_SINGLE = "Mozilla/4.0 (compatible; MSIE 5.5; Windows NT 5.0)"


def _types(mgr) -> list[str]:
    return [e.type for e in mgr.recent_events(100)]


def test_update_to_the_reduced_user_agent_is_not_a_new_device(backend: Backend,
                                                               clock: Clock) -> None:
    mgr = backend.manager(clock=clock)
    first = mgr.create_session("alice", user_agent=PIXEL_FULL, ip=IP_US)
    clock.advance(3600)
    # Chrome updates mid-session: the same token now comes with the reduced user agent
    assert mgr.validate_session(first.token, user_agent=PIXEL_REDUCED, ip=IP_US) is not None
    clock.advance(3600)
    mgr.create_session("alice", user_agent=PIXEL_REDUCED, ip=IP_US)
    assert "device_mismatch" not in _types(mgr)
    assert _types(mgr).count("new_device") == 0
    assert len(mgr.known_devices("alice")) == 1


def test_client_hints_refine_the_device_on_both_faces(backend: Backend, clock: Clock) -> None:
    mgr = backend.manager(clock=clock)
    created = mgr.create_session("alice", user_agent=PIXEL_REDUCED, ip=IP_US,
                                 client_hints=PIXEL_HINTS)
    view = mgr.get_active_sessions("alice")[0]
    assert (view.device, view.os, view.device_class) == ("Android/Chrome", "Android 14", "phone")
    # with or without the hints, the same kind of device: no mismatch either way
    assert mgr.validate_session(created.token, user_agent=PIXEL_REDUCED,
                                client_hints=PIXEL_HINTS) is not None
    clock.advance(3600)
    assert mgr.validate_session(created.token, user_agent=PIXEL_REDUCED) is not None
    assert "device_mismatch" not in _types(mgr)

    async def run() -> None:
        amgr = backend.async_manager(clock=clock)
        try:
            again = await amgr.create_session("alice", user_agent=PIXEL_REDUCED, ip=IP_US,
                                              client_hints=PIXEL_HINTS)
            assert again.session.fingerprint == created.session.fingerprint
            assert await amgr.validate_session(again.token, user_agent=PIXEL_REDUCED,
                                               client_hints=PIXEL_HINTS) is not None
            with pytest.raises(TypeError, match="client_hints"):
                await amgr.validate_session(again.token, client_hints=["?1"])  # type: ignore[arg-type]
        finally:
            await amgr.aclose()

    asyncio.run(run())
    assert len(mgr.known_devices("alice")) == 1
    # Flask's request.headers is not a Mapping, only has get(): taken all the same
    from test_devices import _EnvironHeaders

    assert mgr.validate_session(created.token, user_agent=PIXEL_REDUCED,
                                client_hints=_EnvironHeaders(PIXEL_HINTS)) is not None


def test_hostile_client_hints_are_ignored(backend: Backend) -> None:
    mgr = backend.manager()
    hostile = {"Sec-CH-UA-Model": '"\x1b[2J' + "A" * 10_000 + '"',
               "Sec-CH-UA-Mobile": "?2", "Sec-CH-UA": '"unterminated',
               "sec-ch-ua-platform": '"Windows";;;', "Sec-CH-UA-Platform-Version": 42}
    created = mgr.create_session("alice", user_agent=TAB_REDUCED, ip=IP_US,
                                 client_hints=hostile)  # type: ignore[arg-type]
    view = mgr.get_active_sessions("alice")[0]
    assert (view.device, view.os, view.device_class) == (
        parse_user_agent(TAB_REDUCED).label, "Android 10", "tablet")
    assert created.session.fingerprint == view.fingerprint
    with pytest.raises(TypeError, match="client_hints"):
        mgr.create_session("alice", user_agent=TAB_REDUCED, ip=IP_US,
                           client_hints="?1")  # type: ignore[arg-type]


def test_doubled_spaces_read_the_same_on_every_path(backend: Backend) -> None:
    mgr = backend.manager()
    first = mgr.create_session("alice", user_agent=MSIE_DOUBLE, ip=IP_US)
    mgr.create_session("alice", user_agent=MSIE_SINGLE, ip=IP_US)
    assert parse_user_agent(MSIE_DOUBLE).label == "Windows/IE"
    assert [v.browser for v in mgr.get_active_sessions("alice")] == ["IE 5", "IE 5"]
    assert len(mgr.known_devices("alice")) == 1
    assert mgr.validate_session(first.token, user_agent=MSIE_SINGLE) is not None
    assert "device_mismatch" not in _types(mgr)


@pytest.mark.parametrize("rule", ["alert", "bind"])
def test_session_made_before_the_v2_class_key_still_matches_its_device(
        backend: Backend, clock: Clock, rule: str) -> None:
    """A record written by the previous version holds the v1 class key of its device: the same
    device presenting its token is not a mismatch (and, under bind, not revoked)."""
    mgr = backend.manager(settings(detection=DetectionSettings(bind_to_device=rule == "bind")),
                          clock=clock)
    created = mgr.create_session("alice", user_agent=PIXEL_REDUCED, ip=IP_US)
    keys = KeySchema("sw").for_user("alice")
    rand = created.session_id[len(keys.tag):]
    old_key = legacy_device_class_key(mgr.core._fp_key, parse_user_agent(PIXEL_REDUCED))
    set_record_fields(backend.raw(), keys.session(rand), k=old_key)
    for _ in range(2):  # the script (touch due), then the read path
        clock.advance(3600)
        assert mgr.validate_session(created.token, user_agent=PIXEL_REDUCED) is not None
    assert "device_mismatch" not in _types(mgr)
    # another kind of device is still one
    mac = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
           "Gecko) Chrome/120.0.0.0 Safari/537.36")
    mgr.validate_session(created.token, user_agent=mac)
    assert "device_mismatch" in _types(mgr)


def test_a_device_known_under_the_v1_fingerprint_stays_known(backend: Backend,
                                                              clock: Clock) -> None:
    """After the upgrade a user's device recorded by the previous version (fingerprint v1) is
    recognised at its next sign-in: no new_device, its history kept, the entry moved to the
    v2 fingerprint; the old description goes once no session made before shows it."""
    mgr = backend.manager(clock=clock)
    ua = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
    first = mgr.create_session("alice", user_agent=ua, ip=IP_US)
    keys = KeySchema("sw").for_user("alice")
    raw = backend.raw()
    new_fp = first.session.fingerprint
    old_fp = legacy_fingerprint(mgr.core._fp_key, parse_user_agent(ua))
    assert old_fp != new_fp
    # what the previous version wrote: the device under v1, the session pointing at it
    for kind in ("d:", "n:"):
        raw.hset(keys.record, kind + old_fp, raw.hget(keys.record, kind + new_fp))
        raw.hdel(keys.record, kind + new_fp)
    rand = first.session_id[len(keys.tag):]
    set_record_fields(raw, keys.session(rand), d=old_fp)
    seen_first = mgr.known_devices("alice")[0].first_seen_at
    clock.advance(86_400)
    mgr.create_session("alice", user_agent=ua, ip=IP_US)
    devices = mgr.known_devices("alice")
    assert [(d.fingerprint, d.first_seen_at) for d in devices] == [(new_fp, seen_first)]
    assert "new_device" not in _types(mgr)
    # the session made before the upgrade still shows its device
    assert [v.device for v in mgr.get_active_sessions("alice")] == ["Linux/Firefox"] * 2
    assert raw.hexists(keys.record, "n:" + old_fp)
    mgr.revoke_session("alice", first.session_id)
    clock.advance(60)
    mgr.create_session("alice", user_agent=ua, ip=IP_US)
    assert not raw.hexists(keys.record, "n:" + old_fp)
    assert not raw.hexists(keys.record, "d:" + old_fp)


def test_two_v1_devices_that_v2_merges_become_one(backend: Backend, clock: Clock) -> None:
    """Firefox with and without 'Ubuntu;' were two devices under v1 and are one under v2: the
    second one's next sign-in folds its old entry into the v2 one."""
    mgr = backend.manager(clock=clock)
    ubuntu = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
    plain = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
    first = mgr.create_session("alice", user_agent=ubuntu, ip=IP_US)
    keys = KeySchema("sw").for_user("alice")
    raw = backend.raw()
    old_plain = legacy_fingerprint(mgr.core._fp_key, parse_user_agent(plain))
    for kind in ("d:", "n:"):  # the previous version also knew the plain one, separately
        raw.hset(keys.record, kind + old_plain,
                 raw.hget(keys.record, kind + first.session.fingerprint))
    assert len(mgr.known_devices("alice")) == 2
    clock.advance(60)
    mgr.create_session("alice", user_agent=plain, ip=IP_US)
    assert [d.fingerprint for d in mgr.known_devices("alice")] == [first.session.fingerprint]
    assert not raw.hexists(keys.record, "n:" + old_plain)


GALAXY_FULL = PIXEL_FULL.replace("Pixel 7", "SM-S918B")


def test_two_phones_stay_two_and_the_reduced_update_finds_the_recent_one(
        backend: Backend, clock: Clock) -> None:
    """Pixel and Galaxy with Chrome are two devices while their user agents name the model;
    the reduced user agent names none, so it is the known phone of that kind seen last."""
    mgr = backend.manager(clock=clock)
    pixel = mgr.create_session("alice", user_agent=PIXEL_FULL, ip=IP_US)
    clock.advance(3600)
    mgr.create_session("alice", user_agent=GALAXY_FULL, ip=IP_US)
    assert len(mgr.known_devices("alice")) == 2
    assert _types(mgr).count("new_device") == 1  # the Galaxy (the first device never fires)
    clock.advance(3600)
    mgr.validate_session(pixel.token, user_agent=PIXEL_FULL)  # not a sign-in: no device seen
    reduced = mgr.create_session("alice", user_agent=PIXEL_REDUCED, ip=IP_US)
    assert _types(mgr).count("new_device") == 1
    devices = {d.fingerprint: d for d in mgr.known_devices("alice")}
    assert len(devices) == 2 and reduced.session.fingerprint in devices
    assert pixel.session.fingerprint in devices  # the Galaxy, seen last, was the one moved
    # the Pixel's own sessions still show their device while they live
    assert {v.device for v in mgr.get_active_sessions("alice")} == {"Android/Chrome"}


def test_with_a_device_id_the_reduced_update_is_the_same_device(backend: Backend,
                                                                clock: Clock) -> None:
    mgr = backend.manager(clock=clock)
    first = mgr.create_session("alice", user_agent=PIXEL_FULL, ip=IP_US, device_id="phone-1")
    clock.advance(3600)
    again = mgr.create_session("alice", user_agent=PIXEL_REDUCED, ip=IP_US, device_id="phone-1")
    assert again.session.fingerprint == first.session.fingerprint  # the id decides, not the model
    other = mgr.create_session("alice", user_agent=PIXEL_REDUCED, ip=IP_US, device_id="phone-2")
    assert other.session.fingerprint != first.session.fingerprint
    assert _types(mgr).count("new_device") == 1
