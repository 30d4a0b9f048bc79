"""Tests for sessionwarden.geo: network classification, hints, centroids, distances, resolver."""

from __future__ import annotations

import csv
import ipaddress
import math
import re
import socket
import unicodedata
from importlib.resources import files
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionwarden import geo
from sessionwarden.geo import (
    NETWORK_KINDS,
    GeoResolver,
    Place,
    centroid,
    classify_network,
    country_name,
    haversine_km,
    normalize_city_hint,
    normalize_country_hint,
)

HALF_CIRCUMFERENCE_KM = math.pi * 6371.0088  # ~20015.1 km


@pytest.fixture(scope="module")
def resolver() -> GeoResolver:
    return GeoResolver()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to resolve a name or open a connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("geo must not touch the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


# --------------------------------------------------------------------------- public lookups


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("8.8.8.8", "US"),  # Google Public DNS
        ("2001:4860:4860::8888", "US"),  # Google Public DNS, IPv6
        ("193.0.6.139", "NL"),  # RIPE NCC, Amsterdam
        ("2001:67c:2e8::1", "NL"),  # RIPE NCC, IPv6
        ("133.11.0.1", "JP"),  # University of Tokyo, 133.11.0.0/16
        ("2001:200::1", "JP"),  # WIDE Project, IPv6
    ],
)
def test_public_addresses_get_a_country(
    resolver: GeoResolver, no_network: None, ip: str, country: str
) -> None:
    place = resolver.locate(ip)
    assert place.network == "public"
    assert place.country == country
    assert (place.lat, place.lon) == centroid(country)
    assert place.precise is False
    assert place.city is None
    assert place.display == country_name(country)


def test_ipv4_mapped_public_address_is_looked_up_as_ipv4(resolver: GeoResolver) -> None:
    place = resolver.locate("::ffff:8.8.8.8")
    assert (place.network, place.country) == ("public", "US")


def test_equivalent_spellings_give_the_same_answer(resolver: GeoResolver) -> None:
    assert resolver.locate("2001:4860:4860:0:0:0:0:8888") == resolver.locate("2001:4860:4860::8888")
    assert resolver.locate("2001:DB8::1") == resolver.locate("2001:db8::1")


def test_registry_codes_that_are_not_countries_count_as_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class FakeIptocc:
        @staticmethod
        def country_code(ip: str) -> str | None:
            return {"203.0.114.1": "EU", "203.0.114.2": "ap", "203.0.114.3": "de"}.get(ip)

    geo._registry_country.cache_clear()
    monkeypatch.setattr(geo, "iptocc", FakeIptocc)
    try:
        assert geo._registry_country("203.0.114.1") is None
        assert geo._registry_country("203.0.114.2") is None
        assert geo._registry_country("203.0.114.3") == "DE"
        assert geo._registry_country("203.0.114.4") is None
    finally:
        geo._registry_country.cache_clear()


# --------------------------------------------------------------------------- non-public


@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("10.1.2.3", "private"),
        ("192.168.1.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("fd00::1", "private"),
        ("100.64.0.1", "private"),  # carrier-grade NAT
        ("100.127.255.254", "private"),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "reserved"),  # documentation (TEST-NET-1)
        ("198.51.100.7", "reserved"),  # TEST-NET-2
        ("203.0.113.9", "reserved"),  # TEST-NET-3
        ("2001:db8::1", "reserved"),  # IPv6 documentation
        ("198.18.0.1", "reserved"),  # benchmarking
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.0.1", "link-local"),
        ("::ffff:192.0.2.1", "reserved"),
        ("::ffff:224.0.0.1", "multicast"),
        ("::ffff:0.0.0.0", "unspecified"),
    ],
)
def test_non_public_addresses(resolver: GeoResolver, ip: str, kind: str) -> None:
    assert classify_network(ipaddress.ip_address(ip)) == kind
    place = resolver.locate(ip)
    assert place == Place(country=None, network=kind, city=None, lat=None, lon=None, precise=False)


@pytest.mark.parametrize(
    ("ip", "kind"),
    [("8.8.8.8", "public"), ("::ffff:8.8.8.8", "public"), ("2001:4860:4860::8888", "public")],
)
def test_classify_public(ip: str, kind: str) -> None:
    assert classify_network(ipaddress.ip_address(ip)) == kind


