"""Offline IP geolocation for session records: country, optional city, coarse coordinates.

Why it looks the way it does:

* **Offline only.** Nothing here makes a network call. A session-security library must not leak
  every login IP to a third-party geolocation API, nor stall a login on one. Country comes from
  the ``iptocc`` package (regional-registry data shipped inside the wheel), city-level data only
  from a GeoLite2/GeoIP2 City ``.mmdb`` file that the operator supplies (read with
  ``maxminddb``, an optional dependency), coordinates from a bundled table of country centroids
  (``sessionwarden/data/country_centroids.csv``; its header records source and licence).
* **Coordinates are for travel-speed estimates** ("two logins 9000 km apart within an hour"),
  not for maps. A country centroid can be more than 1000 km from the user, so ``Place.precise``
  says whether ``lat``/``lon`` are city-level (from the mmdb) or only a centroid; callers should
  allow a generous error for the latter.
* **Never guess for non-public addresses.** Private, loopback, link-local, reserved, multicast
  and unspecified addresses get no country from a lookup.
* **Hints from a trusted proxy win.** A CDN in front of the application (e.g. Cloudflare's
  ``CF-IPCountry`` header) saw the real client and knows better than a registry lookup, so a
  *valid* country hint is used whenever given -- even for a non-public ``ip``, because behind a
  proxy the address the application sees may well be private while the hint describes the real
  client. Only pass hints taken from headers set by a proxy you trust: a client can forge them
  otherwise. Hints are untrusted text: they are validated (country) or sanitised (city) here.
"""

from __future__ import annotations

import csv
import functools
import io
import ipaddress
import math
import os
import re
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import iptocc

from .sanitize import clean_text

__all__ = [
    "EARTH_RADIUS_KM",
    "NETWORK_KINDS",
    "GeoResolver",
    "Place",
    "centroid",
    "classify_network",
    "country_name",
    "haversine_km",
    "mmdb_get",
    "normalize_city_hint",
    "normalize_country_hint",
    "open_mmdb",
    "place_label",
]

NETWORK_KINDS = (
    "public",
    "private",
    "loopback",
    "link-local",
    "reserved",
    "multicast",
    "unspecified",
)

#: Mean Earth radius (IUGG), km.
EARTH_RADIUS_KM = 6371.0088

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# "private": networks a person's own or their provider's NAT hands out -- RFC 1918, carrier-grade
# NAT (RFC 6598), IPv6 unique-local (RFC 4193) and the deprecated IPv6 site-local range.
# ipaddress's ``is_private`` is much wider (it covers documentation, benchmarking and 240/4 too),
# so it is not used for this label.
_PRIVATE_NETS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
        "fec0::/10",
    )
)
# Documentation ranges (RFC 5737, RFC 3849): examples in manuals, never real clients.
_DOCUMENTATION_NETS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)

# How a place with no city or country reads in labels, by network kind.
_DISPLAY_BY_NETWORK = {
    "private": "Private network",
    "loopback": "Loopback",
    "link-local": "Link-local network",
    "reserved": "Reserved address",
    "multicast": "Multicast address",
    "unspecified": "Unspecified address",
}


# --------------------------------------------------------------------------- centroid table


@dataclass(frozen=True, slots=True)
class _Country:
    name: str
    lat: float | None
    lon: float | None


@functools.cache
def _table() -> dict[str, _Country]:
    """The bundled centroid table, loaded once. A malformed file is a packaging bug: raise."""
    resource = files("sessionwarden") / "data" / "country_centroids.csv"
    text = resource.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    reader = csv.reader(io.StringIO("\n".join(lines)))
    header = next(reader, None)
    if header != ["code", "name", "lat", "lon"]:
        raise RuntimeError(f"country_centroids.csv: unexpected header {header!r}")
    table: dict[str, _Country] = {}
    for row in reader:
        if len(row) != 4:
            raise RuntimeError(f"country_centroids.csv: bad row {row!r}")
        code, name, lat_s, lon_s = row
        if not re.fullmatch(r"[A-Z]{2}", code) or code in table or not name:
            raise RuntimeError(f"country_centroids.csv: bad or duplicate code in {row!r}")
        if lat_s == "" and lon_s == "":
            lat = lon = None
        else:
            lat, lon = float(lat_s), float(lon_s)
            if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
                raise RuntimeError(f"country_centroids.csv: coordinates out of range in {row!r}")
        table[code] = _Country(name, lat, lon)
    return table


def _known(code: str | None) -> str | None:
    """``code`` upper-cased if it is a code of the centroid table, else None."""
    if not isinstance(code, str) or len(code) != 2:
        return None
    code = code.upper()
    return code if code in _table() else None


def centroid(country: str) -> tuple[float, float] | None:
    """(lat, lon) of the country's centroid, or None if the code is unknown or has none."""
    code = _known(country)
    if code is None:
        return None
    entry = _table()[code]
    if entry.lat is None or entry.lon is None:
        return None
    return (entry.lat, entry.lon)


