"""`sessionwarden.devices` over a sample of real user agents (uap-core's test suite, Apache-2.0:
see tests/data/user_agents/README.md): clean labels, the kinds uap-core's expectations settle,
bots, and fingerprints that survive ordinary updates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ua_expectations import LIBRARY_FAMILIES, expected_kinds

from sessionwarden.devices import DEVICE_CLASSES, device_class_key, fingerprint, parse_user_agent

SAMPLE = Path(__file__).parent / "data" / "user_agents" / "uap_core_sample.jsonl"
CASES = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
KEY = b"corpus-key"
LABEL = re.compile(r"^[^/]+/[^/]+$")


def _ua(case: dict) -> str:
    return str(case["user_agent_string"])


def test_sample_is_a_real_sample() -> None:
    sources = {c["source"] for c in CASES}
    assert {"test_device", "test_ua", "test_os"} <= sources
    assert 500 <= len(CASES) <= 2000
    assert len({_ua(c) for c in CASES}) == len(CASES)
    uas = {_ua(c) for c in CASES}
    for named in ("LG KF510", "BaconReader/3.3.1(Android 4.4.2; LGE Nexus 4)",
                  "Mozilla/5.0 (Android) ownCloud-android/2.0.0", "wget2/1.99.2",
                  "libcurl-agent/1.0", "unirest-java/1.3.11", "fetch libfetch/2.0",
                  "Mozilla/4.0 (compatible; MSIE  5.5; Windows NT 5.0)"):
        assert named in uas, named


def test_labels_and_fields_are_clean() -> None:
    for case in CASES:
        info = parse_user_agent(_ua(case))
        assert info.device_class in DEVICE_CLASSES
        assert LABEL.match(info.label) and len(info.label) <= 65, info.label
        for text in (info.browser_family, info.os_family, info.device_family, info.brand,
                     info.model, info.browser_major, info.os_major):
            assert text is None or (text.isprintable() and 0 < len(text) <= 64), repr(text)


def test_kinds_uap_core_settles() -> None:
    settled = [(c, kinds) for c in CASES if c["source"] == "test_device"
               and (kinds := expected_kinds(c.get("family"), c.get("brand"), c.get("model")))]
    assert len(settled) >= 300
    wrong = [(_ua(c), sorted(kinds), parse_user_agent(_ua(c)).device_class)
             for c, kinds in settled if parse_user_agent(_ua(c)).device_class not in kinds]
    assert wrong == []


def test_crawlers_and_http_libraries_are_bots() -> None:
    bots = [c for c in CASES if c.get("brand") == "Spider"
            or (c["source"] == "test_ua" and c.get("family") in LIBRARY_FAMILIES)]
    assert len(bots) >= 20
    assert [_ua(c) for c in bots if parse_user_agent(_ua(c)).device_class != "bot"] == []


def _bumped(ua: str, major: str) -> str | None:
    """``ua`` with its first ``/<major>.`` version made one newer, or ``None`` if none."""
    newer = re.sub(rf"([/ ]){major}\.", lambda m: f"{m.group(1)}{int(major) + 1}.", ua, count=1)
    return newer if newer != ua else None


def test_fingerprint_survives_a_browser_update() -> None:
    pairs = 0
    for case in CASES:
        major = case.get("major")
        if case["source"] != "test_ua" or not (major and major.isdigit()):
            continue
        newer = _bumped(_ua(case), major)
        if newer is None:
            continue
        old, new = parse_user_agent(_ua(case)), parse_user_agent(newer)
        if old.browser_major == new.browser_major:
            continue  # the bump hit another version number
        pairs += 1
        assert (fingerprint(KEY, old), device_class_key(KEY, old)) == (
            fingerprint(KEY, new), device_class_key(KEY, new)), _ua(case)
    assert pairs >= 100


_REDUCIBLE = re.compile(
    r"^Mozilla/5\.0 \(Linux; (?:U; )?Android [^;)]+;(?: [a-zA-Z]{2}[-_][a-zA-Z]{2};)? [^;)]+\) "
    r"AppleWebKit/537\.36 \(KHTML, like Gecko\) Chrome/(\d+)[\d.]* (Mobile )?Safari/537\.36$")


def test_kind_survives_the_switch_to_the_reduced_user_agent() -> None:
    """Each full Android Chrome user agent against the one the same browser sends from
    Chrome 110 on: the same kind (class key), and the reduced fingerprint is the model-less
    one of that kind (which create.lua matches with the known device of the kind). The
    exceptions are devices whose kind only the model told (a Kindle running Chrome, a TV
    box): the reduced user agent hides it, so they are left out."""
    pairs = 0
    for case in CASES:
        match = _REDUCIBLE.match(_ua(case))
        old = parse_user_agent(_ua(case))
        if match is None or old.platform == "Kindle" or old.device_class == "tv":
            continue
        reduced = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                   f"Chrome/{max(110, int(match.group(1)) + 1)}.0.0.0 "
                   f"{match.group(2) or ''}Safari/537.36")
        new = parse_user_agent(reduced)
        pairs += 1
        assert device_class_key(KEY, old) == device_class_key(KEY, new), _ua(case)
        assert (new.label, new.device_class) == (old.label, old.device_class), _ua(case)
    assert pairs >= 30


@pytest.mark.parametrize("case", [c for c in CASES if c["source"] == "issue 11"],
                         ids=lambda c: _ua(c)[:40])
def test_issue_cases_not_in_uap_core_parse(case: dict) -> None:
    info = parse_user_agent(_ua(case))
    assert info.device_class != "unknown"