def test_display_labels_for_non_public(resolver: GeoResolver) -> None:
    assert resolver.locate("10.0.0.1").display == "Private network"
    assert resolver.locate("127.0.0.1").display == "Loopback"
    assert resolver.locate("fe80::1").display == "Link-local network"
    assert resolver.locate("192.0.2.1").display == "Reserved address"
    assert resolver.locate("224.0.0.1").display == "Multicast address"
    assert resolver.locate("0.0.0.0").display == "Unspecified address"
    unknown = Place(country=None, network="public", city=None, lat=None, lon=None, precise=False)
    assert unknown.display == "Unknown location"


@pytest.mark.parametrize("bad", ["", "not-an-ip", "8.8.8.8 ", "300.1.1.1", "1.2.3", "::g"])
def test_invalid_ip_raises(resolver: GeoResolver, bad: str) -> None:
    with pytest.raises(ValueError, match=r"^ip: "):
        resolver.locate(bad)


@pytest.mark.parametrize("bad", [None, 134744072, b"8.8.8.8"])
def test_non_string_ip_raises(resolver: GeoResolver, bad: object) -> None:
    with pytest.raises(ValueError, match=r"^ip: "):
        resolver.locate(bad)  # type: ignore[arg-type]


def test_place_validation() -> None:
    for kind in NETWORK_KINDS:
        Place(country=None, network=kind, city=None, lat=None, lon=None, precise=False)
    with pytest.raises(ValueError, match="network"):
        Place(country=None, network="intranet", city=None, lat=None, lon=None, precise=False)
    with pytest.raises(ValueError):
        Place(country="US", network="public", city=None, lat=1.0, lon=None, precise=False)
    with pytest.raises(ValueError):
        Place(country="US", network="public", city=None, lat=None, lon=None, precise=True)


# --------------------------------------------------------------------------- hints


def test_valid_country_hint_wins_over_lookup(resolver: GeoResolver) -> None:
    place = resolver.locate("8.8.8.8", country_hint="FR")
    assert place.country == "FR"
    assert (place.lat, place.lon) == centroid("FR")
    assert place.precise is False
    assert place.display == "France"


def test_country_hint_is_stripped_and_upper_cased(resolver: GeoResolver) -> None:
    assert resolver.locate("8.8.8.8", country_hint=" de\n").country == "DE"


@pytest.mark.parametrize(
    "hint", [None, "", "  ", "XX", "T1", "EU", "zz", "USA", "U\x1bS", "U S", "ÜS", "１２", "U\x00"]
)
def test_invalid_country_hints_are_ignored(resolver: GeoResolver, hint: str | None) -> None:
    assert normalize_country_hint(hint) is None
    assert resolver.locate("8.8.8.8", country_hint=hint).country == "US"


def test_valid_hint_applies_to_private_address(resolver: GeoResolver) -> None:
    # Behind a trusted CDN the app may see a private hop while the hint describes the client.
    place = resolver.locate("10.0.0.7", country_hint="jp", city_hint="Osaka")
    assert place.network == "private"
    assert (place.country, place.city) == ("JP", "Osaka")
    assert (place.lat, place.lon) == centroid("JP")
    assert place.precise is False
    assert place.display == "Osaka"


def test_invalid_hint_on_private_address_gives_no_country(resolver: GeoResolver) -> None:
    place = resolver.locate("192.168.0.2", country_hint="T1", city_hint="\x1b[0m")
    assert place == Place(
        country=None, network="private", city=None, lat=None, lon=None, precise=False
    )


def test_non_string_country_hints() -> None:
    for hint in (12, b"US", ["US"], object()):
        assert normalize_country_hint(hint) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\x1b[31mParis\x1b[0m", "Paris"),
        ("Ber\x07lin", "Berlin"),
        ("\u202eParis\u202c", "Paris"),  # right-to-left override ... pop
        ("\u2066Rome\u2069", "Rome"),  # isolates
        ("\x1b]0;owned\x07Madrid", "Madrid"),  # OSC window title, BEL-terminated
        ("\x1b]8;;http://evil\x1b\\Oslo", "Oslo"),  # OSC 8 hyperlink, ST-terminated
        ("\x9b31mLima", "Lima"),  # 8-bit CSI
        ("Lis\x85b\x90\x9con", "Lisbon"),  # C1 controls (NEL, DCS ... ST) removed
        ("  New \t York\r\n ", "New York"),
        ("São Paulo", "São Paulo"),
        ("Zürich", "Zürich"),
        ("", None),
        ("   ", None),
        ("\x1b[2J\x1b[H", None),
        (None, None),
    ],
)
def test_city_hint_cleaning(raw: str | None, clean: str | None) -> None:
    assert normalize_city_hint(raw) == clean


