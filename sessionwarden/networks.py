"""Which network an address belongs to, for the familiarity of networks and hosting networks.

A network is the autonomous system (``a<number>``) when the operator supplies a GeoLite2-ASN
``.mmdb`` file (``Settings.asn_mmdb_path``), else the address's /24 (IPv4) or /48 (IPv6)
prefix: coarse enough that a home router's new address stays on its network, fine enough that
a proxy is another one. Networks the operator declares (``DetectionSettings.known_networks``:
the corporate VPN, the office) are *neutral*: a sign-in there says nothing about where the
user is, for anyone. An AS whose number the operator lists (``hosting_asns``) or whose name
holds one of ``hosting_words`` ("hosting", "vpn", "cloud", ...) is a hosting network: a weak
signal (VPN exits and rented servers), never an alert on its own. Offline, like `geo`.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any

from .geo import mmdb_get, open_mmdb
from .settings import DetectionSettings


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    """``key``: the network's key for the user record ('' = none: a non-public address);
    ``neutral``: in an operator-declared known network; ``hosting``: a hosting/VPN AS;
    ``org``: the AS's name when the ASN database knows it."""

    key: str
    neutral: bool = False
    hosting: bool = False
    org: str | None = None


class NetworkResolver:
    """Describes addresses by network; opens the optional ASN database once."""

    def __init__(self, asn_mmdb_path: str | os.PathLike[str] | None = None) -> None:
        self._reader: Any = None
        if asn_mmdb_path is not None:
            self._reader = open_mmdb(os.fspath(asn_mmdb_path), "asn_mmdb_path")

    def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    def describe(self, ip: str, network_kind: str, rules: DetectionSettings) -> NetworkInfo:
        """The network of ``ip`` (a canonical address string of kind ``network_kind``)."""
        addr = ipaddress.ip_address(ip)
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        neutral = any(addr in net for net in rules.networks if net.version == addr.version)
        if network_kind != "public":
            return NetworkInfo("", neutral)
        record = mmdb_get(self._reader, str(addr))
        number = record.get("autonomous_system_number") if isinstance(record, dict) else None
        if isinstance(number, int) and not isinstance(number, bool) and number > 0:
            org = record.get("autonomous_system_organization")
            org = org if isinstance(org, str) else None
            hosting = number in rules.hosting_asns or bool(
                org and any(word in org.lower() for word in rules.hosting_words))
            return NetworkInfo(f"a{number}", neutral, hosting, org)
        prefix = 24 if addr.version == 4 else 48
        net = ipaddress.ip_network(f"{addr}/{prefix}", strict=False)
        return NetworkInfo(net.network_address.packed[: prefix // 8].hex(), neutral)
