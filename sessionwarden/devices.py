"""Device descriptions and keyed device fingerprints from user-agent strings.

A session remembers *which device* it belongs to so that a stolen token showing up somewhere
else can be noticed. The user agent is parsed with ``ua_parser`` (its default parser picks the
fastest resolver installed and keeps its own cache); this module only normalises the result
(``"Chrome Mobile"`` and ``"Chrome"`` are the same browser), decides a coarse device class, and
builds a short label such as ``"Mac/Chrome"`` or ``"iPhone/Safari"`` for people to read.

Fingerprints are computed over the *stable* parts only: browser family, OS family and device
family. Browser and OS versions change with every upgrade and the IP address changes with every
Wi-Fi network or mobile cell, so neither is an input: a Chrome update or a train ride is not a
new device. The fingerprint is a keyed HMAC, so someone who reads the stored value cannot test
guesses ("is this an iPhone?") without the server key, and it is only ever compared within one
user's own devices, so 64 bits is plenty.

Everything here is pure: no I/O, no Redis, no clock. User agents are attacker-controlled; the
caller is expected to cut them to 512 characters, but every function here also copes with
longer, empty, binary-looking or deliberately odd text without raising.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import unicodedata
from dataclasses import dataclass

import ua_parser

__all__ = [
    "BROWSER_FAMILY_ALIASES",
    "DEVICE_CLASSES",
    "MAX_USER_AGENT_LENGTH",
    "DeviceInfo",
    "device_class_key",
    "fingerprint",
    "parse_user_agent",
]

DEVICE_CLASSES = ("desktop", "phone", "tablet", "bot", "unknown")

#: Longer user agents are cut to this many characters before parsing (and before caching, so a
#: flood of huge distinct strings cannot grow the cache beyond ``4096 * 512`` characters).
MAX_USER_AGENT_LENGTH = 512

#: Browser families as ua-parser names them -> the family this module reports. Mobile builds,
#: iOS shells and embedded web views of one browser are the same browser for a person looking at
#: their device list, and must not make a phone look like a new device after an app update.
BROWSER_FAMILY_ALIASES: dict[str, str] = {
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Chrome",
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",  # in-app web views on iOS
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Firefox Beta": "Firefox",
    "Firefox Alpha": "Firefox",
    "Edge Mobile": "Edge",
    "Opera Mobile": "Opera",
    "Opera GX": "Opera",
    "IE Mobile": "IE",
    "IE Large Screen": "IE",
    "DuckDuckGo Mobile": "DuckDuckGo",
    "QQ Browser Mobile": "QQ Browser",
    "Amazon Silk": "Silk",
    # ua-parser calls the pre-Chrome stock Android browser (and the Dalvik HTTP client) just
    # "Android", which reads as the OS, not a browser: "Android/Android" would be a poor label.
    "Android": "Android Browser",
}

# Clients that are not a person's browser: crawlers ua-parser does not tag as "Spider", HTTP
# libraries and command-line tools, headless browsers used for automation. HTTP libraries that
# native mobile apps use (okhttp, CFNetwork, Dalvik) are deliberately *not* listed: a person's
# app is a real device.
_NON_BROWSER_FAMILIES = frozenset(
    {
        "curl",
        "Wget",
        "Python Requests",
        "Python-urllib",
        "Python aiohttp",
        "Go-http-client",
        "Apache-HttpClient",
        "Java",
        "libwww-perl",
        "HTTPie",
        "PostmanRuntime",
        "axios",
        "node-fetch",
        "Scrapy",
        "HeadlessChrome",
        "PhantomJS",
    }
)
# Substrings of a (lower-cased) browser family that mark a crawler: "Googlebot", "bingbot",
# "Bytespider", "Pinterestbot", ... ua-parser names them after the crawler.
_CRAWLER_WORDS = ("bot", "spider", "crawler", "slurp")

_LINUX_FAMILIES = frozenset(
    {
        "Linux",
        "Ubuntu",
        "Kubuntu",
        "Lubuntu",
        "Linux Mint",
        "Debian",
        "Fedora",
        "Red Hat",
        "CentOS",
        "Arch Linux",
        "Gentoo",
        "Slackware",
        "openSUSE",
        "SUSE",
        "Mageia",
        "Mandriva",
        "PCLinuxOS",
        "Puppy",
        "BackTrack",
    }
)
_DESKTOP_OS_FAMILIES = _LINUX_FAMILIES | {
    "Mac OS X",
    "Mac OS",
    "Windows",
    "Chrome OS",
    "FreeBSD",
    "OpenBSD",
    "NetBSD",
    "BSD",
    "Solaris",
    "SerenityOS",
}
_PHONE_OS_FAMILIES = frozenset(
    {
        "iOS",
        "Android",
        "HarmonyOS",
        "Windows Phone",
        "Windows Mobile",
        "BlackBerry OS",
        "Symbian OS",
        "Symbian^3",
        "Symbian^3 Anna",
        "Symbian^3 Belle",
        "KaiOS",
        "Firefox OS",
        "Nokia Series 40",
        "Nokia Series 30 Plus",
        "Bada",
        "Sailfish",
        "MeeGo",
        "Maemo",
        "Brew MP",
        "BREW",
    }
)
_TABLET_OS_FAMILIES = frozenset({"BlackBerry Tablet OS"})
_ANDROID_LIKE = frozenset({"Android", "HarmonyOS"})
# Parsed model / device-family hints for Android tablets whose browser still sends "Mobile" or
# that ua-parser does not file under "Generic_Android_Tablet" (Galaxy Tab SM-T/SM-X/SM-P, Lenovo
# TB-, Nexus 7/9/10, Pixel Tablet, MatePad, ...). These look at ua-parser's output, not the UA.
_TABLET_MODEL_PREFIXES = ("SM-T", "SM-X", "SM-P", "GT-P", "TB-", "Kindle", "KF")
_TABLET_FAMILY_WORDS = ("Tab", "Nexus 7", "Nexus 9", "Nexus 10", "Pixel C", "MatePad", "Kindle")

#: Platform part of the label, by OS family. Linux distributions are all "Linux". iOS is refined
#: by device (iPhone / iPad / iPod); Android phones and tablets are both "Android" (a tablet is
#: told apart by ``device_class``), except Amazon's Fire tablets and e-readers, which are
#: "Kindle". Other known OS families are shown by name ("FreeBSD", "Tizen"), unknown as "Unknown".
_PLATFORM_BY_OS = {
    "Mac OS X": "Mac",
    "Mac OS": "Mac",
    "Windows": "Windows",
    "Chrome OS": "ChromeOS",
    "iOS": "iOS",
    "Android": "Android",
    **dict.fromkeys(_LINUX_FAMILIES, "Linux"),
}
_PRETTY_OS = {"Mac OS X": "macOS", "Mac OS": "macOS"}
# ua-parser reports ChromeOS's platform build number ("14541" from "CrOS x86_64 14541.0.0") as
# its major version; it is not a version people know, so it is dropped.
_OS_WITHOUT_VERSION = frozenset({"Chrome OS"})

_MAX_FIELD = 64  # longest family / brand / model kept from the parser
_MAX_VERSION = 16
_MAX_LABEL_PART = 32

_FINGERPRINT_DOMAIN = b"sessionwarden/device-fingerprint/v1\x00"
_CLASS_KEY_DOMAIN = b"sessionwarden/device-class-key/v1\x00"


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What a user agent says about the device, normalised for display and fingerprinting.

    Families are ``"Other"`` and majors / brand / model are ``None`` when unknown. Every text
    field is printable single-line text of bounded length (controls, bidi overrides and the like
    are removed), so it is safe to store and to show.
    """

    browser_family: str
    browser_major: str | None
    os_family: str
    os_major: str | None
    device_family: str
    brand: str | None
    model: str | None
    device_class: str
    label: str

    @property
    def browser(self) -> str:
        """Browser family and major version, e.g. ``"Chrome 119"``; just the family if unknown."""
        return _with_major(self.browser_family, self.browser_major)

    @property
    def os(self) -> str:
        """OS family and major version, e.g. ``"iOS 17"``, ``"macOS 10"``, ``"Windows 10"``.

        ``"Mac OS X"`` is shown as ``"macOS"``. Browsers froze the macOS version in the user
        agent at 10.15, so a current Mac usually reads ``"macOS 10"``.
        """
        return _with_major(_PRETTY_OS.get(self.os_family, self.os_family), self.os_major)

    def stable_parts(self) -> tuple[str, str, str]:
        """``(browser_family, os_family, device_family)``: what survives upgrades and new networks.

        These are the fingerprint inputs; versions and the network are deliberately not.
        """
        return (self.browser_family, self.os_family, self.device_family)


