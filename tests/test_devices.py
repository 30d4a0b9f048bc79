"""Tests for sessionwarden.devices: UA parsing, labels, device classes, keyed fingerprints.

Pure tests: no Redis, no fixtures from any conftest.
"""

from __future__ import annotations

import re
import string
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionwarden.devices import (
    BROWSER_FAMILY_ALIASES,
    DEVICE_CLASSES,
    MAX_USER_AGENT_LENGTH,
    DeviceInfo,
    device_class_key,
    fingerprint,
    legacy_device_class_key,
    normalise_user_agent,
    parse_user_agent,
)

KEY = b"k" * 32
OTHER_KEY = b"j" * 32
LABEL_RE = re.compile(r"^[^/]+/[^/]+$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
HEX8 = re.compile(r"^[0-9a-f]{8}$")

MAC_CHROME_119 = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36"
)
MAC_CHROME_120 = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Safari/605.1.15"
)
IPHONE_SAFARI_17 = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1"
)
IPHONE_SAFARI_16 = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
)
IPHONE_CHROME = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
CHROMEBOOK = (
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
GALAXY_S21_CHROME_120 = (
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.43 Mobile Safari/537.36"
)
GALAXY_S21_CHROME_121_ANDROID_14 = (
    "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.6167.101 Mobile Safari/537.36"
)

# (user agent, label, device_class, browser_family, os_family)
CORPUS = [
    # --- desktop: Mac ---
    (MAC_CHROME_119, "Mac/Chrome", "desktop", "Chrome", "Mac OS X"),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Mac/Firefox",
        "desktop",
        "Firefox",
        "Mac OS X",
    ),
    (MAC_SAFARI, "Mac/Safari", "desktop", "Safari", "Mac OS X"),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
        "Mac/Edge",
        "desktop",
        "Edge",
        "Mac OS X",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0",
        "Mac/Opera",
        "desktop",
        "Opera",
        "Mac OS X",
    ),
    # --- desktop: Windows ---
    (WINDOWS_CHROME, "Windows/Chrome", "desktop", "Chrome", "Windows"),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Windows/Firefox",
        "desktop",
        "Firefox",
        "Windows",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
        "Windows/Edge",
        "desktop",
        "Edge",
        "Windows",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/70.0.3538.102 Safari/537.36 Edge/18.19045",
        "Windows/Edge",
        "desktop",
        "Edge",
        "Windows",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0",
        "Windows/Opera",
        "desktop",
        "Opera",
        "Windows",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Vivaldi/6.5.3206.48",
        "Windows/Vivaldi",
        "desktop",
        "Vivaldi",
        "Windows",
    ),
    (
        "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
        "Windows/IE",
        "desktop",
        "IE",
        "Windows",
    ),
    (
        "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)",
        "Windows/IE",
        "desktop",
        "IE",
        "Windows",
    ),
    (
        "Mozilla/5.0 (Windows NT 5.1) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/49.0.2623.112 Safari/537.36",
        "Windows/Chrome",
        "desktop",
        "Chrome",
        "Windows",
    ),
    # --- desktop: Linux, ChromeOS, BSD ---
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "Linux/Chrome",
        "desktop",
        "Chrome",
        "Linux",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
        "Linux/Firefox",
        "desktop",
        "Firefox",
        "Linux",
    ),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Linux/Firefox",
        "desktop",
        "Firefox",
        "Ubuntu",
    ),
    (
        "Mozilla/5.0 (X11; Fedora; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        "Linux/Firefox",
        "desktop",
        "Firefox",
        "Fedora",
    ),
    (CHROMEBOOK, "ChromeOS/Chrome", "desktop", "Chrome", "Chrome OS"),
    (
        "Mozilla/5.0 (X11; CrOS aarch64 15604.57.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/119.0.6045.212 Safari/537.36",
        "ChromeOS/Chrome",
        "desktop",
        "Chrome",
        "Chrome OS",
    ),
    (
        "Mozilla/5.0 (X11; FreeBSD amd64; rv:120.0) Gecko/20100101 Firefox/120.0",
        "FreeBSD/Firefox",
        "desktop",
        "Firefox",
        "FreeBSD",
    ),
    # --- iPhone / iPad ---
    (IPHONE_SAFARI_17, "iPhone/Safari", "phone", "Safari", "iOS"),
    (IPHONE_CHROME, "iPhone/Chrome", "phone", "Chrome", "iOS"),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15",
        "iPhone/Firefox",
        "phone",
        "Firefox",
        "iOS",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.0 EdgiOS/120.0.2210.126 Mobile/15E148 Safari/605.1.15",
        "iPhone/Edge",
        "phone",
        "Edge",
        "iOS",
    ),
    (  # Facebook in-app browser
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;"
        "FBSV/17.1.1;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]",
        "iPhone/Facebook",
        "phone",
        "Facebook",
        "iOS",
    ),
    (  # a bare WKWebView inside some app
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148",
        "iPhone/Safari",
        "phone",
        "Safari",
        "iOS",
    ),
    (
        "Mozilla/5.0 (iPod touch; CPU iPhone OS 15_7 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/15.6 Mobile/15E148 Safari/604.1",
        "iPod/Safari",
        "phone",
        "Safari",
        "iOS",
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.1 Mobile/15E148 Safari/604.1",
        "iPad/Safari",
        "tablet",
        "Safari",
        "iOS",
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
        "iPad/Chrome",
        "tablet",
        "Chrome",
        "iOS",
    ),
    # --- Android phones ---
    (  # Chrome's reduced UA ("K" instead of the model)
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36",
        "Android/Chrome",
        "phone",
        "Chrome",
        "Android",
    ),
    (GALAXY_S21_CHROME_120, "Android/Chrome", "phone", "Chrome", "Android"),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-G991B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
        "Android/Samsung Internet",
        "phone",
        "Samsung Internet",
        "Android",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.144 Mobile Safari/537.36",
        "Android/Chrome",
        "phone",
        "Chrome",
        "Android",
    ),
    (  # Android System WebView inside an app
        "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230901.001; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.163 Mobile Safari/537.36",
        "Android/Chrome",
        "phone",
        "Chrome",
        "Android",
    ),
    (
        "Mozilla/5.0 (Linux; Android 11; Redmi Note 9 Pro) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/118.0.0.0 Mobile Safari/537.36",
        "Android/Chrome",
        "phone",
        "Chrome",
        "Android",
    ),
    (
        "Mozilla/5.0 (Linux; U; Android 12; en-us; M2101K6G Build/SKQ1.210908.001) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/112.0.5615.136 "
        "Mobile Safari/537.36 XiaoMi/MiuiBrowser/14.2.0-g",
        "Android/MiuiBrowser",
        "phone",
        "MiuiBrowser",
        "Android",
    ),
    (
        "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
        "Android/Firefox",
        "phone",
        "Firefox",
        "Android",
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36 EdgA/120.0.2210.115",
        "Android/Edge",
        "phone",
        "Edge",
        "Android",
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; HD1913) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36 OPR/79.0.4195.76556",
        "Android/Opera",
        "phone",
        "Opera",
        "Android",
    ),
    (  # Facebook in-app browser on Android
        "Mozilla/5.0 (Linux; Android 13; SM-G991B Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.163 Mobile Safari/537.36 "
        "[FB_IAB/FB4A;FBAV/442.0.0.33.113;]",
        "Android/Facebook",
        "phone",
        "Facebook",
        "Android",
    ),
    (  # old Android 4 stock browser
        "Mozilla/5.0 (Linux; U; Android 4.0.4; en-us; GT-I9300 Build/IMM76D) AppleWebKit/534.30 "
        "(KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
        "Android/Android Browser",
        "phone",
        "Android Browser",
        "Android",
    ),
    # --- Android tablets, Kindle ---
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "Android/Chrome",
        "tablet",
        "Chrome",
        "Android",
    ),
    (
        "Mozilla/5.0 (Linux; Android 12; SM-T870) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/23.0 Chrome/115.0.0.0 Safari/537.36",
        "Android/Samsung Internet",
        "tablet",
        "Samsung Internet",
        "Android",
    ),
    (
        "Mozilla/5.0 (Linux; Android 11; Lenovo TB-J606F) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
        "Android/Chrome",
        "tablet",
        "Chrome",
        "Android",
    ),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 9 Build/MMB29K) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/55.0.2883.91 Safari/537.36",
        "Android/Chrome",
        "tablet",
        "Chrome",
        "Android",
    ),
    (
        "Mozilla/5.0 (Linux; Android 4.4.2; Nexus 7 Build/KOT49H) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/34.0.1847.114 Safari/537.36",
        "Android/Chrome",
        "tablet",
        "Chrome",
        "Android",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel Tablet) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "Android/Chrome",
        "tablet",
        "Chrome",
        "Android",
    ),
    (
        "Mozilla/5.0 (Android 13; Tablet; rv:109.0) Gecko/120.0 Firefox/120.0",
        "Android/Firefox",
        "tablet",
        "Firefox",
        "Android",
    ),
    (  # old Android 4 stock browser on a Galaxy Tab 3
        "Mozilla/5.0 (Linux; U; Android 4.2.2; en-us; GT-P5210 Build/JDQ39) AppleWebKit/534.30 "
        "(KHTML, like Gecko) Version/4.0 Safari/534.30",
        "Android/Android Browser",
        "tablet",
        "Android Browser",
        "Android",
    ),
    (
        "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Silk/119.3.1 like Chrome/119.0.6045.193 Safari/537.36",
        "Kindle/Silk",
        "tablet",
        "Silk",
        "Android",
    ),
    (
        "Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; KFTT Build/IML74K) AppleWebKit/534.30 "
        "(KHTML, like Gecko) Silk/3.68 Safari/534.30 Silk-Accelerated=true",
        "Kindle/Silk",
        "tablet",
        "Silk",
        "Android",
    ),
    # --- other phones, TVs ---
    (
        "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 "
        "Edge/15.15063",
        "Windows Phone/Edge",
        "phone",
        "Edge",
        "Windows Phone",
    ),
    (
        "Mozilla/5.0 (Mobile; rv:48.0; A405DL) Gecko/48.0 Firefox/48.0 KAIOS/2.5",
        "KaiOS/Firefox",
        "phone",
        "Firefox",
        "KaiOS",
    ),
    (
        "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36",
        "Tizen/Samsung Internet",
        "tv",
        "Samsung Internet",
        "Tizen",
    ),
    # --- bots, crawlers, non-browser clients ---
    (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Bot/Googlebot",
        "bot",
        "Googlebot",
        "Other",
    ),
    (  # Googlebot smartphone: looks like an Android phone, is a crawler
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/120.0.6099.129 Mobile Safari/537.36 "
        "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Bot/Googlebot",
        "bot",
        "Googlebot",
        "Android",
    ),
    (
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Bot/bingbot",
        "bot",
        "bingbot",
        "Other",
    ),
    (
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "Bot/YandexBot",
        "bot",
        "YandexBot",
        "Other",
    ),
    (
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Bot/FacebookBot",
        "bot",
        "FacebookBot",
        "Other",
    ),
    (  # ua-parser does not tag Bytespider as "Spider" (it says Generic Smartphone)
        "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
        "Bot/Bytespider",
        "bot",
        "Bytespider",
        "Android",
    ),
    ("curl/8.4.0", "Bot/curl", "bot", "curl", "Other"),
    ("python-requests/2.31.0", "Bot/Python Requests", "bot", "Python Requests", "Other"),
    ("Go-http-client/2.0", "Bot/Go-http-client", "bot", "Go-http-client", "Other"),
    ("Wget/1.21.4", "Bot/Wget", "bot", "Wget", "Other"),
    (  # ua-parser says "Generic Feature Phone" for HTTPie; it is a CLI tool
        "HTTPie/3.2.2",
        "Bot/HTTPie",
        "bot",
        "HTTPie",
        "Other",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/120.0.6099.109 Safari/537.36",
        "Bot/HeadlessChrome",
        "bot",
        "HeadlessChrome",
        "Windows",
    ),
    # --- native-app HTTP stacks are people, not bots ---
    (
        "Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A.230901.001)",
        "Android/Android Browser",
        "phone",
        "Android Browser",
        "Android",
    ),
    ("okhttp/4.12.0", "Unknown/okhttp", "unknown", "okhttp", "Other"),
]