def country_name(country: str) -> str | None:
    """English short name for an ISO 3166-1 alpha-2 code, or None if unknown."""
    code = _known(country)
    return None if code is None else _table()[code].name


# --------------------------------------------------------------------------- distance


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in decimal degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2.0) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2.0) ** 2
    a = min(1.0, max(0.0, a))  # rounding can push it a hair outside [0, 1]
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


# --------------------------------------------------------------------------- classification


def _unmap(ip: _IPAddress) -> _IPAddress:
    """::ffff:a.b.c.d -> a.b.c.d (how dual-stack sockets report IPv4 clients)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def classify_network(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Which of NETWORK_KINDS ``ip`` belongs to.

    IPv4-mapped IPv6 addresses are classified as the IPv4 address they carry. The specific kinds
    (unspecified, loopback, link-local, multicast) win over "private"; carrier-grade NAT
    (100.64.0.0/10) counts as private; documentation ranges and anything else that is not
    globally routable count as reserved.
    """
    ip = _unmap(ip)
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if any(ip in net for net in _PRIVATE_NETS if net.version == ip.version):
        return "private"
    if ip.is_reserved or any(ip in net for net in _DOCUMENTATION_NETS if net.version == ip.version):
        return "reserved"
    if ip.is_global:
        return "public"
    return "reserved"


# --------------------------------------------------------------------------- hints


def normalize_country_hint(hint: str | None) -> str | None:
    """A caller-supplied country (e.g. a CDN header) as an upper-case code of the table, or None.

    Accepts exactly two ASCII letters, after stripping surrounding whitespace, that name a code
    of the centroid table; anything else ("XX", Cloudflare's "T1" for Tor, "EU", "USA", "",
    non-strings, control characters) gives None. Never raises.
    """
    if not isinstance(hint, str):
        return None
    hint = hint.strip()
    if len(hint) != 2 or not (hint.isascii() and hint.isalpha()):
        return None
    return _known(hint)


def normalize_city_hint(hint: str | None, max_length: int = 80) -> str | None:
    """A caller-supplied city name made safe to store and show, or None.

    Removes terminal escape sequences entirely (CSI such as ``ESC[31m``, OSC such as
    ``ESC]0;title BEL``, and their 8-bit forms), then every character of Unicode category C*
    (controls such as BEL, C1 controls, format characters such as bidi overrides U+202A-U+202E
    and isolates U+2066-U+2069, surrogates, private-use and unassigned code points); tabs and
    newlines become spaces, runs of whitespace collapse to one space, and the result is truncated
    to ``max_length`` characters. None for non-strings and for text empty after cleaning.
    The cleaning itself is ``sanitize.clean_text``, shared with the other display strings.
    """
    if max_length < 1:
        raise ValueError(f"max_length: must be >= 1, got {max_length!r}")
    return clean_text(hint, max_length)


# --------------------------------------------------------------------------- Place


@dataclass(frozen=True, slots=True)
class Place:
    """Where an IP address is, as far as offline data can tell.

    ``country``: ISO 3166-1 alpha-2 code (upper case), None when unknown or for a non-public
    address without a hint. ``network``: one of NETWORK_KINDS. ``lat``/``lon``: city coordinates
    from the mmdb when available (``precise`` True), else the country centroid (``precise``
    False), else None.
    """

    country: str | None
    network: str
    city: str | None
    lat: float | None
    lon: float | None
    precise: bool

    def __post_init__(self) -> None:
        if self.network not in NETWORK_KINDS:
            raise ValueError(f"network: must be one of {NETWORK_KINDS}, got {self.network!r}")
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat/lon: give both or neither")
        if self.precise and self.lat is None:
            raise ValueError("precise: needs coordinates")

    @property
    def country_name(self) -> str | None:
        """English short name of ``country`` from the centroid table; None if unknown."""
        return None if self.country is None else country_name(self.country)

    @property
    def display(self) -> str:
        """A short label: city, else country name, else a description of the network."""
        return place_label(self.city, self.country, self.network)


def place_label(city: str | None, country: str | None, network: str) -> str:
    """City if known, else the country's name (or code), else a description of the network."""
    if city:
        return city
    if country:
        return country_name(country) or country
    return _DISPLAY_BY_NETWORK.get(network, "Unknown location")


# --------------------------------------------------------------------------- resolver


@functools.lru_cache(maxsize=65536)
def _registry_country(ip: str) -> str | None:
    """iptocc lookup of a canonical address string, limited to codes of the table.

    iptocc can answer with codes that are not countries (e.g. "EU" for some RIPE blocks): those
    count as unknown.
    """
    return _known(iptocc.country_code(ip))


