"""Reader for uap-core's test-case files (``tests/test_ua.yaml``, ``test_os.yaml``,
``test_device.yaml``): a list of flat mappings under ``test_cases``. Only the subset of YAML
those files use is read (one ``key: value`` per line; values single-quoted, double-quoted,
bare or empty), so the measurement needs no YAML library."""

from __future__ import annotations

import json
from pathlib import Path


def _value(raw: str) -> str | None:
    raw = raw.strip()
    if raw in ("", "~", "null"):
        return None
    if raw.startswith("'") and raw.endswith("'") and len(raw) >= 2:
        return raw[1:-1].replace("''", "'")
    if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        return str(json.loads(raw))
    return raw


def load(path: str | Path) -> list[dict[str, str | None]]:
    """The test cases of one uap-core file, each ``{field: value or None}``."""
    cases: list[dict[str, str | None]] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped == "test_cases:":
            continue
        if stripped.startswith("- "):
            cases.append({})
            stripped = stripped[2:]
        key, sep, raw = stripped.partition(":")
        if sep and cases:
            cases[-1][key.strip()] = _value(raw)
    return cases