def test_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 45
    assert len({row[0] for row in CORPUS}) == len(CORPUS), "duplicate user agents in corpus"


@pytest.mark.parametrize(
    ("user_agent", "label", "device_class", "browser_family", "os_family"),
    CORPUS,
    ids=[f"{i:02d}-{row[1]}" for i, row in enumerate(CORPUS)],
)
def test_corpus(
    user_agent: str, label: str, device_class: str, browser_family: str, os_family: str
) -> None:
    info = parse_user_agent(user_agent)
    assert (info.label, info.device_class, info.browser_family, info.os_family) == (
        label,
        device_class,
        browser_family,
        os_family,
    )
    assert info.device_class in DEVICE_CLASSES
    assert LABEL_RE.match(info.label)


def test_mobile_variants_are_normalised() -> None:
    raw_names = set(BROWSER_FAMILY_ALIASES)
    assert {"Chrome Mobile", "Chrome Mobile iOS", "Chrome Mobile WebView"} <= raw_names
    assert {"Mobile Safari", "Mobile Safari UI/WKWebView", "Firefox Mobile", "Firefox iOS"} <= (
        raw_names
    )
    for ua, _label, _cls, _browser, _os in CORPUS:
        assert parse_user_agent(ua).browser_family not in raw_names


def test_full_description_of_a_mac() -> None:
    info = parse_user_agent(MAC_CHROME_119)
    assert info == DeviceInfo(
        browser_family="Chrome",
        browser_major="119",
        os_family="Mac OS X",
        os_major="10",
        device_family="Mac",
        brand="Apple",
        model="Mac",
        device_class="desktop",
        label="Mac/Chrome",
    )
    assert info.browser == "Chrome 119"
    assert info.os == "macOS 10"
    assert info.stable_parts() == ("Chrome", "Mac", "desktop")
    assert info.legacy_parts() == ("Chrome", "Mac OS X", "Mac")


