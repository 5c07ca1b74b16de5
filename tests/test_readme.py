"""The README's Python examples run, in order, on the embedded store."""

from __future__ import annotations

import re
from pathlib import Path

import fakeredis
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


# LangChain deprecated RunnableWithMessageHistory, which the LangChain adapter's example uses
@pytest.mark.filterwarnings("ignore::langchain_core._api.deprecation.LangChainDeprecationWarning")
def test_readme_examples_run() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 6
    namespace: dict[str, object] = {
        "url": "memory://readme",
        "existing_redis_client": fakeredis.FakeRedis(server=fakeredis.FakeServer()),
    }
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as exc:  # name the block that broke
            raise AssertionError(f"README python block {i + 1} failed:\n{block}") from exc