UNKNOWN_DEVICE = DeviceInfo(
    browser_family="Other",
    browser_major=None,
    os_family="Other",
    os_major=None,
    device_family="Other",
    brand=None,
    model=None,
    device_class="unknown",
    label="Unknown/Unknown",
)


def parse_user_agent(user_agent: str) -> DeviceInfo:
    """Describe the device behind ``user_agent``; never raises.

    - Empty, all-white-space or non-``str`` input, and anything ua-parser cannot make sense of,
      gives :data:`UNKNOWN_DEVICE` (families ``"Other"``, class ``"unknown"``, label
      ``"Unknown/Unknown"``).
    - Input longer than :data:`MAX_USER_AGENT_LENGTH` (512) characters is cut to that length
      first; real user agents fit, and the cut bounds both parsing time and cache memory.
    - Hostile text (control characters, lone surrogates, NULs, text crafted to make the parser
      capture odd names) cannot raise or leak into the result unfiltered: lone surrogates are
      replaced before parsing, and every field is cleaned to printable text of bounded length.
      Should the parser itself fail, the result is :data:`UNKNOWN_DEVICE`.

    Results are cached (LRU, 4096 entries): the same user agent arrives on every request.

    Device class (one of :data:`DEVICE_CLASSES`):

    - ``"bot"``: ua-parser's ``"Spider"`` device, a browser family that names a crawler
      (``Googlebot``, ``bingbot``, ``Bytespider``, ``FacebookBot``, ...), or an obvious
      non-browser client: command-line tools and HTTP libraries (curl, Wget, python-requests,
      Python-urllib, aiohttp, Go-http-client, Java, Apache-HttpClient, HTTPie, Postman, axios,
      Scrapy) and headless browsers (HeadlessChrome, PhantomJS). HTTP stacks of native mobile
      apps (okhttp, CFNetwork, Dalvik) are *not* bots.
    - ``"tablet"``: iPad; Kindle / Fire devices; Android devices ua-parser files as tablets or
      whose model is a known tablet line (SM-T, SM-X, SM-P, GT-P, Lenovo TB-, Nexus 7/9/10,
      Pixel Tablet, "Tab"); Android browsers (``Mozilla/...`` user agents) that leave out the
      ``Mobile`` token, which Android browsers send on phones only.
    - ``"phone"``: iPhone, iPod and other iOS devices, remaining Android devices, Windows
      Phone, KaiOS, BlackBerry, Symbian and other mobile OSes, and ua-parser's generic
      smartphone / feature phone.
    - ``"desktop"``: macOS, Windows, Linux distributions, ChromeOS, the BSDs, Solaris.
    - ``"unknown"``: everything else (TVs, consoles, no recognisable OS). Note that iPadOS Safari
      sends a Mac user agent by default, so such an iPad is, unavoidably, ``"Mac/Safari"``.

    Label ``"Platform/Browser"``: platform is ``Mac``, ``Windows``, ``Linux`` (all distros),
    ``ChromeOS``, ``iPhone``, ``iPad``, ``iPod``, ``iOS`` (other iOS devices), ``Android``
    (phones *and* tablets; see ``device_class``), ``Kindle``, ``Bot``, any other recognised OS by
    name (``FreeBSD``, ``Tizen``, ``Windows Phone``), else ``Unknown``. The browser part is the
    normalised browser family, or ``Unknown``; for bots it is the crawler / client family
    (``"Bot/Googlebot"``, ``"Bot/curl"``). Neither part contains ``/``.
    """
    if not isinstance(user_agent, str):
        return UNKNOWN_DEVICE
    return _parse_cached(user_agent[:MAX_USER_AGENT_LENGTH])