def test_description_of_phones() -> None:
    iphone = parse_user_agent(IPHONE_SAFARI_17)
    assert (iphone.browser, iphone.os, iphone.device_family) == ("Safari 17", "iOS 17", "iPhone")
    galaxy = parse_user_agent(GALAXY_S21_CHROME_120)
    assert (galaxy.browser, galaxy.os) == ("Chrome 120", "Android 13")
    assert (galaxy.device_family, galaxy.brand, galaxy.model) == (
        "Samsung SM-S911B",
        "Samsung",
        "SM-S911B",
    )


def test_windows_has_no_device_family_and_chromeos_hides_its_build_number() -> None:
    windows = parse_user_agent(WINDOWS_CHROME)
    assert (windows.device_family, windows.brand, windows.model) == ("Other", None, None)
    assert windows.os == "Windows 10"
    chromebook = parse_user_agent(CHROMEBOOK)
    assert chromebook.os_family == "Chrome OS"
    assert chromebook.os_major is None  # ua-parser would say "14541", a build number
    assert chromebook.os == "Chrome OS"


def test_browser_and_os_properties_without_major() -> None:
    info = replace(parse_user_agent(MAC_SAFARI), browser_major=None, os_major=None)
    assert info.browser == "Safari"
    assert info.os == "macOS"


# --- empty, huge and hostile input ---------------------------------------------------------


@pytest.mark.parametrize("user_agent", ["", " ", "\t\n", "-", "Mozilla/5.0", "x" * 600, "\x00"])
def test_empty_or_meaningless_is_unknown(user_agent: str) -> None:
    info = parse_user_agent(user_agent)
    assert info.label == "Unknown/Unknown"
    assert info.device_class == "unknown"
    assert info.stable_parts() == ("Other", "Unknown", "unknown")
    assert (info.browser_major, info.os_major, info.brand, info.model) == (None, None, None, None)


