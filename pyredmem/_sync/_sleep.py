# Generated from pyredmem/_async/_sleep.py by scripts/unasync.py: do not edit.
"""The one place the shells wait (kept alone so that generated imports stay sorted)."""

from __future__ import annotations

import time


def sleep(seconds: float) -> None:
    time.sleep(seconds)
