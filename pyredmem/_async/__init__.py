"""The asyncio shell. `pyredmem/_sync` is generated from this folder by scripts/unasync.py."""
