"""The one message an adapter gives when its framework is not installed."""

from __future__ import annotations


def missing(framework: str, extra: str) -> ImportError:
    return ImportError(
        f"this adapter needs {framework}: pip install 'pyredmem[{extra}]'",
        name=framework,
    )
