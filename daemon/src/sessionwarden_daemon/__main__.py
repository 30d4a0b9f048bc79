"""``python -m sessionwarden_daemon [--config PATH]``."""

from __future__ import annotations

import sys

from .cli import daemon_main

if __name__ == "__main__":
    sys.exit(daemon_main())
