"""User-Agent Client Hints: the ``Sec-CH-UA*`` request headers, read defensively.

Chromium browsers send ``Sec-CH-UA``, ``Sec-CH-UA-Mobile`` and ``Sec-CH-UA-Platform`` on every
request; ``Sec-CH-UA-Model``, ``Sec-CH-UA-Platform-Version`` and ``Sec-CH-UA-Full-Version-List``
only after the site asked for them (``Accept-CH``). Since Chrome 110 the Android user agent says
``Linux; Android 10; K`` whatever the phone, so the model and the real Android version are in
the hints only. The values are RFC 8941 structured fields; this module reads the few shapes the
hints use (a string, a boolean, a list of strings with a ``v`` parameter) and nothing else.

The headers are as attacker-controlled as the user agent. A value that is too long, not valid
structured-field syntax, or otherwise odd is treated as absent: parsing never raises, and every
kept string is printable ASCII of bounded length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class _Gettable(Protocol):
    def get(self, key: str, /) -> Any: ...


#: What ``client_hints=`` takes: a mapping of header name to raw value, or any object with a
#: mapping's ``get`` (Werkzeug's headers are not a ``Mapping``).
HeadersLike = Mapping[str, str] | _Gettable

__all__ = [
    "HEADERS",
    "MAX_HINT_LENGTH",
    "ClientHints",
    "HeadersLike",
    "hint_values",
    "hints_from_values",
    "parse_client_hints",
]

#: The headers read, by their canonical names (lookup is case-insensitive).
HEADERS = (
    "Sec-CH-UA",
    "Sec-CH-UA-Mobile",
    "Sec-CH-UA-Platform",
    "Sec-CH-UA-Platform-Version",
    "Sec-CH-UA-Model",
    "Sec-CH-UA-Full-Version-List",
)
_LOWER = tuple(name.lower() for name in HEADERS)

#: A header value longer than this is ignored (real values are well under 300 characters).
MAX_HINT_LENGTH = 512
_MAX_BRANDS = 12
_MAX_TEXT = 64

# Chromium's "GREASE" brand ("Not A(Brand", "Not/A)Brand", "Not_A Brand", ...): noise by design.
_GREASE = re.compile(r"not.?a.?brand", re.IGNORECASE)
_STRING = re.compile(r'"((?:[ !#-\[\]-~]|\\["\\])*)"')  # sf-string: printable ASCII, \" and \\
_PARAM = re.compile(r';\s*([a-z*][a-z0-9_.*-]*)(?:=("(?:[ !#-\[\]-~]|\\["\\])*"|[^;,\s]*))?')
_VERSION = re.compile(r"\d{1,5}(?:\.\d{1,6}){0,4}")


@dataclass(frozen=True, slots=True)
class ClientHints:
    """What the hints said; ``None`` (or ``()``) for each one absent or unusable."""

    brands: tuple[tuple[str, str], ...] = ()  # (brand, version), GREASE brands dropped
    mobile: bool | None = None
    platform: str | None = None
    platform_version: str | None = None
    model: str | None = None

    def browser_major(self) -> str | None:
        """The major version of the browser the brands name (``"Chromium"`` last), if any."""
        named = [(b, v) for b, v in self.brands if b != "Chromium"] or list(self.brands)
        for _, version in named:
            major = version.split(".", 1)[0]
            if major.isdigit():
                return major
        return None


def _unquote(text: str) -> str | None:
    match = _STRING.fullmatch(text.strip())
    if match is None:
        return None
    value = match.group(1).replace('\\"', '"').replace("\\\\", "\\")
    return " ".join(value.split())[:_MAX_TEXT] or None


def _boolean(text: str) -> bool | None:
    return {"?1": True, "?0": False}.get(text.strip())


def _brand_list(text: str) -> tuple[tuple[str, str], ...]:
    brands: list[tuple[str, str]] = []
    rest = text.strip()
    while rest and len(brands) < _MAX_BRANDS:
        match = _STRING.match(rest)
        if match is None:
            return ()
        name = _unquote(match.group(0))
        rest = rest[match.end():]
        version = ""
        while (param := _PARAM.match(rest)) is not None:
            if param.group(1) == "v" and param.group(2):
                version = _unquote(param.group(2)) or param.group(2)
            rest = rest[param.end():]
        rest = rest.lstrip()
        if rest:
            if not rest.startswith(","):
                return ()
            rest = rest[1:].lstrip()
        if name and not _GREASE.search(name):
            brands.append((name, version if _VERSION.fullmatch(version) else ""))
    return tuple(brands)


_NAMES = tuple(zip(HEADERS, _LOWER, strict=True))


def hint_values(headers: object) -> tuple[str | None, ...] | None:
    """The raw values of the :data:`HEADERS` in ``headers`` (each ``None`` when absent, not a
    ``str`` or longer than :data:`MAX_HINT_LENGTH`), or ``None`` when there are none at all or
    ``headers`` has no ``get``: a cheap, hashable key for a memo of :func:`parse_client_hints`.
    Any object with a mapping's ``get`` will do: a ``dict``, Starlette's and Django's headers
    (mappings), Werkzeug's (Flask) ``EnvironHeaders`` (not a ``Mapping``, but it has ``get``).
    Names are looked up as written in :data:`HEADERS`, then in lower case (a plain ``dict``
    built from an ASGI scope)."""
    values: list[str | None] = []
    found = False
    try:
        get = getattr(headers, "get", None)
        if get is None or not headers or not callable(get):
            return None
        for name, lower in _NAMES:
            value = get(name)
            if value is None:
                value = get(lower)
            if value is not None:
                if type(value) is not str or len(value) > MAX_HINT_LENGTH:
                    value = None
                else:
                    found = True
            values.append(value)
    except Exception:  # a mapping whose lookups misbehave is a mapping without hints
        return None
    return tuple(values) if found else None


def parse_client_hints(headers: HeadersLike | None) -> ClientHints | None:
    """The client hints in ``headers`` (anything with a mapping's ``get``, such as Flask's,
    Django's or Starlette's ``request.headers``, or a plain ``dict``), or ``None`` when none is
    usable. Never raises; see the module docstring for what is ignored."""
    values = hint_values(headers)
    return None if values is None else hints_from_values(values)


def hints_from_values(values: tuple[str | None, ...]) -> ClientHints | None:
    """`parse_client_hints` from the output of `hint_values`."""
    ua, mobile, platform, platform_version, model, full_list = values
    version = _unquote(platform_version) if platform_version else None
    hints = ClientHints(
        brands=_brand_list(full_list or "") or _brand_list(ua or ""),
        mobile=_boolean(mobile) if mobile else None,
        platform=_unquote(platform) if platform else None,
        platform_version=version if version and _VERSION.fullmatch(version) else None,
        model=_unquote(model) if model else None,
    )
    return None if hints == ClientHints() else hints