@functools.lru_cache(maxsize=4096)
def _parse_cached(user_agent: str) -> DeviceInfo:
    if not user_agent.strip():
        return UNKNOWN_DEVICE
    # The native resolver takes UTF-8: a lone surrogate (e.g. from surrogateescape decoding)
    # would raise UnicodeEncodeError, so replace such code points with "?" first.
    text = user_agent.encode("utf-8", "replace").decode("utf-8")
    try:
        result = ua_parser.parse(text).with_defaults()
    except Exception:
        return UNKNOWN_DEVICE
    return _describe(text, result)


def _describe(text: str, result: ua_parser.DefaultedResult) -> DeviceInfo:
    raw_browser = _clean(result.user_agent.family, _MAX_FIELD) or "Other"
    browser_family = BROWSER_FAMILY_ALIASES.get(raw_browser, raw_browser)
    os_family = _clean(result.os.family, _MAX_FIELD) or "Other"
    device_family = _clean(result.device.family, _MAX_FIELD) or "Other"
    brand = _clean(result.device.brand, _MAX_FIELD)
    model = _clean(result.device.model, _MAX_FIELD)
    os_major = _clean(result.os.major, _MAX_VERSION)
    if os_family in _OS_WITHOUT_VERSION:
        os_major = None

    device_class = _classify(text, browser_family, os_family, device_family, brand, model)
    label = _label(device_class, browser_family, os_family, device_family)
    return DeviceInfo(
        browser_family=browser_family,
        browser_major=_clean(result.user_agent.major, _MAX_VERSION),
        os_family=os_family,
        os_major=os_major,
        device_family=device_family,
        brand=brand,
        model=model,
        device_class=device_class,
        label=label,
    )


