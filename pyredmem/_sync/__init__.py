# Generated from pyredmem/_async/__init__.py by scripts/unasync.py: do not edit.
"""The sync shell, generated from pyredmem/_async."""