def test_empty_user_agent() -> None:
    info = parse_user_agent("")
    assert (info.label, info.device_class) == ("Unknown/Unknown", "unknown")
    assert info.browser == "Other"
    assert info.os == "Other"


@pytest.mark.parametrize("value", [None, b"curl/8.4.0", 42])
def test_non_str_input_is_unknown(value: object) -> None:
    info = parse_user_agent(value)  # type: ignore[arg-type]
    assert (info.label, info.device_class) == ("Unknown/Unknown", "unknown")


def test_long_input_is_cut_to_512_characters() -> None:
    padded = MAC_CHROME_119 + " " + "A" * 100_000
    assert parse_user_agent(padded) == parse_user_agent(padded[:MAX_USER_AGENT_LENGTH])
    assert parse_user_agent(padded).label == "Mac/Chrome"
    # whatever sits beyond the cut cannot change the answer
    tail = " " + "x" * (MAX_USER_AGENT_LENGTH - len(MAC_CHROME_119) - 1) + " Googlebot/2.1"
    assert parse_user_agent(MAC_CHROME_119 + tail).label == "Mac/Chrome"


def test_lone_surrogate_does_not_raise() -> None:
    # ua-parser's native resolver raises UnicodeEncodeError on this; we must not
    info = parse_user_agent("\ud800" + IPHONE_SAFARI_17)
    assert info.label == "iPhone/Safari"
    assert parse_user_agent("\udcff").label == "Unknown/Unknown"


def test_control_characters_captured_by_the_parser_are_removed() -> None:
    # ua-parser copies the text before "Build/" into the device model
    ua = (
        "Mozilla/5.0 (Linux; Android 13; Evil\x1b[2J\u202eModel\x07 Build/TQ3A) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"
    )
    info = parse_user_agent(ua)
    assert info.device_class == "phone"
    for text in (info.device_family, info.model, info.label, info.browser_family):
        assert text is not None
        assert text.isprintable(), repr(text)


def test_slash_in_a_parsed_family_never_reaches_the_label() -> None:
    # ua-parser's generic bot rule yields the browser family "com/bot" here
    ua = (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; "
        "+https://openai.com/bot"
    )
    info = parse_user_agent(ua)
    assert info.device_class == "bot"
    assert info.label.startswith("Bot/")
    assert LABEL_RE.match(info.label)


def test_results_are_cached() -> None:
    assert parse_user_agent(IPHONE_CHROME) is parse_user_agent(IPHONE_CHROME)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600))
def test_parse_never_raises_on_arbitrary_text(user_agent: str) -> None:
    info = parse_user_agent(user_agent)
    assert info.device_class in DEVICE_CLASSES
    assert LABEL_RE.match(info.label)
    assert "\n" not in info.label
    assert len(info.label) <= 65
    for text in (info.browser_family, info.os_family, info.device_family, info.label):
        assert text and text.isprintable()
    assert HEX16.match(fingerprint(KEY, info))


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(exclude_categories=()), max_size=600))
def test_parse_never_raises_with_surrogates_and_controls(user_agent: str) -> None:
    info = parse_user_agent(user_agent)
    assert info.device_class in DEVICE_CLASSES
    assert LABEL_RE.match(info.label)


_UA_ALPHABET = string.ascii_letters + string.digits + " ;:/()._-+,[]"


@settings(max_examples=200, deadline=None)
@given(
    st.builds(
        lambda prefix, middle, suffix: prefix + middle + suffix,
        st.sampled_from(["Mozilla/5.0 (", "Mozilla/5.0 (Linux; Android 13; ", "", "curl/"]),
        st.text(alphabet=_UA_ALPHABET, max_size=200),
        st.sampled_from(["", ") Chrome/120.0 Mobile Safari/537.36", " Build/X)", "bot/1.0"]),
    )
)
def test_parse_never_raises_on_ua_shaped_text(user_agent: str) -> None:
    info = parse_user_agent(user_agent)
    assert info.device_class in DEVICE_CLASSES
    assert LABEL_RE.match(info.label)


# --- fingerprints ----------------------------------------------------------------------------


def test_browser_upgrade_keeps_the_fingerprint() -> None:
    old, new = parse_user_agent(MAC_CHROME_119), parse_user_agent(MAC_CHROME_120)
    assert old.browser_major != new.browser_major
    assert fingerprint(KEY, old) == fingerprint(KEY, new)
    assert device_class_key(KEY, old) == device_class_key(KEY, new)


def test_os_and_browser_upgrade_on_a_phone_keeps_the_fingerprint() -> None:
    old = parse_user_agent(GALAXY_S21_CHROME_120)
    new = parse_user_agent(GALAXY_S21_CHROME_121_ANDROID_14)
    assert (old.os_major, new.os_major) == ("13", "14")
    assert fingerprint(KEY, old) == fingerprint(KEY, new)
    old_iphone, new_iphone = parse_user_agent(IPHONE_SAFARI_16), parse_user_agent(IPHONE_SAFARI_17)
    assert fingerprint(KEY, old_iphone) == fingerprint(KEY, new_iphone)