def test_city_hint_truncated(resolver: GeoResolver) -> None:
    assert normalize_city_hint("x" * 500) == "x" * 80
    assert normalize_city_hint("Amsterdam", max_length=5) == "Amste"
    assert resolver.locate("8.8.8.8", city_hint="y" * 200).city == "y" * 80
    with pytest.raises(ValueError, match="max_length"):
        normalize_city_hint("Paris", max_length=0)


def test_city_hint_used_for_public_address(resolver: GeoResolver) -> None:
    place = resolver.locate("8.8.8.8", city_hint="\x1b[1mMountain View\x1b[0m")
    assert (place.country, place.city, place.display) == ("US", "Mountain View", "Mountain View")
    assert place.precise is False


# --------------------------------------------------------------------------- hypothesis


@given(st.one_of(st.none(), st.text(), st.text(alphabet="abcdefxyzUSTE1 \t\x1b", max_size=4)))
def test_normalize_country_hint_never_raises(hint: str | None) -> None:
    result = normalize_country_hint(hint)
    assert result is None or (re.fullmatch(r"[A-Z]{2}", result) and country_name(result))


@given(st.text(), st.integers(min_value=1, max_value=200))
def test_normalize_city_hint_output_is_clean(hint: str, max_length: int) -> None:
    result = normalize_city_hint(hint, max_length=max_length)
    if result is None:
        return
    assert result
    assert len(result) <= max_length
    assert "\x1b" not in result
    assert not any(unicodedata.category(ch).startswith("C") for ch in result)
    assert result == result.strip()
    assert "  " not in result


@given(st.text(alphabet=st.sampled_from(["\x1b", "[", "]", "3", "1", "m", "\x07", "\\", "a", " "])))
def test_normalize_city_hint_on_escape_soup(hint: str) -> None:
    result = normalize_city_hint(hint)
    assert result is None or ("\x1b" not in result and "\x07" not in result)


# --------------------------------------------------------------------------- haversine

PARIS = (48.8566, 2.3522)
NEW_YORK = (40.7128, -74.0060)


def test_haversine_paris_new_york() -> None:
    assert haversine_km(*PARIS, *NEW_YORK) == pytest.approx(5837, rel=0.01)


def test_haversine_zero_and_symmetric() -> None:
    assert haversine_km(*PARIS, *PARIS) == 0.0
    assert haversine_km(*PARIS, *NEW_YORK) == haversine_km(*NEW_YORK, *PARIS)
    assert haversine_km(0, 0, 0, 180) == pytest.approx(HALF_CIRCUMFERENCE_KM)
    assert haversine_km(90, 0, -90, 0) == pytest.approx(HALF_CIRCUMFERENCE_KM)
    assert haversine_km(0, 179.5, 0, -179.5) == pytest.approx(111.2, abs=0.1)  # across 180°


_lat = st.floats(min_value=-90, max_value=90, allow_nan=False)
_lon = st.floats(min_value=-180, max_value=180, allow_nan=False)


@given(_lat, _lon, _lat, _lon)
def test_haversine_bounds(lat1: float, lon1: float, lat2: float, lon2: float) -> None:
    d = haversine_km(lat1, lon1, lat2, lon2)
    assert 0.0 <= d <= HALF_CIRCUMFERENCE_KM + 1e-9
    assert d == pytest.approx(haversine_km(lat2, lon2, lat1, lon1), abs=1e-6)


# --------------------------------------------------------------------------- centroid table


def _csv_text() -> str:
    return (files("sessionwarden") / "data" / "country_centroids.csv").read_text(encoding="utf-8")


def _csv_rows() -> list[list[str]]:
    lines = [line for line in _csv_text().splitlines() if not line.startswith("#")]
    rows = list(csv.reader(lines))
    assert rows[0] == ["code", "name", "lat", "lon"]
    return rows[1:]


def test_centroid_file_records_source_and_licence() -> None:
    header = [line for line in _csv_text().splitlines() if line.startswith("#")]
    text = "\n".join(header)
    assert "SOURCE:" in text
    assert "LICENCE:" in text
    assert "CC BY 4.0" in text