def _is_bot(browser_family: str, device_family: str, brand: str | None) -> bool:
    if device_family == "Spider" or brand == "Spider" or browser_family in _NON_BROWSER_FAMILIES:
        return True
    lowered = browser_family.lower()
    return any(word in lowered for word in _CRAWLER_WORDS)


def _is_tablet_device(device_family: str, brand: str | None, model: str | None) -> bool:
    if device_family == "iPad" or device_family == "Generic Tablet":
        return True
    if brand == "Generic_Android_Tablet":
        return True
    if model is not None and model.startswith(_TABLET_MODEL_PREFIXES):
        return True
    return any(word in device_family for word in _TABLET_FAMILY_WORDS)


def _classify(
    text: str,
    browser_family: str,
    os_family: str,
    device_family: str,
    brand: str | None,
    model: str | None,
) -> str:
    if _is_bot(browser_family, device_family, brand):
        return "bot"
    if _is_tablet_device(device_family, brand, model) or os_family in _TABLET_OS_FAMILIES:
        return "tablet"
    if os_family in _ANDROID_LIKE:
        # Android browsers put "Mobile" in the UA on phones and leave it out on tablets. Only
        # browser-style ("Mozilla/...") UAs follow that rule; app HTTP clients (Dalvik/...) don't.
        if "Mobile" not in text and text.lstrip().startswith("Mozilla/"):
            return "tablet"
        return "phone"
    if os_family in _PHONE_OS_FAMILIES or device_family.startswith(("iPhone", "iPod")):
        return "phone"
    if device_family in ("Generic Smartphone", "Generic Feature Phone"):
        return "phone"
    if os_family in _DESKTOP_OS_FAMILIES:
        return "desktop"
    return "unknown"


