"""The one place the shells wait (kept alone so that generated imports stay sorted)."""

from __future__ import annotations

import asyncio


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)