def test_fingerprint_is_16_lowercase_hex_and_deterministic() -> None:
    info = parse_user_agent(MAC_CHROME_119)
    value = fingerprint(KEY, info)
    assert HEX16.match(value)
    assert fingerprint(KEY, info) == value
    assert fingerprint(bytearray(KEY), info) == value


def test_different_key_gives_different_fingerprint() -> None:
    info = parse_user_agent(MAC_CHROME_119)
    assert fingerprint(KEY, info) != fingerprint(OTHER_KEY, info)
    assert device_class_key(KEY, info) != device_class_key(OTHER_KEY, info)


def test_device_id_changes_the_fingerprint() -> None:
    info = parse_user_agent(MAC_CHROME_119)
    plain = fingerprint(KEY, info)
    with_a = fingerprint(KEY, info, "device-a")
    with_b = fingerprint(KEY, info, "device-b")
    assert len({plain, with_a, with_b}) == 3
    # None and "" both mean "no device id"
    assert fingerprint(KEY, info, None) == plain
    assert fingerprint(KEY, info, "") == plain
    # a device id is not a fingerprint of its own: the stable parts still count
    iphone = parse_user_agent(IPHONE_SAFARI_17)
    assert fingerprint(KEY, info, "device-a") != fingerprint(KEY, iphone, "device-a")


def test_different_devices_differ() -> None:
    mac = parse_user_agent(MAC_SAFARI)
    iphone = parse_user_agent(IPHONE_SAFARI_17)
    assert mac.browser_family == iphone.browser_family == "Safari"
    assert fingerprint(KEY, mac) != fingerprint(KEY, iphone)
    assert device_class_key(KEY, mac) != device_class_key(KEY, iphone)
    # same phone, different browser: a different device entry
    assert fingerprint(KEY, iphone) != fingerprint(KEY, parse_user_agent(IPHONE_CHROME))


def test_only_stable_parts_are_inputs() -> None:
    info = parse_user_agent(MAC_CHROME_119)
    changed = replace(
        info,
        browser_major="1",
        os_major="99",
        brand="Evil",
        model="Other model",
        label="Some/Label",
    )
    assert fingerprint(KEY, changed) == fingerprint(KEY, info)
    # the device the user agent names is an input unless a device id stands in for it
    other = replace(info, device_family="MacBook")
    assert fingerprint(KEY, other) != fingerprint(KEY, info)
    assert fingerprint(KEY, other, "dev-1") == fingerprint(KEY, info, "dev-1")
    assert device_class_key(KEY, other) == device_class_key(KEY, info)
    assert fingerprint(KEY, replace(info, device_class="phone")) != fingerprint(KEY, info)
    assert fingerprint(KEY, replace(info, os_family="Windows")) != fingerprint(KEY, info)
    assert fingerprint(KEY, replace(info, browser_family="Edge")) != fingerprint(KEY, info)


def _info(browser: str, os: str, device_class: str) -> DeviceInfo:
    return DeviceInfo(
        browser_family=browser,
        browser_major=None,
        os_family=os,
        os_major=None,
        device_family="Other",
        brand=None,
        model=None,
        device_class=device_class,
        label="Unknown/Unknown",
    )


def test_part_boundaries_are_unambiguous() -> None:
    shifted = [
        _info("ab", "c", "d"),
        _info("a", "bc", "d"),
        _info("a", "b", "cd"),
        _info("abc", "", "d"),
        _info("", "abc", "d"),
        _info("a\x00b", "c", "d"),
        _info("a", "b\x00c", "d"),
    ]
    prints = {fingerprint(KEY, info) for info in shifted}
    assert len(prints) == len(shifted)
    classes = {device_class_key(KEY, info) for info in shifted}
    assert len(classes) == len(shifted)
    # the device id is a separate part, not glued onto the device class
    assert fingerprint(KEY, _info("a", "b", "cd")) != fingerprint(KEY, _info("a", "b", "c"), "d")
    assert fingerprint(KEY, _info("a", "b", "c"), "d") != fingerprint(
        KEY, _info("a", "b", "c\x00"), "d"
    )


def test_device_class_key_is_domain_separated_from_fingerprint() -> None:
    for ua, *_ in CORPUS:
        info = parse_user_agent(ua)
        cls_key = device_class_key(KEY, info)
        assert HEX8.match(cls_key)
        assert cls_key != fingerprint(KEY, info)[:8]
        assert not fingerprint(KEY, info).startswith(cls_key)


def test_device_class_key_groups_kinds_of_device() -> None:
    keys = {device_class_key(KEY, parse_user_agent(ua)) for ua, *_ in CORPUS}
    stable = {parse_user_agent(ua).stable_parts() for ua, *_ in CORPUS}
    assert len(keys) == len(stable)  # one key per kind, no accidental merges in the corpus


def test_key_must_be_non_empty_bytes() -> None:
    info = parse_user_agent(MAC_CHROME_119)
    with pytest.raises(ValueError, match="key"):
        fingerprint(b"", info)
    with pytest.raises(TypeError, match="key"):
        fingerprint("secret", info)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key"):
        device_class_key(b"", info)
    with pytest.raises(TypeError, match="device_id"):
        fingerprint(KEY, info, 123)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    key=st.binary(min_size=1, max_size=64),
    browser=st.text(max_size=40),
    os=st.text(max_size=40),
    device=st.text(max_size=40),
    device_id=st.one_of(st.none(), st.text(max_size=200)),
)
def test_fingerprint_shape(
    key: bytes, browser: str, os: str, device: str, device_id: str | None
) -> None:
    info = _info(browser, os, device)
    assert HEX16.match(fingerprint(key, info, device_id))
    assert HEX8.match(device_class_key(key, info))


