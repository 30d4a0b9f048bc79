"""Commands other distributions add to ``sessionwarden`` (``daemon``, ``alerts``, ``console``,
``demo``).

Each registers callables in the ``sessionwarden.commands`` entry-point group: one per command,
taking the arguments after the command name and returning the exit status. The core CLI runs
them by name, so a web app that installs only ``sessionwarden`` gets none of them, and is told
what to install when it asks for one.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import IO

ENTRY_POINT_GROUP = "sessionwarden.commands"
#: command -> the distribution that provides it, for the "pip install ..." message
KNOWN_EXTERNAL = {"daemon": "sessionwarden-daemon", "alerts": "sessionwarden-daemon",
                  "console": "sessionwarden-console", "demo": "sessionwarden-console[demo]"}


def external_command(name: str) -> Callable[[list[str]], int] | None:
    """The entry point registered for ``name`` in `ENTRY_POINT_GROUP`, loaded, or ``None``."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            command: Callable[[list[str]], int] = ep.load()
            return command
    return None


def dispatch_external(argv: list[str], stderr: IO[str]) -> int | None:
    """Run ``argv[0]`` if it is a command of another distribution: its exit status; 2 with
    "pip install <distribution>" when that distribution is missing; ``None`` when ``argv[0]``
    is not such a command (the core CLI parses ``argv`` itself)."""
    if not argv or argv[0].startswith("-"):
        return None
    name = argv[0]
    command = external_command(name)
    if command is not None:
        return int(command(argv[1:]) or 0)
    if name in KNOWN_EXTERNAL:
        package = KNOWN_EXTERNAL[name]
        stderr.write(f"sessionwarden: error: '{name}' is provided by the {package} package: "
                     f"pip install {shlex.quote(package)}\n")
        return 2
    return None