def test_centroid_table_sanity() -> None:
    rows = _csv_rows()
    assert len(rows) >= 240
    codes = [row[0] for row in rows]
    assert len(codes) == len(set(codes))
    for code, name, lat, lon in rows:
        assert re.fullmatch(r"[A-Z]{2}", code)
        assert name and name == name.strip()
        if code == "UM":  # no meaningful single centroid; see the file header
            assert (lat, lon) == ("", "")
            continue
        assert -90.0 <= float(lat) <= 90.0
        assert -180.0 <= float(lon) <= 180.0
        assert centroid(code) == (float(lat), float(lon))
        assert country_name(code) == name


@pytest.mark.parametrize(
    ("code", "lat", "lon"),
    [
        ("US", 37.1, -95.7),
        ("FR", 46.2, 2.2),
        ("JP", 36.2, 138.3),
        ("AU", -25.3, 133.8),
        ("BR", -14.2, -51.9),
        ("DE", 51.2, 10.5),
        ("IN", 20.6, 79.0),
        ("ZA", -30.6, 22.9),
    ],
)
def test_centroid_spot_checks(code: str, lat: float, lon: float) -> None:
    point = centroid(code)
    assert point is not None
    assert abs(point[0] - lat) <= 3.0
    assert abs(point[1] - lon) <= 3.0


def test_codes_that_iptocc_returns_are_in_the_table() -> None:
    # Successors of the Netherlands Antilles, Åland, South Sudan etc. are absent from the
    # upstream table and were added by hand; iptocc does return them.
    for code in ("AX", "BL", "BQ", "CW", "MF", "SS", "SX", "XK"):
        assert centroid(code) is not None
        assert country_name(code)


def test_centroid_and_name_lookups() -> None:
    assert centroid("us") == centroid("US")
    assert country_name("jp") == "Japan"
    assert country_name("UM") == "U.S. Minor Outlying Islands"
    assert centroid("UM") is None
    for bad in ("XX", "", "USA", "EU", "AN", "GZ"):
        assert centroid(bad) is None
        assert country_name(bad) is None
    place = Place(country="XX", network="public", city=None, lat=None, lon=None, precise=False)
    assert place.country_name is None
    assert place.display == "XX"


# --------------------------------------------------------------------------- mmdb


