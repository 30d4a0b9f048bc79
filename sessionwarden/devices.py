"""Device descriptions and keyed device fingerprints from user-agent strings.

A session remembers *which device* it belongs to so that a stolen token showing up somewhere
else can be noticed. The user agent is parsed with ``ua_parser`` (its default parser picks the
fastest resolver installed and keeps its own cache); this module only normalises the result
(``"Chrome Mobile"`` and ``"Chrome"`` are the same browser), decides a coarse device class, and
builds a short label such as ``"Mac/Chrome"`` or ``"iPhone/Safari"`` for people to read.

Fingerprints are computed over the *stable* parts only: browser family, platform (the label's
left part: ``Mac``, ``Windows``, ``Linux`` for every distribution, ``iPhone``, ``Android``, ...)
and device class (phone, tablet, desktop, ...). Browser and OS versions change with every
upgrade, Chrome's reduced user agent dropped the phone model (``Linux; Android 10; K``), and the
IP address changes with every Wi-Fi network or mobile cell, so none is an input: a Chrome
update, the switch to the reduced user agent or a train ride is not a new device. The
fingerprint is a keyed HMAC, so someone who reads the stored value cannot test guesses ("is
this an iPhone?") without the server key, and it is only ever compared within one user's own
devices, so 64 bits is plenty.

Everything here is pure: no I/O, no Redis, no clock. User agents and client hints are
attacker-controlled; every function here copes with long, empty, binary-looking or deliberately
odd text without raising. A user agent is normalised once, by :func:`normalise_user_agent`
(controls and escapes removed, runs of white space collapsed, cut to 512 characters), before
anything looks at it, whichever path it came by.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass

import ua_parser

from .client_hints import ClientHints, HeadersLike, parse_client_hints
from .sanitize import clean_text

__all__ = [
    "BROWSER_FAMILY_ALIASES",
    "DEVICE_CLASSES",
    "MAX_USER_AGENT_LENGTH",
    "DeviceInfo",
    "device_class_key",
    "fingerprint",
    "legacy_device_class_key",
    "legacy_fingerprint",
    "normalise_user_agent",
    "parse_user_agent",
]

DEVICE_CLASSES = ("desktop", "phone", "tablet", "tv", "vr", "bot", "unknown")

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
        "Python Requests",
        "Python-urllib",
        "Python aiohttp",
        "Go-http-client",
        "Java",
        "libwww-perl",
        "HTTPie",
        "PostmanRuntime",
        "axios",
        "node-fetch",
        "Scrapy",
        "HeadlessChrome",
        "PhantomJS",
        "unirest-java",
    }
)
# Substrings of a (lower-cased) browser family that mark a crawler ("Googlebot", "bingbot",
# "Bytespider", ...: ua-parser names them after the crawler) or an HTTP library / tool (curl,
# PycURL, libcurl-agent, Wget, wget2, FreeBSD's "fetch libfetch", Apache-HttpClient, Ruby's
# HTTPClient, aws-sdk-java, aws-sdk-go, ...).
_NON_BROWSER_WORDS = (
    "bot", "spider", "crawler", "slurp", "curl", "wget", "libfetch", "httpclient", "http-client",
    "aws-sdk",
)

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
_TV_OS_FAMILIES = frozenset({"ATV OS X", "tvOS", "Roku", "Chromecast Linux", "Web0S", "webOS TV"})
_ANDROID_LIKE = frozenset({"Android", "HarmonyOS"})
# Parsed model / device-family hints for Android tablets whose browser still sends "Mobile" or
# that ua-parser does not file under "Generic_Android_Tablet" (Galaxy Tab SM-T/SM-X/SM-P, Lenovo
# TB-, Nexus 7/9/10, Pixel Tablet, MatePad, ...). These look at ua-parser's output, not the UA.
# Amazon's Fire tablets are "KF..." models, but only Amazon's: LG's KF510 is a phone.
_TABLET_MODEL_PREFIXES = ("SM-T", "SM-X", "SM-P", "GT-P", "TB-", "Kindle")
_AMAZON_TABLET_PREFIX = "KF"
_TABLET_FAMILY_WORDS = ("Tab", "Nexus 7", "Nexus 9", "Nexus 10", "Pixel C", "MatePad", "Kindle")
# Phone lines whose app user agents (which lack the browser's "Mobile" token) ua-parser still
# names: Galaxy S/Note/A/J/M/Z (SM-G/N/A/J/M/F/S, GT-I/GT-S), Nexus 4/5/6, Pixel phones.
_PHONE_MODEL_PREFIXES = (
    "SM-G", "SM-N", "SM-A", "SM-J", "SM-M", "SM-F", "SM-S", "GT-I", "GT-S", "Nexus 4", "Nexus 5",
    "Nexus 6", "Pixel",
)
_TABLET_MODEL_UPPER = tuple(prefix.upper() for prefix in _TABLET_MODEL_PREFIXES)
_PHONE_MODEL_UPPER = tuple(prefix.upper() for prefix in _PHONE_MODEL_PREFIXES)
_PHONE_DEVICE_FAMILIES = frozenset({"Generic Smartphone", "Generic Feature Phone"})
# Smart TVs, TV boxes and sticks, and VR headsets, by tokens of the user agent itself (their
# browsers are Chrome / Samsung Internet / Firefox and their OS Android or Linux, so nothing in
# ua-parser's families says it). Fire TV models are "AFT..." (Android's model slot),
# Chromecast's browser "CrKey".
_TV_TEXT = re.compile(
    r"SMART-?TV|HbbTV|\bCrKey/|Google ?TV|Android ?TV|BRAVIA|Apple ?TV|\bRoku/|\bWeb0S\b"
    r"|NetCast|NETTV/|\bTV Safari\b|\bChromecast\b|(?-i:; AFT[A-Z0-9]{1,6}[;) ])",
    re.IGNORECASE,
)
# Windows CE / Windows Mobile phones, which ua-parser files under OS "Windows".
_WINDOWS_MOBILE_TEXT = re.compile(r"Windows CE|IEMobile|Windows Mobile")
# Game consoles and handhelds: a brand ua-parser knows, but neither phone nor computer.
_CONSOLE_WORDS = ("PlayStation", "PLAYSTATION", "Nintendo", "Xbox", "Wii", "Dreamcast")
# Brands that are not a handset maker's (see _classify: a named device with no OS is a phone).
_NOT_HANDSET_BRANDS = frozenset(
    {"Generic", "Generic_Android", "Generic_Android_Tablet", "Generic_Inettv", "Spider", "Apple"})
_VR_TEXT = re.compile(
    r"OculusBrowser/|\bQuest\b|PicoBrowser/|Pico Neo|Wolvic/|Mobile VR|\bVR Safari/")
# The browser-style user agent of Android ("Mozilla/5.0 (Linux; Android 13; ..."): only these
# follow the rule "Mobile on phones, none on tablets"; app HTTP clients and ad SDKs don't.
_ANDROID_BROWSER_PREFIX = re.compile(r"Mozilla/5\.0 \(Linux; (?:U; )?Android[ ;)]")
# Chrome's reduced user agent names no model: "K" is a placeholder, not a device.
_PLACEHOLDER_MODELS = frozenset({"K"})

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
    # ua-parser names Symbian^3 by release ("Anna", "Belle"): an OS update, not a new device.
    **dict.fromkeys(("Symbian^3", "Symbian^3 Anna", "Symbian^3 Belle"), "Symbian^3"),
}
_PRETTY_OS = {"Mac OS X": "macOS", "Mac OS": "macOS"}
# ua-parser reports ChromeOS's platform build number ("14541" from "CrOS x86_64 14541.0.0") as
# its major version; it is not a version people know, so it is dropped.
_OS_WITHOUT_VERSION = frozenset({"Chrome OS"})

_MAX_FIELD = 64  # longest family / brand / model kept from the parser
_MAX_VERSION = 16
_MAX_LABEL_PART = 32

# v2: (browser family, platform, device class). v1 was (browser family, OS family, device
# family); its class key is still computed for sessions created before the upgrade.
_FINGERPRINT_DOMAIN = b"sessionwarden/device-fingerprint/v2\x00"
_CLASS_KEY_DOMAIN = b"sessionwarden/device-class-key/v2\x00"
_LEGACY_FINGERPRINT_DOMAIN = b"sessionwarden/device-fingerprint/v1\x00"
_LEGACY_CLASS_KEY_DOMAIN = b"sessionwarden/device-class-key/v1\x00"

# Sec-CH-UA-Platform values -> the OS family ua-parser uses for the same platform.
_OS_BY_HINT = {
    "Android": "Android",
    "Chrome OS": "Chrome OS",
    "Chromium OS": "Chrome OS",
    "iOS": "iOS",
    "Linux": "Linux",
    "macOS": "Mac OS X",
    "Windows": "Windows",
}


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What a user agent (and, when given, the client hints) says about the device, normalised
    for display and fingerprinting.

    Families are ``"Other"`` and majors / brand / model are ``None`` when unknown. Every text
    field is printable single-line text of bounded length (controls, bidi overrides and the like
    are removed), so it is safe to store and to show. ``parser_device_family`` is ua-parser's
    own device family when this module shows another (Chrome's placeholder ``"K"``, or a
    generic family the ``Sec-CH-UA-Model`` hint names): the platform, :attr:`ua_model` and the
    v1 keys are of the user agent's own device, never of a hint.
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
    parser_device_family: str | None = None

    @property
    def browser(self) -> str:
        """Browser family and major version, e.g. ``"Chrome 119"``; just the family if unknown."""
        return _with_major(self.browser_family, self.browser_major)

    @property
    def os(self) -> str:
        """OS family and major version, e.g. ``"iOS 17"``, ``"macOS 10"``, ``"Windows 10"``.

        ``"Mac OS X"`` is shown as ``"macOS"``. Browsers froze the macOS version in the user
        agent at 10.15 (and Windows at 10, Android at 10 in Chrome's reduced user agent); the
        ``Sec-CH-UA-Platform-Version`` hint, when given, tells the real one (``"Windows 11"``).
        """
        return _with_major(_PRETTY_OS.get(self.os_family, self.os_family), self.os_major)

    @property
    def platform(self) -> str:
        """The label's platform part without the bot case: ``"Mac"``, ``"Linux"`` (every
        distribution), ``"iPhone"``, ``"Android"``, ``"Kindle"``, ``"Unknown"``, ..."""
        return _platform(self.os_family, self.parser_device_family or self.device_family)

    @property
    def ua_model(self) -> str:
        """The device as the user agent itself names it (ua-parser's device family: ``"Samsung
        SM-S918B"``, ``"iPhone"``, ``"Mac"``), or ``""`` when it names none: Chrome's reduced
        ``K``, a generic family, ``Other``. Client hints never change it."""
        family = self.parser_device_family or self.device_family
        if family in _PLACEHOLDER_MODELS or family == "Other" or family.startswith("Generic"):
            return ""
        return family

    @property
    def reduced(self) -> bool:
        """Whether this is Chrome's reduced user agent (``Linux; Android 10; K``): the model is
        hidden, not absent."""
        return (self.parser_device_family or self.device_family) in _PLACEHOLDER_MODELS

    def stable_parts(self) -> tuple[str, str, str]:
        """``(browser_family, platform, device_class)``: the *kind* of device, what survives
        upgrades and new networks. The class key's inputs (and the fingerprint's, with
        :attr:`ua_model`). Versions, the network and the distribution of Linux are deliberately
        not; nor is the model, as Chrome's reduced user agent (every Chrome >= 110 on Android)
        names none, and a session's own browser updating to it must stay the same kind.
        """
        return (self.browser_family, self.platform, self.device_class)

    def legacy_parts(self) -> tuple[str, str, str]:
        """The v1 class-key inputs ``(browser_family, os_family, ua-parser's device family)``,
        so that sessions created before the v2 change still match their own device."""
        return (self.browser_family, self.os_family,
                self.parser_device_family or self.device_family)


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


def normalise_user_agent(user_agent: object, max_length: int = MAX_USER_AGENT_LENGTH) -> str:
    """The user agent as every path parses it: escapes and control / format characters removed,
    runs of white space collapsed to one space (``"MSIE  5.5"`` reads as ``"MSIE 5.5"``), cut to
    ``max_length`` characters; ``""`` for anything that is not a non-blank ``str``.

    The manager and :func:`parse_user_agent` both go through here, so the pure parser and a
    stored session never disagree about the same header."""
    return clean_text(user_agent, max_length) or ""  # type: ignore[arg-type]


def parse_user_agent(
    user_agent: str, client_hints: HeadersLike | ClientHints | None = None
) -> DeviceInfo:
    """Describe the device behind ``user_agent`` (and ``client_hints``, when given); never raises.

    - The user agent is first normalised by :func:`normalise_user_agent` (so input longer than
      :data:`MAX_USER_AGENT_LENGTH`, 512 characters, is cut: real user agents fit, and the cut
      bounds both parsing time and cache memory). Empty, all-white-space or non-``str`` input,
      and anything ua-parser cannot make sense of, gives :data:`UNKNOWN_DEVICE` (families
      ``"Other"``, class ``"unknown"``, label ``"Unknown/Unknown"``) unless hints say more.
    - ``client_hints``: the request's headers (any mapping: Flask's or Starlette's
      ``request.headers``, a ``dict``), of which the ``Sec-CH-UA*`` ones are read (see
      :mod:`sessionwarden.client_hints`; unusable values count as absent). They refine the
      model (``Sec-CH-UA-Model``; Chrome's reduced user agent says ``K``), the phone / tablet
      decision on Android (``Sec-CH-UA-Mobile``), the OS when the user agent names none
      (``Sec-CH-UA-Platform``) and its version (``Sec-CH-UA-Platform-Version``: Windows 11,
      the real Android version), and the browser version when the user agent has none.
    - Hostile text (control characters, lone surrogates, NULs, text crafted to make the parser
      capture odd names) cannot raise or leak into the result unfiltered: every field is
      cleaned to printable text of bounded length. Should the parser itself fail, the result
      is :data:`UNKNOWN_DEVICE`.

    Results are cached (LRU, 4096 entries): the same user agent arrives on every request.

    Device class (one of :data:`DEVICE_CLASSES`):

    - ``"bot"``: ua-parser's ``"Spider"`` device, a browser family that names a crawler
      (``Googlebot``, ``bingbot``, ``Bytespider``, ``FacebookBot``, ...), or an obvious
      non-browser client: command-line tools and HTTP libraries (curl, PycURL, libcurl-agent,
      Wget, wget2, fetch/libfetch, python-requests, Python-urllib, aiohttp, Go-http-client,
      Java, Apache-HttpClient, Ruby's HTTPClient, aws-sdk-*, unirest-java, HTTPie, Postman,
      axios, Scrapy) and headless browsers (HeadlessChrome, PhantomJS). HTTP stacks of native
      mobile apps (okhttp, CFNetwork, Dalvik) are *not* bots.
    - ``"vr"``: VR headsets (Meta Quest's Oculus Browser, Pico, Wolvic).
    - ``"tv"``: smart TVs, TV boxes and sticks (Tizen / webOS / HbbTV TVs, Android TV, Fire TV,
      Chromecast, Apple TV, Roku).
    - ``"tablet"``: iPad; Amazon's Kindle / Fire devices; Android devices ua-parser files as
      tablets or whose model is a known tablet line (SM-T, SM-X, SM-P, GT-P, Lenovo TB-, Nexus
      7/9/10, Pixel Tablet, "Tab"); Android browsers (``Mozilla/5.0 (Linux; Android ...``) that
      leave out the ``Mobile`` token, which Android browsers send on phones only (or
      ``Sec-CH-UA-Mobile: ?0``).
    - ``"phone"``: iPhone, iPod and other iOS devices; ua-parser's generic smartphone / feature
      phone and known phone lines (Galaxy SM-G/N/A/S/..., GT-I, Nexus 4/5/6, Pixel), also in app
      user agents; remaining Android devices; Windows Phone, KaiOS, BlackBerry, Symbian and
      other mobile OSes.
    - ``"desktop"``: macOS, Windows, Linux distributions, ChromeOS, the BSDs, Solaris.
    - ``"unknown"``: everything else (consoles, no recognisable OS). Note that iPadOS Safari
      sends a Mac user agent by default, so such an iPad is, unavoidably, ``"Mac/Safari"``.

    Label ``"Platform/Browser"``: platform is ``Mac``, ``Windows``, ``Linux`` (all distros),
    ``ChromeOS``, ``iPhone``, ``iPad``, ``iPod``, ``iOS`` (other iOS devices), ``Android``
    (phones *and* tablets; see ``device_class``), ``Kindle``, ``Bot``, any other recognised OS by
    name (``FreeBSD``, ``Tizen``, ``Windows Phone``), else ``Unknown``. The browser part is the
    normalised browser family, or ``Unknown``; for bots it is the crawler / client family
    (``"Bot/Googlebot"``, ``"Bot/curl"``). Neither part contains ``/``.
    """
    hints = (client_hints if isinstance(client_hints, ClientHints) or client_hints is None
             else parse_client_hints(client_hints))
    return _parse_cached(normalise_user_agent(user_agent), hints)


@functools.lru_cache(maxsize=4096)
def _parse_cached(user_agent: str, hints: ClientHints | None) -> DeviceInfo:
    if not user_agent and hints is None:
        return UNKNOWN_DEVICE
    try:
        result = ua_parser.parse(user_agent).with_defaults()
    except Exception:
        return UNKNOWN_DEVICE
    return _describe(user_agent, result, hints)


def _describe(
    text: str, result: ua_parser.DefaultedResult, hints: ClientHints | None
) -> DeviceInfo:
    raw_browser = _clean(result.user_agent.family, _MAX_FIELD) or "Other"
    browser_family = BROWSER_FAMILY_ALIASES.get(raw_browser, raw_browser)
    browser_major = _clean(result.user_agent.major, _MAX_VERSION)
    os_family = _clean(result.os.family, _MAX_FIELD) or "Other"
    parser_device_family = device_family = _clean(result.device.family, _MAX_FIELD) or "Other"
    brand = _clean(result.device.brand, _MAX_FIELD)
    model = _clean(result.device.model, _MAX_FIELD)
    os_major = _clean(result.os.major, _MAX_VERSION)
    mobile = None
    if model in _PLACEHOLDER_MODELS and device_family == model:
        # "Linux; Android 10; K": ua-parser makes a device family of the placeholder; the
        # "Mobile" token (or Sec-CH-UA-Mobile) still tells phone from tablet.
        device_family, brand, model = "Other", None, None
    if hints is not None:
        hinted_os = _OS_BY_HINT.get(hints.platform or "")
        if os_family == "Other" and hinted_os is not None:
            os_family = hinted_os
        if hints.platform_version is not None and hinted_os == os_family:
            os_major = _hinted_os_major(os_family, hints.platform_version) or os_major
        browser_major = browser_major or hints.browser_major()
        mobile = hints.mobile
    if os_family in _OS_WITHOUT_VERSION:
        os_major = None

    # The kind and the label come from the user agent's own device (and Sec-CH-UA-Mobile);
    # the hinted model is shown, never judged, so hints on some requests only change nothing.
    device_class = _classify(text, browser_family, os_family, device_family, brand, model, mobile)
    label = _label(device_class, browser_family, os_family, device_family)
    if hints is not None and hints.model is not None:
        model = hints.model
        if device_family == "Other" or device_family.startswith("Generic"):
            device_family = hints.model
    return DeviceInfo(
        browser_family=browser_family,
        browser_major=browser_major,
        os_family=os_family,
        os_major=os_major,
        device_family=device_family,
        brand=brand,
        model=model,
        device_class=device_class,
        label=label,
        parser_device_family=(parser_device_family if parser_device_family != device_family
                              else None),
    )


def _hinted_os_major(os_family: str, version: str) -> str | None:
    major = version.split(".", 1)[0]
    if os_family == "Windows":
        # Microsoft: platform version 1-10 is Windows 10, 13 and above Windows 11 (0: 7/8.x).
        number = int(major)
        return "11" if number >= 13 else "10" if number >= 1 else None
    return major


def _is_bot(browser_family: str, device_family: str, brand: str | None) -> bool:
    if device_family == "Spider" or brand == "Spider" or browser_family in _NON_BROWSER_FAMILIES:
        return True
    lowered = browser_family.lower()
    return any(word in lowered for word in _NON_BROWSER_WORDS)


def _is_tablet_device(device_family: str, brand: str | None, model: str | None) -> bool:
    if device_family == "iPad" or device_family == "Generic Tablet":
        return True
    if brand == "Generic_Android_Tablet":
        return True
    if model is not None and (model.upper().startswith(_TABLET_MODEL_UPPER) or (
            brand == "Amazon" and model.startswith(_AMAZON_TABLET_PREFIX))):
        return True
    return any(word in device_family for word in _TABLET_FAMILY_WORDS)


def _is_phone_device(device_family: str, model: str | None) -> bool:
    return (device_family in _PHONE_DEVICE_FAMILIES or device_family.startswith(("iPhone", "iPod"))
            or (model is not None and model.upper().startswith(_PHONE_MODEL_UPPER)))


def _classify(
    text: str,
    browser_family: str,
    os_family: str,
    device_family: str,
    brand: str | None,
    model: str | None,
    mobile: bool | None,
) -> str:
    if _is_bot(browser_family, device_family, brand):
        return "bot"
    if _VR_TEXT.search(text):
        return "vr"
    if _TV_TEXT.search(text) or os_family in _TV_OS_FAMILIES or brand == "Generic_Inettv":
        return "tv"
    if os_family in _ANDROID_LIKE and mobile is not None:
        # Sec-CH-UA-Mobile says what the browser's "Mobile" token says, for every UA shape.
        return "phone" if mobile else "tablet"
    if _is_tablet_device(device_family, brand, model) or os_family in _TABLET_OS_FAMILIES:
        return "tablet"
    if _is_phone_device(device_family, model):
        return "phone"
    if os_family in _ANDROID_LIKE:
        # Android browsers put "Mobile" in the UA on phones and leave it out on tablets. Only
        # browser-style ("Mozilla/5.0 (Linux; Android ...") UAs follow that rule; app HTTP
        # clients (Dalvik/..., ad SDKs, "ownCloud-android") don't.
        if "Mobile" not in text and _ANDROID_BROWSER_PREFIX.match(text):
            return "tablet"
        return "phone"
    if os_family in _PHONE_OS_FAMILIES or _WINDOWS_MOBILE_TEXT.search(text):
        return "phone"
    if any(word in device_family for word in _CONSOLE_WORDS):
        return "unknown"
    if os_family in _DESKTOP_OS_FAMILIES:
        return "desktop"
    if os_family == "Other" and brand is not None and brand not in _NOT_HANDSET_BRANDS:
        # A handset ua-parser names by maker and model with no OS: a feature phone (Nokia 201,
        # Samsung C3053, Motorola C155, LG KF510, DoCoMo's i-mode phones).
        return "phone"
    return "unknown"


def _platform(os_family: str, device_family: str) -> str:
    if device_family.startswith("Kindle"):
        return "Kindle"
    if os_family == "iOS" and device_family in ("iPhone", "iPad", "iPod"):
        return device_family
    if os_family == "Other":
        return "Unknown"
    return _PLATFORM_BY_OS.get(os_family, os_family)


def _label(device_class: str, browser_family: str, os_family: str, device_family: str) -> str:
    browser = _label_part("Unknown" if browser_family == "Other" else browser_family)
    if device_class == "bot":
        return f"Bot/{browser}"
    return f"{_label_part(_platform(os_family, device_family))}/{browser}"


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

    HMAC-SHA256 under ``key`` over ``info.stable_parts()`` (browser family, platform, device
    class) and either ``device_id`` (an app- or cookie-supplied identifier; ``None`` and ``""``
    mean the same: no device id) or, without one, the model the user agent names
    (:attr:`DeviceInfo.ua_model`, ``""`` if none): a Pixel 8 and a Galaxy S23 with the same
    browser are two devices, while a device id is what tells devices apart when it is given.
    Versions and the IP address are never inputs, so a browser upgrade or a new network keeps
    the fingerprint. Chrome's reduced user agent hides the model, so its fingerprint is the
    model-less one: ``create_session`` recognises the update by the kind of device (see
    ``scripts/create.lua``). Parts are length-prefixed, so no two different inputs share an
    encoding. Inputs of any length or content are hashed as they are (nothing is truncated,
    nothing raises).

    Raises ``TypeError`` if ``key`` is not bytes or ``device_id`` is not ``str``/``None``, and
    ``ValueError`` for an empty key: an unkeyed fingerprint is a configuration error, not a
    value to store.
    """
    if device_id is not None and not isinstance(device_id, str):
        raise TypeError(f"device_id: expected str or None, got {type(device_id).__name__}")
    parts = (*info.stable_parts(), "" if device_id else info.ua_model, device_id or "")
    return _fingerprint(_FINGERPRINT_DOMAIN, key, parts, None)


def legacy_fingerprint(key: bytes, info: DeviceInfo, device_id: str | None = None) -> str:
    """The fingerprint as version 1 computed it (browser family, OS family, ua-parser's device
    family, device id): a user's known device recorded under it is recognised, and moved to
    the current fingerprint, at its next sign-in. Same rules as :func:`fingerprint`."""
    return _fingerprint(_LEGACY_FINGERPRINT_DOMAIN, key, info.legacy_parts(), device_id)


def _fingerprint(domain: bytes, key: bytes, parts: tuple[str, ...],
                 device_id: str | None) -> str:
    _check_key(key)
    if device_id is not None and not isinstance(device_id, str):
        raise TypeError(f"device_id: expected str or None, got {type(device_id).__name__}")
    if device_id:
        parts = (*parts, device_id)
    message = domain + _encode_parts(parts)
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


def legacy_device_class_key(key: bytes, info: DeviceInfo) -> str:
    """The class key as version 1 computed it (browser family, OS family, ua-parser's device
    family): a session or tombstone written before the upgrade holds this one, and validation
    accepts it as the same kind of device until those sessions are gone (at most the absolute
    session lifetime plus the tombstone lifetime). Same key rules as :func:`fingerprint`."""
    _check_key(key)
    message = _LEGACY_CLASS_KEY_DOMAIN + _encode_parts(info.legacy_parts())
    return hmac.new(bytes(key), message, hashlib.sha256).hexdigest()[:8]
