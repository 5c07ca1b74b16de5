"""Generate pyredmem/_sync from pyredmem/_async (the sync shells are never edited by hand).

python scripts/unasync.py          rewrite pyredmem/_sync
python scripts/unasync.py --check  exit 1 if pyredmem/_sync is out of date
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "pyredmem" / "_async"
TARGET = ROOT / "pyredmem" / "_sync"

# applied in order, each as a regular expression
SUBS: list[tuple[str, str]] = [
    (r"^\"\"\"The asyncio shell\..*", '"""The sync shell, generated from pyredmem/_async."""'),
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__anext__\b", "__next__"),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\baclose\b", "close"),
    (r"\basyncio\.sleep\b", "time.sleep"),
    (r"^import asyncio$", "import time"),
    (r"^import asyncio  # for Semaphore$", "from .._slots import Slots  # for Semaphore"),
    (r"\basyncio\.Semaphore\b", "Slots"),
    (r"\b(\w+)_async\b", r"\1_sync"),
    (r"^import redis\.asyncio$", "import redis"),
    (r"\bredis\.asyncio\.", "redis."),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bAsyncGenerator\b", "Generator"),
    (r"\bAwaitable\b", "Callable"),
    (r"\bAsync([A-Z]\w*)", r"\1"),
]

HEADER = "# Generated from pyredmem/_async/{name} by scripts/unasync.py: do not edit.\n"


def convert(text: str) -> str:
    for pattern, repl in SUBS:
        text = re.sub(pattern, repl, text, flags=re.MULTILINE)
    return text


def expected() -> dict[str, str]:
    return {
        path.name: HEADER.format(name=path.name) + convert(path.read_text(encoding="utf-8"))
        for path in sorted(SOURCE.glob("*.py"))
    }


def main(argv: list[str]) -> int:
    want = expected()
    have = {p.name: p.read_text(encoding="utf-8") for p in TARGET.glob("*.py")}
    if "--check" in argv:
        stale = sorted(n for n in set(want) | set(have) if want.get(n) != have.get(n))
        if stale:
            print(
                f"pyredmem/_sync is out of date ({', '.join(stale)}): run python scripts/unasync.py"
            )
            return 1
        return 0
    TARGET.mkdir(exist_ok=True)
    for name in set(have) - set(want):
        (TARGET / name).unlink()
    for name, text in want.items():
        (TARGET / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
