"""The Lua scripts, one file per atomic operation, each prefixed with ``_lib.lua``.

They are read once at import; the managers run them by EVALSHA and, on NOSCRIPT (after a
restart, failover or SCRIPT FLUSH), send the source once with EVAL, which caches it: the script
body crosses the network once per server, at the cost of one extra round trip.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    source: str
    sha: str


def _load() -> dict[str, Script]:
    folder = files(__name__)
    lib = folder.joinpath("_lib.lua").read_text(encoding="utf-8")
    found = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".lua") and not entry.name.startswith("_"):
            source = lib + "\n" + entry.read_text(encoding="utf-8")
            sha = hashlib.sha1(source.encode("utf-8"), usedforsecurity=False).hexdigest()
            found[entry.name[:-4]] = Script(entry.name[:-4], source, sha)
    return found


SCRIPTS: dict[str, Script] = _load()