# --- issue 11: defects found on uap-core's corpus -------------------------------------------


def test_lg_kf_series_is_a_phone_not_a_kindle() -> None:
    # "KF" is Amazon's Fire tablet prefix; LG's KF510 / KF600 are feature phones
    assert parse_user_agent("LG KF510").device_class == "phone"
    assert parse_user_agent(
        "Mozilla/5.0 (Java; U; Id; lg-kf600) UCBrowser8.2.0.132/69/452/UCWEB Mobile UNTRUSTED/1.0"
    ).device_class == "phone"
    fire = parse_user_agent(
        "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Silk/108.4.6 like Chrome/108.0.5359.220 Safari/537.36")
    assert (fire.label, fire.device_class) == ("Kindle/Silk", "tablet")


@pytest.mark.parametrize("user_agent", [
    "BaconReader/3.3.1(Android 4.4.2; LGE Nexus 4)",
    "Mozilla/5.0 (Android 4.2.2; de-de; GT-I9505 Build/JDQ39) "
    "FreeWheelAdManager/5.8.0-r10172-1308191214;com.vevo/504",
    "Mozilla/5.0 (Android) ownCloud-android/2.0.0",
    "Mozilla/5.0 (Linux; Android 4.0.3; GT-i9300 Build/IML74K) AppleWebKit/535.19 (KHTML, like "
    "Gecko) Chrome/18.0.1025.166 Safari/535.19",
])
def test_phones_in_app_user_agents_are_phones(user_agent: str) -> None:
    # no "Mobile" token, but ua-parser names a phone (or its generic smartphone)
    assert parse_user_agent(user_agent).device_class == "phone"


@pytest.mark.parametrize(("user_agent", "kind"), [
    ("Mozilla/5.0 (X11; Linux x86_64; Quest 2) AppleWebKit/537.36 (KHTML, like Gecko) "
     "OculusBrowser/26.2.0.0.10 SamsungBrowser/4.0 Chrome/110.0.5481.192 VR Safari/537.36", "vr"),
    ("Mozilla/5.0 (Android 10; Mobile VR; rv:105.0) Gecko/105.0 Firefox/105.0 Wolvic/1.2", "vr"),
    ("Mozilla/5.0 (Linux; Android 4.2.2; Woxter Android TV BOX 600 Build/JDQ39) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/30.0.1599.92 Safari/537.36", "tv"),
    ("Mozilla/5.0 (Linux; Android 9; AFTMM) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/70.0.3538.110 Safari/537.36", "tv"),
    ("Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/79.0.3945.79 Safari/537.36 WebAppManager", "tv"),
    ("Mozilla/5.0 (LG smartTV)", "tv"),
    ("Mozilla/5.0 (X11; Linux armv7l) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/89.0.4389.126 Safari/537.36 CrKey/1.54.250320", "tv"),
])
def test_vr_headsets_and_tvs_are_not_tablets(user_agent: str, kind: str) -> None:
    assert parse_user_agent(user_agent).device_class == kind


PIXEL_FULL = ("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/109.0.0.0 Mobile Safari/537.36")
PIXEL_REDUCED = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/120.0.0.0 Mobile Safari/537.36")
TAB_FULL = ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/109.0.0.0 Safari/537.36")
TAB_REDUCED = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/120.0.0.0 Safari/537.36")


def test_reduced_user_agent_k_is_an_unknown_model() -> None:
    phone, tablet = parse_user_agent(PIXEL_REDUCED), parse_user_agent(TAB_REDUCED)
    for info in (phone, tablet):
        assert (info.device_family, info.brand, info.model) == ("Other", None, None)
        assert info.parser_device_family == "K"  # kept for the v1 class key only
    assert (phone.device_class, tablet.device_class) == ("phone", "tablet")
    assert device_class_key(KEY, phone) != device_class_key(KEY, tablet)


@pytest.mark.parametrize(("full", "reduced"), [(PIXEL_FULL, PIXEL_REDUCED),
                                               (TAB_FULL, TAB_REDUCED)])
def test_update_to_the_reduced_user_agent_keeps_the_device(full: str, reduced: str) -> None:
    old, new = parse_user_agent(full), parse_user_agent(reduced)
    assert old.model is not None and new.model is None
    assert (old.reduced, new.reduced, new.ua_model) == (False, True, "")
    # the same kind (no device_mismatch mid-session); create.lua recognises the known device
    # of that kind, as the reduced fingerprint has no model (tests/test_devices_store.py)
    assert device_class_key(KEY, old) == device_class_key(KEY, new)
    assert old.label == new.label
    assert fingerprint(KEY, old) != fingerprint(KEY, new)


def test_distinct_android_phones_have_distinct_fingerprints() -> None:
    pixel = parse_user_agent(PIXEL_FULL)
    galaxy = parse_user_agent(PIXEL_FULL.replace("Pixel 7", "SM-S918B"))
    assert (pixel.ua_model, galaxy.ua_model) == ("Pixel 7", "Samsung SM-S918B")
    assert fingerprint(KEY, pixel) != fingerprint(KEY, galaxy)
    assert device_class_key(KEY, pixel) == device_class_key(KEY, galaxy)  # one kind
    # client hints never change the fingerprint (an app may pass them on some requests only)
    hinted = parse_user_agent(PIXEL_REDUCED, {"Sec-CH-UA-Model": '"Pixel 7"'})
    assert fingerprint(KEY, hinted) == fingerprint(KEY, parse_user_agent(PIXEL_REDUCED))


