"""A web app installs only the core: importing it (and loading the shared configuration, which
reads the other distributions' config sections through entry points) pulls in none of the
daemon's, the console's, the demo's or the example app's dependencies."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("textual", "apscheduler", "plyer", "flask", "werkzeug", "fakeredis", "aiosmtpd",
         "selenium", "sessionwarden_console.app", "sessionwarden_console.demo",
         "sessionwarden_daemon.app")

PROBE = """
import json, os, sys
import sessionwarden, sessionwarden.manager, sessionwarden.cli
from sessionwarden import config
config.load(os.devnull, env={})
heavy = %r
print(json.dumps(sorted(m for m in sys.modules
                        if any(m == h or m.startswith(h + ".") for h in heavy))))
"""


def test_the_core_imports_nothing_heavy() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE % (HEAVY,)], capture_output=True,
                          text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == []
