"""Device intelligence measured on uap-core's own test suite (not part of the unit suite).

    git clone https://github.com/ua-parser/uap-core /tmp/uap-core
    .venv/bin/python bench/uap_corpus.py /tmp/uap-core/tests

reads ``test_ua.yaml``, ``test_os.yaml`` and ``test_device.yaml`` (Apache-2.0) and reports, over
every user agent in them:

* labels: how many break the label contract (``Platform/Browser``, no ``/`` inside a part,
  printable, at most 65 characters) or hold a non-printable / over-long field;
* kinds: for each device whose kind uap-core's expectation settles (``tests/ua_expectations``:
  ``Spider``, iPhone, iPad, Galaxy SM-T, LG KF..., TVs, Quest, ...), how many we classify
  within it, how many we contradict (listed), how many that expectation leaves open;
* bots: crawlers (uap-core's ``Spider`` device) and HTTP libraries classified ``bot``;
* stability: the fingerprint and class key across ordinary updates made from the corpus — the
  browser's major version + 1 (``test_ua``), the OS major + 1 (``test_os``) — and, for each
  full Android Chrome user agent turned into Chrome's reduced one (``Linux; Android 10; K``),
  the class key and the label and class by which ``create.lua`` recognises the known device
  (the reduced fingerprint has no model, by design).

``--sample FILE`` also writes the seeded sample the unit tests keep
(``tests/data/user_agents/uap_core_sample.jsonl``).
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ua_expectations import LIBRARY_FAMILIES, expected_kinds
from uap_yaml import load

from sessionwarden.devices import (
    DeviceInfo,
    device_class_key,
    fingerprint,
    parse_user_agent,
)

KEY = b"uap-core-measurement-key"
LABEL = re.compile(r"^[^/]+/[^/]+$")
REDUCIBLE = re.compile(
    r"^Mozilla/5\.0 \(Linux; (?:U; )?Android [^;)]+;(?: [a-zA-Z]{2}[-_][a-zA-Z]{2};)? [^;)]+\) "
    r"AppleWebKit/537\.36 \(KHTML, like Gecko\) Chrome/(\d+)[\d.]* (Mobile )?Safari/537\.36$")


def clean(info: DeviceInfo) -> bool:
    fields = (info.browser_family, info.os_family, info.device_family, info.label,
              info.brand or "", info.model or "", info.browser_major or "", info.os_major or "")
    return (bool(LABEL.match(info.label)) and len(info.label) <= 65
            and all(f.isprintable() and len(f) <= 64 for f in fields))


def same_device(a: DeviceInfo, b: DeviceInfo) -> bool:
    return (fingerprint(KEY, a) == fingerprint(KEY, b)
            and device_class_key(KEY, a) == device_class_key(KEY, b))


def bump(ua: str, major: str | None, pattern: str) -> str | None:
    if not major or not major.isdigit():
        return None
    bumped = re.sub(pattern.format(major=major), lambda m: m.group(1) + str(int(major) + 1)
                    + m.group(2), ua, count=1)
    return bumped if bumped != ua else None


def reduced(ua: str) -> str | None:
    match = REDUCIBLE.match(ua)
    if match is None:
        return None
    version = max(110, int(match.group(1)) + 1)
    return ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{version}.0.0.0 {match.group(2) or ''}Safari/537.36")


def measure(tests: Path) -> dict[str, list[dict[str, str | None]]]:
    files = {name: load(tests / f"{name}.yaml") for name in ("test_ua", "test_os", "test_device")}
    total = sum(len(rows) for rows in files.values())
    started = time.perf_counter()
    unclean = [r["user_agent_string"] for rows in files.values() for r in rows
               if not clean(parse_user_agent(r["user_agent_string"] or ""))]
    elapsed = time.perf_counter() - started
    print(f"user agents: {total} ({', '.join(f'{k} {len(v)}' for k, v in files.items())}); "
          f"parsed in {elapsed:.1f} s")
    print(f"labels / fields breaking the contract: {len(unclean)}")
    for ua in unclean[:5]:
        print("   ", repr(ua)[:150])

    agree = contradict = open_ = 0
    wrong: collections.Counter[tuple[str, str, str]] = collections.Counter()
    examples: dict[tuple[str, str, str], str] = {}
    for r in files["test_device"]:
        kinds = expected_kinds(r.get("family"), r.get("brand"), r.get("model"))
        if kinds is None:
            open_ += 1
            continue
        got = parse_user_agent(r["user_agent_string"] or "").device_class
        if got in kinds:
            agree += 1
        else:
            contradict += 1
            key = ("|".join(sorted(kinds)), got, str(r.get("brand")))
            wrong[key] += 1
            examples.setdefault(key, r["user_agent_string"] or "")
    print(f"device kinds uap-core settles: {agree + contradict}; agree {agree}, "
          f"contradict {contradict}; left open {open_}")
    for (want, got, brand), n in wrong.most_common(12):
        print(f"    {n:4d} want {want:7s} got {got:8s} brand {brand}: "
              f"{examples[(want, got, brand)][:100]!r}")

    spiders = [r for r in files["test_device"] if r.get("brand") == "Spider"]
    libs = [r for r in files["test_ua"] if r.get("family") in LIBRARY_FAMILIES]
    for name, rows in (("crawlers (Spider)", spiders), ("HTTP libraries", libs)):
        bots = sum(parse_user_agent(r["user_agent_string"] or "").device_class == "bot"
                   for r in rows)
        print(f"{name} classified bot: {bots}/{len(rows)}")

    for name, rows, attribute, pattern in (
            ("browser major + 1", files["test_ua"], "browser_major", r"([/ ]){major}([.])"),
            ("OS major + 1", files["test_os"], "os_major", r"([ _/]){major}([._;) ])")):
        pairs = stable = 0
        for r in rows:
            ua = r["user_agent_string"] or ""
            newer = bump(ua, r.get("major"), pattern)
            if newer is None:
                continue
            old, new = parse_user_agent(ua), parse_user_agent(newer)
            if getattr(old, attribute) == getattr(new, attribute):
                continue  # the bump hit another number
            pairs += 1
            stable += same_device(old, new)
        print(f"stable across {name}: {stable}/{pairs}")
    pairs = stable = 0
    for r in files["test_device"] + files["test_ua"]:
        ua = r["user_agent_string"] or ""
        newer = reduced(ua)
        if newer is None:
            continue
        pairs += 1
        old, new = parse_user_agent(ua), parse_user_agent(newer)
        # the same kind (class key), and what create.lua matches the known device by
        stable += (device_class_key(KEY, old) == device_class_key(KEY, new)
                   and (old.label, old.device_class) == (new.label, new.device_class))
    print(f"same kind across full -> reduced Chrome user agent: {stable}/{pairs}")
    return files


# The defects issue 11 names (uap-core carries most of them; the rest are written here).
ISSUE_CASES = [
    "LG KF510",
    "UCWEB/2.0 (Java; U; MIDP-2.0; es-LA; LG-KF510 Obigo) U2/1.0.0 UCBrowser/9.3.0.326 U2/1.0.0 "
    "Mobile UNTRUSTED/1.0",
    "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/108.4.6 "
    "like Chrome/108.0.5359.220 Safari/537.36",
    "BaconReader/3.3.1(Android 4.4.2; LGE Nexus 4)",
    "Mozilla/5.0 (Android 4.2.2; de-de; GT-I9505 Build/JDQ39) "
    "FreeWheelAdManager/5.8.0-r10172-1308191214;com.vevo/504",
    "Mozilla/5.0 (Android) ownCloud-android/2.0.0",
    "Mozilla/5.0 (X11; Linux x86_64; Quest 2) AppleWebKit/537.36 (KHTML, like Gecko) "
    "OculusBrowser/26.2.0.0.10 SamsungBrowser/4.0 Chrome/110.0.5481.192 VR Safari/537.36",
    "Mozilla/5.0 (Linux; Android 4.2.2; Woxter Android TV BOX 600 Build/JDQ39) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/30.0.1599.92 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/4.0 (compatible; MSIE  5.5; Windows NT 5.0)",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "wget2/1.99.2",
    "PycURL/7.43.0 libcurl/7.47.0 OpenSSL/1.0.2g zlib/1.2.8",
    "libcurl-agent/1.0",
    "aws-sdk-java/1.11.226 Mac_OS_X/10.12.6 Java_HotSpot(TM)_64-Bit_Server_VM/25.131-b11 "
    "java/1.8.0_131 scala/2.11.11",
    "unirest-java/1.3.11",
    "HTTPClient/1.0 (2.8.3, ruby 2.5.5 (2019-03-15))",
    "fetch libfetch/2.0",
]


def write_sample(files: dict[str, list[dict[str, str | None]]], out: Path, seed: int) -> None:
    rng = random.Random(seed)
    by_ua = {r["user_agent_string"]: (name, r) for name, rows in files.items() for r in rows}
    rows: list[dict[str, object]] = []
    seen: set[str] = set()

    def add(source: str, case: dict[str, str | None]) -> None:
        ua = case.get("user_agent_string") or ""
        if ua and ua not in seen:
            seen.add(ua)
            rows.append({"source": source, **case})

    for ua in ISSUE_CASES:
        name, case = by_ua.get(ua, ("issue 11", {"user_agent_string": ua}))
        add(name, dict(case))
    settled = [r for r in files["test_device"]
               if expected_kinds(r.get("family"), r.get("brand"), r.get("model"))]
    for name, pool, n in (("test_device", settled, 350),
                          ("test_device", files["test_device"], 250),
                          ("test_ua", files["test_ua"], 250), ("test_os", files["test_os"], 150)):
        for case in rng.sample(pool, min(n, len(pool))):
            add(name, case)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"wrote {len(rows)} cases to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tests", type=Path, help="uap-core's tests/ directory")
    parser.add_argument("--sample", type=Path, help="also write the unit tests' sample here")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    files = measure(args.tests)
    if args.sample:
        write_sample(files, args.sample, args.seed)


if __name__ == "__main__":
    main()
