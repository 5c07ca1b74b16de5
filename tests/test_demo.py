"""The demo a new user runs first."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pyredmem.__main__ import main


def test_demo_runs_on_the_embedded_store(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "embedded store" in out
    assert "onboarding_steps_done                        -> 3" in out
    assert "0.35 s later, get cart                       -> None" in out
    assert "planner sees the executor's status           -> 'refunded'" in out
    assert "tenant globex: user:alice get prefs          -> None" in out
    assert "append + the model's context, one call       -> ['system', 'user']" in out
    assert "batch: prefs, bob's flag, turns              -> ({'language': 'fr'" in out
    assert "recall: 'when does she play music?'          -> 'Plays the cello on Sundays'" in out
    assert "carol's card, read back                      -> '4242 4242 4242 4242'" in out
    assert "'hunter2', '4242' or 'carol' in Redis        -> False" in out
    assert "another key looks her up                     -> None" in out
    assert "carol.erase()                                -> Erased(values=1, threads=1" in out
    assert "4 calls in a 3/second window: allowed        -> [True, True, True, False]" in out
    assert "after waiting it out: allowed                -> True" in out
    assert "8 concurrent callers got                     -> [1.0842]" in out
    assert "times the upstream was called                -> 1" in out


@pytest.mark.real_server
@pytest.mark.standalone
def test_demo_runs_on_a_server_and_again(url: str) -> None:
    for _ in range(2):  # a second run starts clean
        out = subprocess.run(
            [sys.executable, "-m", "pyredmem", "demo", "--url", url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        assert "onboarding_steps_done                        -> 3" in out


def test_version_flag() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pyredmem", "--version"], check=True, capture_output=True, text=True
    ).stdout
    assert out.startswith("pyredmem ")
