"""Text from outside, made safe for a terminal: the one rule the CLI and the console share.

Strings read from Redis (user agents, cities, user ids, reasons) and error messages that may
quote input can hold terminal escape sequences, bidi overrides or line separators. `shown`
turns every non-printable character into a visible escape, so a hostile record can neither
move the cursor nor fake a line, and a shown value is always one line.
"""

from __future__ import annotations


def shown(value: object) -> str:
    """Text safe to write to a terminal: every non-printable character becomes a visible
    escape (``\\x1b``, ``\\u202e``, ``\\udcff``), everything printable stays as it is.

    ``str.isprintable`` is false for all of Unicode category C (Cc, Cf, Cs, Co, Cn) and for Z*
    other than the ASCII space, so tabs, newlines, ESC, C1 controls (CSI U+009B, OSC U+009D),
    bidi overrides, zero-width characters and U+2028 are all escaped. Anything that is not a
    string is shown as its ``str()``.
    """
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ord(ch)) for ch in text)


def _escape(code: int) -> str:
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
