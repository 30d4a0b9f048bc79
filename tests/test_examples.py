"""The demo (`make demo`) runs end to end against a real redis-server and tells the story."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quickstart_demo_tells_the_incident(redis_server: str) -> None:
    env = {**os.environ, "REDIS_URL": redis_server}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Windows/Edge — Netherlands" in out
    assert "[  high] impossible_travel" in out
    assert "[medium] new_country: first sign-in from Netherlands (NL)" in out
    assert "revoked 2 session(s); left:" in out
    assert "validate_session(attacker token) -> None" in out
    assert "[  high] revoked_token_used" in out
    assert "\x1b" not in out
