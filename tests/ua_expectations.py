"""What a device *kind* should be, judged from uap-core's expected device (family, brand, model)
alone — never from our own parse — for the corpus tests and `bench/uap_corpus.py`.

uap-core's test files say which device a user agent names (``Samsung SM-T810``, ``LG KF510``,
``Spider``), not whether it is a phone. `expected_kinds` answers that for the devices whose kind
is not in doubt and says nothing (``None``) about the rest: most feature phones, odd app user
agents and devices ua-parser files under a generic Android family.
"""

from __future__ import annotations

import re

_TV = re.compile(r"smart-?tv|hbbtv|android ?tv|tv ?box|\bbravia\b|^aft[a-z0-9]{1,6}$|chromecast"
                 r"|appletv|\broku\b", re.IGNORECASE)
_SAMSUNG_PHONE = re.compile(r"^(SM-[GNAJMFS]\d|GT-[IS]\d)", re.IGNORECASE)
_SAMSUNG_TABLET = re.compile(r"^(SM-[TXP]\d|GT-P\d)", re.IGNORECASE)


def expected_kinds(family: str | None, brand: str | None,
                   model: str | None) -> frozenset[str] | None:
    """The device classes acceptable for a device uap-core names this way, or ``None``."""
    family, brand, model = family or "", brand or "", model or ""
    if brand == "Spider" or family == "Spider":
        return frozenset({"bot"})
    if family == "Quest" or (brand in ("Meta", "Oculus") and "Quest" in model):
        return frozenset({"vr"})
    if brand == "Generic_Inettv" or _TV.search(family) or _TV.search(model):
        return frozenset({"tv"})
    if family == "iPad":
        return frozenset({"tablet"})
    if family in ("iPhone", "iPod", "iPod touch"):
        return frozenset({"phone"})
    if family in ("Generic Smartphone", "Generic Feature Phone"):
        return frozenset({"phone"})
    if brand == "Generic_Android_Tablet" or family == "Generic Tablet":
        return frozenset({"tablet"})
    if brand == "Amazon" and (model.startswith("KF") or model.startswith("Kindle")):
        return frozenset({"tablet"})
    if brand == "LG" and model.upper().startswith("KF"):
        return frozenset({"phone"})  # LG's KF-series feature phones (KF510, KF600, KF700)
    if brand.lower() == "samsung" and _SAMSUNG_PHONE.match(model):
        return frozenset({"phone"})
    if brand.lower() == "samsung" and _SAMSUNG_TABLET.match(model):
        return frozenset({"tablet"})
    if re.fullmatch(r"Nexus [456]|Pixel [2-9][a-zA-Z ]*", model):
        return frozenset({"phone"})
    if re.fullmatch(r"Nexus (7|9|10)|Pixel C|Pixel Tablet", model):
        return frozenset({"tablet"})
    return None


#: Browser families (uap-core ``test_ua.yaml``) of HTTP libraries and tools: bots, never people.
LIBRARY_FAMILIES = frozenset({
    "curl", "Wget", "wget2", "PycURL", "libcurl-agent", "aws-sdk-java", "unirest-java",
    "HTTPClient", "fetch libfetch", "Python Requests", "Python-urllib", "Go-http-client",
    "Apache-HttpClient", "libwww-perl", "HTTPie",
})