def test_doubled_spaces_do_not_change_the_parse() -> None:
    double = parse_user_agent("Mozilla/4.0 (compatible; MSIE  5.5; Windows NT 5.0)")
    single = parse_user_agent("Mozilla/4.0 (compatible; MSIE 5.5; Windows NT 5.0)")
    assert double == single
    assert (double.browser, double.label) == ("IE 5", "Windows/IE")
    assert normalise_user_agent("a  b\t\nc\x1b[2J ") == "a b c"
    assert normalise_user_agent(None) == normalise_user_agent("  ") == ""


def test_linux_distributions_are_one_device() -> None:
    ubuntu = parse_user_agent(
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0")
    plain = parse_user_agent("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 "
                             "Firefox/120.0")
    assert (ubuntu.os_family, plain.os_family) == ("Ubuntu", "Linux")
    assert ubuntu.label == plain.label == "Linux/Firefox"
    assert fingerprint(KEY, ubuntu) == fingerprint(KEY, plain)
    assert device_class_key(KEY, ubuntu) == device_class_key(KEY, plain)


@pytest.mark.parametrize(("user_agent", "label"), [
    ("wget2/1.99.2", "Bot/wget2"),
    ("PycURL/7.43.0 libcurl/7.47.0 OpenSSL/1.0.2g zlib/1.2.8", "Bot/PycURL"),
    ("libcurl-agent/1.0", "Bot/libcurl-agent"),
    ("aws-sdk-java/1.11.226 Mac_OS_X/10.12.6 Java_HotSpot(TM)_64-Bit_Server_VM/25.131-b11 "
     "java/1.8.0_131 scala/2.11.11", "Bot/aws-sdk-java"),
    ("unirest-java/1.3.11", "Bot/unirest-java"),
    ("HTTPClient/1.0 (2.8.3, ruby 2.5.5 (2019-03-15))", "Bot/HTTPClient"),
    ("fetch libfetch/2.0", "Bot/fetch libfetch"),
])
def test_http_libraries_are_bots_not_phones(user_agent: str, label: str) -> None:
    info = parse_user_agent(user_agent)
    assert (info.device_class, info.label) == ("bot", label)


def test_v1_class_key_is_what_the_previous_version_stored() -> None:
    # the v1 inputs, as version 1 computed them: browser, OS and ua-parser's device family
    info = parse_user_agent(PIXEL_REDUCED)
    assert info.legacy_parts() == ("Chrome", "Android", "K")
    assert legacy_device_class_key(KEY, info) != device_class_key(KEY, info)
    assert HEX8.match(legacy_device_class_key(KEY, info))
    mac = parse_user_agent(MAC_CHROME_119)
    assert legacy_device_class_key(KEY, mac) == legacy_device_class_key(
        KEY, parse_user_agent(MAC_CHROME_120))


# --- client hints ---------------------------------------------------------------------------

PIXEL_HINTS = {
    "Sec-CH-UA": '"Not_A Brand";v="8", "Chromium";v="120", "Google Chrome";v="120"',
    "Sec-CH-UA-Mobile": "?1",
    "Sec-CH-UA-Platform": '"Android"',
    "Sec-CH-UA-Platform-Version": '"14.0.0"',
    "Sec-CH-UA-Model": '"Pixel 7"',
}


def test_client_hints_refine_model_os_version_and_mobile() -> None:
    info = parse_user_agent(PIXEL_REDUCED, PIXEL_HINTS)
    assert (info.model, info.device_family, info.os, info.device_class) == (
        "Pixel 7", "Pixel 7", "Android 14", "phone")
    # the hints never change the kind of device a browser's own headers describe
    assert fingerprint(KEY, info) == fingerprint(KEY, parse_user_agent(PIXEL_REDUCED))
    assert info.ua_model == ""
    assert device_class_key(KEY, info) == device_class_key(KEY, parse_user_agent(PIXEL_FULL))
    # lower-case names (Starlette's headers, a dict built by hand) are read too
    lower = {k.lower(): v for k, v in PIXEL_HINTS.items()}
    assert parse_user_agent(PIXEL_REDUCED, lower) == info


def test_client_hints_mobile_decides_phone_or_tablet_on_android() -> None:
    tablet_hints = {**PIXEL_HINTS, "Sec-CH-UA-Mobile": "?0", "Sec-CH-UA-Model": '"SM-X700"'}
    assert parse_user_agent(TAB_REDUCED, tablet_hints).device_class == "tablet"
    assert parse_user_agent(TAB_REDUCED, {"Sec-CH-UA-Mobile": "?1"}).device_class == "phone"


def test_client_hints_windows_11_and_unknown_platform() -> None:
    win = {"Sec-CH-UA-Platform": '"Windows"', "Sec-CH-UA-Platform-Version": '"15.0.0"'}
    assert parse_user_agent(WINDOWS_CHROME, win).os == "Windows 11"
    assert parse_user_agent(WINDOWS_CHROME, {**win, "Sec-CH-UA-Platform-Version": '"10.0.0"'}
                            ).os == "Windows 10"
    # a platform that contradicts the user agent is not taken; one the UA lacks is
    assert parse_user_agent(MAC_CHROME_119, win).os_family == "Mac OS X"
    assert parse_user_agent("", {"Sec-CH-UA-Platform": '"macOS"'}).label == "Mac/Unknown"


@pytest.mark.parametrize("hints", [
    {"Sec-CH-UA-Model": '"' + "A" * 600 + '"'},           # too long
    {"Sec-CH-UA-Model": "Pixel 7"},                       # not an sf-string
    {"Sec-CH-UA-Model": '"Pix\x1bel"'},                   # control character
    {"Sec-CH-UA-Mobile": "?2"},
    {"Sec-CH-UA": '"Chrome";v="120", garbage'},
    {"Sec-CH-UA-Platform": '"Windows'},
    {"Sec-CH-UA-Platform-Version": '"15.0.0; rm -rf"'},
    {"Sec-CH-UA-Model": 7},                               # not a str
    {},
])
def test_unusable_client_hints_are_absent(hints: dict) -> None:
    assert parse_user_agent(TAB_REDUCED, hints) == parse_user_agent(TAB_REDUCED)


_HINT_NAMES = ("Sec-CH-UA", "Sec-CH-UA-Mobile", "Sec-CH-UA-Platform",
               "Sec-CH-UA-Platform-Version", "Sec-CH-UA-Model", "Sec-CH-UA-Full-Version-List")
_hint_value = st.one_of(
    st.text(max_size=80),
    st.text(st.characters(exclude_categories=()), max_size=40),
    st.builds(lambda s: f'"{s}"', st.text(max_size=40)),
    st.sampled_from(["?0", "?1", '"Android"', '"Windows"', '"15.0.0"', '"Pixel 7"',
                     '"Chromium";v="120", "Not_A Brand";v="8"', '"a";v=', '";;,,"']),
    st.builds(lambda n: '"' + "x" * n + '"', st.integers(500, 3000)),
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300),
       st.dictionaries(st.sampled_from(_HINT_NAMES + tuple(n.lower() for n in _HINT_NAMES)),
                       _hint_value, max_size=6))