def test_missing_mmdb_file_is_a_loud_error(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "GeoLite2-City.mmdb"
    with pytest.raises(ValueError, match=re.escape(str(path))):
        GeoResolver(path)


def test_garbage_mmdb_file_is_a_loud_error(tmp_path: Path) -> None:
    path = tmp_path / "GeoLite2-City.mmdb"
    path.write_bytes(b"this is not a MaxMind database\n" * 64)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        GeoResolver(str(path))
    empty = tmp_path / "empty.mmdb"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.mmdb"):
        GeoResolver(empty)
    with pytest.raises(ValueError, match=re.escape(str(tmp_path))):
        GeoResolver(tmp_path)  # a directory


def test_resolver_without_mmdb_close_and_context_manager() -> None:
    with GeoResolver() as r:
        assert r.mmdb_path is None
        assert r.locate("8.8.8.8").country == "US"
    with pytest.raises(RuntimeError):
        r.locate("8.8.8.8")
    r.close()  # idempotent


def _city(iso: str, city: str | None, lat: float, lon: float) -> dict[str, object]:
    record: dict[str, object] = {
        "continent": {"code": "XX"},
        "country": {"iso_code": iso, "names": {"en": country_name(iso) or iso}},
        "location": {"latitude": lat, "longitude": lon, "accuracy_radius": 20},
    }
    if city is not None:
        record["city"] = {"geoname_id": 1, "names": {"en": city, "de": city + "-de"}}
    return record


@pytest.fixture(scope="module")
def city_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real GeoLite2-City-shaped database, written with mmdb-writer."""
    mmdb_writer = pytest.importorskip("mmdb_writer")
    netaddr = pytest.importorskip("netaddr")
    writer = mmdb_writer.MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoLite2-City",
        languages=["en"],
        description="sessionwarden test database",
    )
    entries = {
        "8.8.8.0/24": _city("US", "Mountain View", 37.386, -122.0838),
        # mmdb disagrees with the registry (iptocc says NL for RIPE's block)
        "193.0.6.0/24": _city("DE", "Frankfurt am Main", 50.1109, 8.6821),
        # country-level record only: no city, MaxMind-style country default coordinates
        "133.11.0.0/16": _city("JP", None, 35.69, 139.69),
        "2001:200::/32": _city("JP", "Tokyo", 35.6895, 139.6917),
        # hostile text in the database is cleaned like any other city name
        "9.9.9.0/24": _city("US", "\x1b[31mBerkeley\u202e", 37.8716, -122.2727),
        # a record whose country is not a table code (continent-only style)
        "1.0.0.0/24": {
            "continent": {"code": "EU"},
            "location": {"latitude": 47.0, "longitude": 8.0},
        },
    }
    for network, record in entries.items():
        writer.insert_network(netaddr.IPSet([network]), record)
    path = tmp_path_factory.mktemp("mmdb") / "GeoLite2-City-test.mmdb"
    writer.to_db_file(str(path))
    return path


@pytest.fixture
def city_resolver(city_db: Path):
    r = GeoResolver(city_db)
    yield r
    r.close()


def test_mmdb_city_with_coordinates(city_resolver: GeoResolver) -> None:
    place = city_resolver.locate("8.8.8.8")
    assert place == Place(
        country="US",
        network="public",
        city="Mountain View",
        lat=37.386,
        lon=-122.0838,
        precise=True,
    )
    assert place.display == "Mountain View"
    # IPv4-mapped form resolves through the IPv4 tree
    assert city_resolver.locate("::ffff:8.8.8.8") == place


def test_mmdb_ipv6_city(city_resolver: GeoResolver) -> None:
    place = city_resolver.locate("2001:200:dead::1")
    assert (place.country, place.city, place.precise) == ("JP", "Tokyo", True)
    assert (place.lat, place.lon) == (35.6895, 139.6917)


def test_mmdb_country_preferred_over_registry(city_resolver: GeoResolver) -> None:
    place = city_resolver.locate("193.0.6.139")
    assert (place.country, place.city, place.precise) == ("DE", "Frankfurt am Main", True)


def test_mmdb_country_only_record_uses_centroid(city_resolver: GeoResolver) -> None:
    place = city_resolver.locate("133.11.0.1")
    assert (place.country, place.city, place.precise) == ("JP", None, False)
    assert (place.lat, place.lon) == centroid("JP")


def test_mmdb_city_ignored_when_hint_names_another_country(city_resolver: GeoResolver) -> None:
    place = city_resolver.locate("8.8.8.8", country_hint="FR")
    assert (place.country, place.city, place.precise) == ("FR", None, False)
    assert (place.lat, place.lon) == centroid("FR")


def test_mmdb_city_hint_wins_but_coordinates_come_from_mmdb(city_resolver: GeoResolver) -> None:
    place = city_resolver.locate("8.8.8.8", country_hint="US", city_hint="Palo Alto")
    assert (place.country, place.city, place.precise) == ("US", "Palo Alto", True)
    assert (place.lat, place.lon) == (37.386, -122.0838)


def test_mmdb_hostile_city_name_is_cleaned(city_resolver: GeoResolver) -> None:
    assert city_resolver.locate("9.9.9.9").city == "Berkeley"


def test_mmdb_record_without_country_falls_back_to_registry(city_resolver: GeoResolver) -> None:
    place = city_resolver.locate("1.0.0.1")
    assert place.precise is False
    assert place.country == geo._registry_country("1.0.0.1")


def test_mmdb_miss_falls_back_to_registry(city_resolver: GeoResolver) -> None:
    place = city_resolver.locate("2001:4860:4860::8888")
    assert (place.country, place.city, place.precise) == ("US", None, False)


def test_mmdb_not_consulted_for_private_addresses(city_resolver: GeoResolver) -> None:
    assert city_resolver.locate("10.0.0.1").country is None


def test_ipv4_only_mmdb_tolerates_ipv6_lookups(tmp_path: Path) -> None:
    mmdb_writer = pytest.importorskip("mmdb_writer")
    netaddr = pytest.importorskip("netaddr")
    writer = mmdb_writer.MMDBWriter(ip_version=4, database_type="GeoLite2-City")
    writer.insert_network(netaddr.IPSet(["8.8.8.0/24"]), _city("US", "Mountain View", 37.4, -122.1))
    path = tmp_path / "v4.mmdb"
    writer.to_db_file(str(path))
    with GeoResolver(path) as r:
        assert r.locate("8.8.8.8").precise is True
        assert r.locate("2001:4860:4860::8888").country == "US"
