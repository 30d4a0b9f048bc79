"""Durations as configuration files and environment variables spell them.

Accepted: ``500ms``, ``30s``, ``5m``, ``2h``, ``7d`` (a whole or decimal number, then one unit,
no space), or a plain number of seconds: a TOML integer or float, or the same number as text
(``"30"``, ``"1.5"``). An optional leading ``-`` is accepted so that "must be positive" is
reported by the setting, not as a syntax error. Anything else is a `ValueError` saying what
was expected; so is a value beyond `datetime.timedelta`'s range, NaN or infinity, or text
longer than 64 characters (nothing long is ever a duration).

Values are kept in microseconds (``timedelta``'s resolution): finer fractions are rounded to
the nearest microsecond. `format_duration` writes the shortest exact spelling, and
``parse_duration(format_duration(d)) == d`` for every ``timedelta``.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

__all__ = ["EXPECTED", "format_duration", "parse_duration"]

#: What a duration looks like, for error messages.
EXPECTED = "a duration such as 500ms, 30s, 5m, 2h, 7d or a number of seconds"

_UNIT_US = {"d": 86_400_000_000, "h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000,
            "ms": 1_000}
_TEXT = re.compile(r"(-?)([0-9]{1,18}(?:\.[0-9]{1,12})?)(ms|s|m|h|d)?")
_MAX_TEXT = 64


def parse_duration(value: object) -> timedelta:
    """A ``timedelta`` from ``30s`` / ``5m`` / ``2h`` / ``7d`` / ``500ms`` or a number of
    seconds (int, float, or numeric text). `ValueError` for anything else (including bools)."""
    if isinstance(value, bool):
        raise ValueError(f"expected {EXPECTED}, got a boolean")
    if isinstance(value, int):
        amount, unit = Decimal(value), _UNIT_US["s"]
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"expected {EXPECTED}, got {value!r}")
        amount, unit = Decimal(repr(value)), _UNIT_US["s"]
    elif isinstance(value, str):
        text = value.strip()
        match = _TEXT.fullmatch(text) if len(text) <= _MAX_TEXT else None
        if match is None:
            raise ValueError(f"expected {EXPECTED}")
        try:
            amount = Decimal(match[1] + match[2])
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
            raise ValueError(f"expected {EXPECTED}") from None
        unit = _UNIT_US[match[3] or "s"]
    else:
        raise ValueError(f"expected {EXPECTED}, got {type(value).__name__}")
    micros = (amount * unit).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    try:
        return timedelta(microseconds=int(micros))
    except OverflowError:
        raise ValueError(f"duration out of range (at most {timedelta.max.days} days)") from None


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling: ``7d``, ``90m``, ``1500ms``, ``1.000001s``, ``0s``."""
    micros = value // timedelta(microseconds=1)
    sign, micros = ("-" if micros < 0 else ""), abs(micros)
    if micros == 0:
        return "0s"
    for unit, size in _UNIT_US.items():
        if micros % size == 0:
            return f"{sign}{micros // size}{unit}"
    whole, frac = divmod(micros, 1_000_000)
    return f"{sign}{whole}.{frac:06d}".rstrip("0") + "s"