def test_arbitrary_user_agent_and_hints_never_raise(user_agent: str, hints: dict) -> None:
    info = parse_user_agent(user_agent, hints)
    assert info.device_class in DEVICE_CLASSES
    assert LABEL_RE.match(info.label) and len(info.label) <= 65
    for text in (info.label, info.browser_family, info.os_family, info.device_family,
                 info.brand, info.model, info.browser_major, info.os_major, info.browser, info.os):
        assert text is None or (text.isprintable() and len(text) <= 81), repr(text)


_ua_words = st.lists(st.sampled_from(
    ["Mozilla/5.0", "(Linux;", "Android", "10;", "K)", "AppleWebKit/537.36", "(KHTML,", "like",
     "Gecko)", "Chrome/120.0.0.0", "Mobile", "Safari/537.36", "MSIE", "5.5;", "(compatible;",
     "Windows", "NT", "10.0;", "Ubuntu;", "X11;", "Firefox/120.0", "rv:120.0)", "iPhone;", "CPU"]),
    min_size=1, max_size=14)
_gaps = st.lists(st.sampled_from([" ", "  ", "\t", " \n ", "   "]), min_size=14, max_size=14)


@settings(max_examples=300, deadline=None)
@given(_ua_words, _gaps)
def test_parse_is_idempotent_under_white_space_normalisation(words: list, gaps: list) -> None:
    spaced = "".join(w + g for w, g in zip(words, gaps, strict=False))
    single = " ".join(words)
    assert normalise_user_agent(spaced) == single
    assert parse_user_agent(spaced) == parse_user_agent(single)
    assert parse_user_agent(normalise_user_agent(spaced)) == parse_user_agent(spaced)


class _EnvironHeaders:
    """Like Werkzeug's (Flask's) ``request.headers``: a case-insensitive ``get``, not a
    ``collections.abc.Mapping``."""

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = {k.lower(): v for k, v in headers.items()}

    def __len__(self) -> int:
        return len(self._headers)

    def get(self, key: str, default: object = None) -> object:
        return self._headers.get(key.lower(), default)


def test_client_hints_from_headers_that_are_not_a_mapping() -> None:
    assert parse_user_agent(PIXEL_REDUCED, _EnvironHeaders(PIXEL_HINTS)) == parse_user_agent(
        PIXEL_REDUCED, PIXEL_HINTS)


@pytest.mark.parametrize("hints", [
    {"Sec-CH-UA-Model": '"Kindle Fire"'},
    {"Sec-CH-UA-Model": '"SM-T970"'},
    {"Sec-CH-UA-Model": '"iPhone"', "Sec-CH-UA-Platform": '"iOS"'},
    {"Sec-CH-UA-Platform": '"Windows"', "Sec-CH-UA-Platform-Version": '"15.0.0"'},
])
def test_hints_without_mobile_never_change_the_kind(hints: dict) -> None:
    for ua in (PIXEL_REDUCED, TAB_REDUCED, PIXEL_FULL, MAC_CHROME_119):
        plain, hinted = parse_user_agent(ua), parse_user_agent(ua, hints)
        assert hinted.stable_parts() == plain.stable_parts(), (ua, hints)
        assert hinted.label == plain.label
        assert fingerprint(KEY, hinted) == fingerprint(KEY, plain)