def _mmdb_fields(record: Any) -> tuple[str | None, str | None, float | None, float | None]:
    """(country, English city name, lat, lon) from a GeoIP2/GeoLite2 City record; tolerant of
    missing or oddly typed fields (a Country or third-party database just yields less)."""
    if not isinstance(record, dict):
        return None, None, None, None
    country = None
    for key in ("country", "registered_country"):
        sub = record.get(key)
        if isinstance(sub, dict) and isinstance(sub.get("iso_code"), str):
            country = _known(sub["iso_code"])
            if country:
                break
    city = None
    sub = record.get("city")
    if isinstance(sub, dict) and isinstance(sub.get("names"), dict):
        city = normalize_city_hint(sub["names"].get("en"))
    lat = lon = None
    sub = record.get("location")
    if isinstance(sub, dict):
        la, lo = sub.get("latitude"), sub.get("longitude")
        if (
            isinstance(la, int | float)
            and isinstance(lo, int | float)
            and not isinstance(la, bool)
            and not isinstance(lo, bool)
            and -90.0 <= la <= 90.0
            and -180.0 <= lo <= 180.0
        ):
            lat, lon = float(la), float(lo)
    return country, city, lat, lon


def open_mmdb(path: str, setting: str) -> Any:
    """A MaxMind ``.mmdb`` reader for ``path``; ``ValueError`` naming ``setting`` when the file
    is missing or unreadable or ``maxminddb`` (the ``[geoip]`` extra) is not installed: a
    misconfigured operator setting fails loudly, not silently degrading."""
    try:
        import maxminddb
    except ImportError as exc:  # optional dependency: sessionwarden[geoip]
        raise ValueError(
            f"{setting}: {path!r} given but the maxminddb package is not installed "
            "(pip install 'sessionwarden[geoip]')"
        ) from exc
    try:
        return maxminddb.open_database(path, maxminddb.MODE_AUTO)
    except (OSError, ValueError, RuntimeError) as exc:
        # InvalidDatabaseError is a RuntimeError; a missing file an OSError.
        raise ValueError(f"{setting}: cannot open GeoIP database {path!r}: {exc}") from exc


def mmdb_get(reader: Any, ip: str) -> Any:
    """The record of ``ip`` in ``reader`` (None without a reader or a record)."""
    if reader is None:
        return None
    try:
        return reader.get(ip)
    except ValueError:
        # e.g. an IPv6 address against an IPv4-only database
        return None


class GeoResolver:
    """Resolves IP addresses to a Place, offline.

    ``mmdb_path``: optional GeoLite2-City / GeoIP2-City ``.mmdb`` file, opened once. A missing or
    unreadable file raises ValueError naming the path at construction: a misconfigured operator
    setting should fail loudly, not silently degrade to country-only data.

    Sources, in order of preference: a valid caller hint; then the mmdb, when configured (it
    tracks where addresses are used, not just where they are registered); then ``iptocc``
    (registry data). City: a cleaned city hint, else the mmdb city. Coordinates: the mmdb city
    location when the mmdb has a city *in the chosen country*, else the country's centroid.

    Safe to share between threads. Use ``close()`` (or a ``with`` block) to release the file.
    """

    def __init__(self, mmdb_path: str | os.PathLike[str] | None = None) -> None:
        self._reader: Any = None
        self._closed = False
        self._mmdb_path = None if mmdb_path is None else os.fspath(mmdb_path)
        if self._mmdb_path is not None:
            self._reader = open_mmdb(self._mmdb_path, "mmdb_path")

    @property
    def mmdb_path(self) -> str | None:
        return self._mmdb_path

    def __enter__(self) -> GeoResolver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the mmdb file. Idempotent; ``locate`` raises afterwards."""
        self._closed = True
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    def _mmdb_lookup(self, ip: str) -> Any:
        return mmdb_get(self._reader, ip)

    def locate(
        self, ip: str, *, country_hint: str | None = None, city_hint: str | None = None
    ) -> Place:
        """Place for ``ip`` (an IPv4 or IPv6 address string; invalid -> ValueError)."""
        if self._closed:
            raise RuntimeError("GeoResolver: closed")
        if not isinstance(ip, str):
            raise ValueError(f"ip: expected an address string, got {type(ip).__name__}")
        try:
            addr = _unmap(ipaddress.ip_address(ip))
        except ValueError:
            raise ValueError(f"ip: not a valid IPv4/IPv6 address: {ip[:64]!r}") from None
        network = classify_network(addr)
        country = normalize_country_hint(country_hint)
        city = normalize_city_hint(city_hint)

        lat: float | None = None
        lon: float | None = None
        precise = False
        if network == "public":
            canonical = str(addr)
            m_country, m_city, m_lat, m_lon = _mmdb_fields(self._mmdb_lookup(canonical))
            if country is None:
                country = m_country or _registry_country(canonical)
            # mmdb city data only counts when it is about the country we settled on.
            if m_country is not None and m_country == country and m_city is not None:
                if city is None:
                    city = m_city
                if m_lat is not None and m_lon is not None:
                    lat, lon, precise = m_lat, m_lon, True
        if not precise and country is not None:
            point = centroid(country)
            if point is not None:
                lat, lon = point
        return Place(country=country, network=network, city=city, lat=lat, lon=lon, precise=precise)