def _label(device_class: str, browser_family: str, os_family: str, device_family: str) -> str:
    browser = _label_part("Unknown" if browser_family == "Other" else browser_family)
    if device_class == "bot":
        return f"Bot/{browser}"
    if device_family.startswith("Kindle"):
        platform = "Kindle"
    elif os_family == "iOS" and device_family in ("iPhone", "iPad", "iPod"):
        platform = device_family
    elif os_family == "Other":
        platform = "Unknown"
    else:
        platform = _PLATFORM_BY_OS.get(os_family, os_family)
    return f"{_label_part(platform)}/{browser}"


def _label_part(text: str) -> str:
    return text.replace("/", " ").strip()[:_MAX_LABEL_PART].strip() or "Unknown"


def _with_major(family: str, major: str | None) -> str:
    return f"{family} {major}" if major else family


def _clean(value: str | None, limit: int) -> str | None:
    """Printable single-line text of at most ``limit`` characters, or ``None`` if nothing is left.

    ua-parser copies parts of the user agent into families and models (``$1`` in its rules), so
    these fields are as untrusted as the user agent itself.
    """
    if not value:
        return None
    kept = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in value[: limit * 4])
    cleaned = " ".join(kept.split())[:limit].strip()
    return cleaned or None


def _encode_parts(parts: tuple[str, ...]) -> bytes:
    # Count, then each part as 4-byte big-endian length + UTF-8: no two part tuples encode the
    # same, so ("ab", "c") and ("a", "bc") cannot collide. "surrogatepass" keeps this total
    # (and still injective) even for a hand-built DeviceInfo holding a lone surrogate.
    out = [len(parts).to_bytes(1, "big")]
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        out.append(len(data).to_bytes(4, "big"))
        out.append(data)
    return b"".join(out)


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray):
        raise TypeError(f"key: expected bytes, got {type(key).__name__}")
    if not key:
        raise ValueError("key: must not be empty")


def fingerprint(key: bytes, info: DeviceInfo, device_id: str | None = None) -> str:
    """Keyed device fingerprint: 16 lowercase hex characters (64 bits).

    HMAC-SHA256 under ``key`` over ``info.stable_parts()`` and, when given and non-empty,
    ``device_id`` (an app- or cookie-supplied identifier; ``None`` and ``""`` mean the same:
    no device id). Versions and the IP address are never inputs, so a browser upgrade or a new
    network keeps the fingerprint; a different key, browser, OS, device or device id changes it.
    Parts are length-prefixed, so no two different inputs share an encoding. Inputs of any
    length or content are hashed as they are (nothing is truncated, nothing raises).

    Raises ``TypeError`` if ``key`` is not bytes or ``device_id`` is not ``str``/``None``, and
    ``ValueError`` for an empty key: an unkeyed fingerprint is a configuration error, not a
    value to store.
    """
    _check_key(key)
    if device_id is not None and not isinstance(device_id, str):
        raise TypeError(f"device_id: expected str or None, got {type(device_id).__name__}")
    parts: tuple[str, ...] = info.stable_parts()
    if device_id:
        parts = (*parts, device_id)
    message = _FINGERPRINT_DOMAIN + _encode_parts(parts)
    return hmac.new(bytes(key), message, hashlib.sha256).hexdigest()[:16]


def device_class_key(key: bytes, info: DeviceInfo) -> str:
    """Keyed 8-hex-character key of the *kind* of device (stable parts only, no device id).

    Two sessions with the same browser family, OS family and device family share it, whatever
    their device ids; a token replayed from another kind of device gets a different one. It
    uses its own HMAC domain prefix, so it is not a prefix of (or otherwise derivable from)
    :func:`fingerprint` for the same input. Same key rules as :func:`fingerprint`.
    """
    _check_key(key)
    message = _CLASS_KEY_DOMAIN + _encode_parts(info.stable_parts())
    return hmac.new(bytes(key), message, hashlib.sha256).hexdigest()[:8]
