"""Input checks and display-text cleaning, applied before anything is stored.

Attacker-controlled strings (user agent, city, country hint, device id) end up in a terminal
console and in emails, so control characters and terminal escape sequences are removed *before*
storage, and lengths are bounded so one request cannot bloat Redis. Arguments the application
controls (user id, IP, email) are validated instead: a bad one raises ``ValueError`` naming the
argument, and nothing is written.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata

MAX_USER_ID_BYTES = 256
MAX_EMAIL_LENGTH = 254
MAX_DEVICE_ID_LENGTH = 128

# ESC-introduced sequences: CSI (ESC [ ... final), OSC / DCS / PM / APC / SOS (terminated by BEL
# or ESC \), and two-character escapes; plus their 8-bit C1 forms (CSI = U+009B, OSC = U+009D).
_ESCAPES = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?          # CSI ... final byte (final may be cut off)
  | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])     # OSC, DCS, SOS, PM, APC ...
      [^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?    # ... up to BEL / ST (or the end)
  | \x1b[ -/]*[0-~]?                            # any other two-character escape
    """,
    re.VERBOSE,
)
_SPACES = re.compile(r"\s+")


def clean_text(value: str | None, max_length: int) -> str | None:
    """Printable, single-line, bounded text for display; ``None`` when nothing is left.

    Removes escape sequences entirely (not just the ESC byte, so ``\\x1b[31m`` leaves no
    ``[31m``), then every character of Unicode category C* (controls, format characters such as
    bidi overrides and zero-width joiners, private use, surrogates, unassigned), collapses runs of
    white space, strips, and truncates to ``max_length`` characters. Non-``str`` input is
    treated as absent. Huge input is cut to ``8 * max_length`` characters before the regex work
    so a megabyte header costs no more than a short one.
    """
    if not isinstance(value, str) or not value:
        return None
    value = value[: 8 * max_length]
    if value.isascii() and value.isprintable():  # the common case: nothing to remove
        return " ".join(value.split())[:max_length].rstrip() or None
    value = _ESCAPES.sub("", value)
    value = "".join(
        ch if unicodedata.category(ch)[0] != "C" else (" " if ch in "\t\n\r\x0b\x0c" else "")
        for ch in value
    )
    value = _SPACES.sub(" ", value).strip()
    return value[:max_length].rstrip() or None  # a cut may end on a space


def require_user_id(user_id: object) -> str:
    """A user id: a ``str`` of at most 256 UTF-8 bytes that is not blank and holds no control,
    format or line-breaking character.

    Refused, with a ``ValueError`` naming ``user_id`` (nothing is written): empty or white
    space only; longer than 256 UTF-8 bytes; a lone surrogate (not valid Unicode, cannot be
    encoded); any character of Unicode category Cc (C0, DEL and C1 controls), Cf (format
    characters: bidi embeddings, overrides and isolates U+202A-U+202E, U+2066-U+2069,
    zero-width U+200B-U+200F, U+FEFF, the soft hyphen, emoji tags), Zl or Zp (U+2028, U+2029).
    Such characters make two ids that look the same differ, or reorder, hide or break the text a
    console or an email shows around the id. Unassigned and private-use code points are
    accepted: which code points are assigned depends on the Unicode version of the Python doing
    the check, and an id accepted by one app server must not be refused by another (its user
    could no longer list or revoke sessions there). A non-``str`` is a ``TypeError``.
    """
    if not isinstance(user_id, str):
        raise TypeError(f"user_id: expected str, got {type(user_id).__name__}")
    if not user_id:
        raise ValueError("user_id: must not be empty")
    try:
        encoded = user_id.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("user_id: is not valid Unicode (lone surrogate)") from None
    if len(encoded) > MAX_USER_ID_BYTES:
        raise ValueError(f"user_id: longer than {MAX_USER_ID_BYTES} bytes ({len(encoded)})")
    if not (user_id.isascii() and user_id.isprintable()):  # the common case skips the loop
        for ch in user_id:
            refused = _USER_ID_REFUSED.get(unicodedata.category(ch))
            if refused is not None:
                raise ValueError(f"user_id: must not contain {refused} (U+{ord(ch):04X})")
    if user_id.isspace():
        raise ValueError("user_id: must not be blank (white space only)")
    return user_id


_USER_ID_REFUSED = {
    "Cc": "control characters",
    "Cf": "format characters (bidi controls, zero-width characters)",
    "Zl": "line separators",
    "Zp": "paragraph separators",
}

MAX_IP_LENGTH = 45  # the longest address text: "0000:0000:0000:0000:0000:ffff:255.255.255.255"
_IP_TEXT = re.compile(r"[0-9A-Fa-f:.]+")
_SEPARATORS = "\x1c\x1d\x1e\x1f"  # white space to str.isspace, but not to a reader


def require_ip(ip: object, name: str = "ip") -> str:
    """The canonical text of an IPv4/IPv6 address, else a ``ValueError`` naming ``name``.

    Canonical: IPv6 in compressed lower-case form (``2001:DB8:0::1`` -> ``2001:db8::1``); an
    IPv4-mapped IPv6 address (``::ffff:1.2.3.4``, how a dual-stack listener reports every IPv4
    client) as the IPv4 address it carries, ``1.2.3.4``, the same on every Python version.

    Refused: anything but a ``str``; more than 45 characters (the longest address text);
    surrounding white space; an IPv6 zone id (``fe80::1%eth0``): it names an interface of the
    host that saw the address, meaningless anywhere else, and a session is not scoped to an
    interface; any character outside ``0-9 a-f A-F : .`` (so no control character, separator or
    lone surrogate reaches a stored field); anything `ipaddress` does not parse.
    """
    if not isinstance(ip, str) or not 0 < len(ip) <= MAX_IP_LENGTH:
        raise ValueError(f"{name}: expected an IPv4 or IPv6 address, got {_preview(ip)}")
    try:
        return _canonical_ip(ip)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}: {_preview(ip)}") from None


@functools.lru_cache(maxsize=4096)
def _canonical_ip(ip: str) -> str:
    """Memoised: validate may check the client's address on every request, and a session's
    requests come from few addresses (parsing one costs ~3 µs, a hit ~0.1). A raised error is
    not cached, so only valid addresses are kept and every check below runs on each miss."""
    if not _IP_TEXT.fullmatch(ip):
        if "%" in ip:
            raise ValueError("an IPv6 zone id (%...) is not accepted")
        if any(end.isspace() and end not in _SEPARATORS for end in (ip[0], ip[-1])):
            raise ValueError("surrounding white space is not accepted")
        raise ValueError("not a valid IPv4 or IPv6 address")
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise ValueError("not a valid IPv4 or IPv6 address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)  # explicitly: Python versions render these differently
    return address.compressed


def require_email(email: object) -> str:
    """A plausible single mailbox address: ``local@domain``, no spaces or controls, <= 254 chars.

    Deliverability is the mail server's business; this only keeps header injection
    (``\\r\\nBcc:``) and display garbage out of the user record.
    """
    if not isinstance(email, str):
        raise TypeError(f"email: expected str, got {type(email).__name__}")
    email = email.strip()
    local, at, domain = email.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(email) > MAX_EMAIL_LENGTH
        or any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in email)
    ):
        raise ValueError(f"email: not a valid address: {_preview(email)}")
    return email


def _preview(value: object) -> str:
    """A safe, short rendering of bad input for error messages."""
    text = value if isinstance(value, str) else type(value).__name__
    return repr(clean_text(text, 40) or "")
