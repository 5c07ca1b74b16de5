"""`pyredmem watch`: events printed one per line, or as JSON, on every engine."""

from __future__ import annotations

import json

import pytest

from pyredmem import Memory, Message
from pyredmem.__main__ import main


def test_watch_prints_events_as_lines_and_json(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with Memory(url, events="values", tenant="cli") as mem:
        mem.workflow("refund-1").set("status", "approved")
        mem.workflow("refund-1").history("log").append(Message.user("done"))
        mem.workflow("other").set("status", "ignored")  # not matched below
        mem.user("alice").set("status", "not a workflow")
    common = ["--url", url, "--tenant", "cli", "--after", "0", "--timeout", "1"]
    assert main(["watch", "workflow:refund-*", *common]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert " workflow:refund-1 value status set " in lines[0]
    assert " workflow:refund-1 thread log append " in lines[1]
    assert main(["watch", "workflow:refund-*", *common, "--json", "--values"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["scope"], r["target"], r["op"], r["key"]) for r in rows] == [
        ("workflow:refund-1", "value", "set", "status"),
        ("workflow:refund-1", "thread", "append", "log"),
    ]
    assert rows[0]["value"] == "approved" and rows[1]["value"]["content"] == "done"
    assert main(["watch", "workflow:*", *common, "--keys", "stat*", "--json"]) == 0
    scopes = {json.loads(line)["scope"] for line in capsys.readouterr().out.splitlines()}
    assert scopes == {"workflow:refund-1", "workflow:other"}


def test_watch_shows_a_fact_event_with_its_predicate(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with Memory(url, events=True, tenant="cli") as mem:
        mem.user("alice").facts.add("alice", "lives_in", "Tokyo")
    args = ["--url", url, "--tenant", "cli", "--after", "0", "--timeout", "1", "--json"]
    assert main(["watch", "user:alice", *args]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["target"], r["op"], r["key"], r.get("predicate")) for r in rows] == [
        ("fact", "add", "alice", "lives_in")
    ]


def test_watch_rejects_a_bad_pattern(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "nokind:x", "--timeout", "0.1"]) == 1
    assert "watch pattern" in capsys.readouterr().err
