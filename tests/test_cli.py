"""The operator command line on every engine: `ls`, `get`/`set`/`rm`/`ttl`, `history
show|tail [-f]`, `threads`, `limits show`, `cache stats`, `facts`, `recall`, `stats`, with
--json, tenants and encrypted memories, its exit codes (2: usage or configuration, 1: a
failure) and no traceback. The CLI runs in this process (`main(argv)`, on the test's
memory://NAME for the embedded store); `tail -f` also as a process of its own, following a
writer process."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pyredmem import Keyring, Memory, Message
from pyredmem.__main__ import main

Run = Callable[..., tuple[int, str, str]]
ROOT = Path(__file__).resolve().parent.parent
KEY = bytes(range(32))


def rows(text: str) -> list[list[str]]:
    """A table's lines split on runs of two spaces (headers first)."""
    return [[c.strip() for c in line.split("  ") if c.strip()] for line in text.splitlines()]


def fill(url: str) -> None:
    with Memory(url) as mem:
        alice = mem.user("alice")
        alice.set("prefs", {"language": "fr", "tone": "concise"})
        alice.set("plan", "pro", ttl=3600)
        alice.incr("logins")
        chat = alice.history("support")
        chat.append(Message.system("You are a support agent."))
        chat.append(Message.user("My order has not arrived.", tokens=9))
        chat.append(Message.assistant("Let me look.\nOne moment."))
        alice.history("billing").append(Message.user("Charged twice?"))
        mem.user("bob").set("prefs", {"language": "en"})
        mem.global_scope.set("model", "small")
        mem.cache("prices", ttl=600).set("EUR", 1.08)
        mem.cache("profile", ttl=600, scope=alice).set("card", {"last4": "4242"})
        mem.limiter("chat", limit=10, period=3600).hit("alice")
    with Memory(url, tenant="acme") as mem:
        mem.user("carol").set("role", "admin")


# ---------------------------------------------------------------------------- ls


def test_ls_lists_tenants_kinds_ids_and_keys(url: str, cli: Run) -> None:
    fill(url)
    code, out, _ = cli("ls")
    assert code == 0
    assert rows(out) == [
        ["TENANT", "KIND", "INSTANCES", "KEYS"],
        ["-", "user", "2", "10"],
        ["-", "global", "1", "2"],
        ["-", "cache", "2", "4"],
        ["-", "limits", "1", "1"],
        ["acme", "user", "1", "2"],
    ]
    code, out, _ = cli("ls", "--tenant", "acme", "--json")
    assert json.loads(out) == [{"tenant": "acme", "kind": "user", "instances": 1, "keys": 2}]

    code, out, _ = cli("ls", "user")
    assert rows(out) == [
        ["ID", "VALUES", "THREADS", "REDIS KEYS"],
        ["alice", "3", "2", "8"],
        ["bob", "1", "0", "2"],
    ]
    code, out, _ = cli("ls", "global", "--json")
    assert json.loads(out) == [{"id": "-", "values": 1, "threads": 0, "keys": 2}]

    code, out, _ = cli("ls", "user", "alice", "--values")
    assert rows(out)[0] == ["KEY", "EXPIRES IN", "VALUE"]
    assert rows(out)[1:] == [
        ["logins", "never", "1"],
        ["plan", rows(out)[2][1], "pro"],
        ["prefs", "never", '{"language": "fr", "tone": "concise"}'],
    ]
    assert rows(out)[2][1].startswith("59m ")
    code, out, _ = cli("ls", "user", "alice", "--json")
    listed = json.loads(out)
    assert [r["key"] for r in listed] == ["logins", "plan", "prefs"]
    assert listed[0]["ttl"] is None and 3500 < listed[1]["ttl"] <= 3600

    code, out, err = cli("ls", "session")
    assert (code, out, err) == (0, "", "no session scopes\n")
    code, out, err = cli("ls", "--namespace", "other")
    assert code == 0 and "no keys of namespace 'other'" in err


# ---------------------------------------------------------------------- values


def test_get_set_rm_ttl(url: str, cli: Run) -> None:
    assert cli("set", "user", "alice", "name", "Alice Liddell") == (
        0,
        "set user:alice name\n",
        "",
    )
    code, out, _ = cli("set", "user", "alice", "prefs", '{"n": [1, 2]}', "--json-value")
    assert code == 0
    code, out, _ = cli("set", "session", "s1", "cart", "[1]", "--json-value", "--ttl", "60")
    assert out == "set session:s1 cart (expires in 60 s)\n"
    with Memory(url) as mem:
        assert mem.user("alice").get("prefs") == {"n": [1, 2]}
        assert mem.user("alice").get("name") == "Alice Liddell"
    assert cli("get", "user", "alice", "name")[1] == "Alice Liddell\n"
    assert cli("get", "user", "alice", "prefs")[1] == '{"n": [1, 2]}\n'
    code, out, _ = cli("get", "user", "alice", "prefs", "--json")
    assert json.loads(out) == {"scope": "user:alice", "key": "prefs", "value": {"n": [1, 2]}}
    assert cli("set", "global", "-", "model", "small")[0] == 0
    assert cli("get", "global", "-", "model")[1] == "small\n"

    code, out, _ = cli("ttl", "session", "s1", "cart")
    assert code == 0 and out.startswith("expires in ") and out.endswith(" s)\n")
    assert cli("ttl", "user", "alice", "name")[1] == "never expires\n"
    code, out, _ = cli("ttl", "session", "s1", "cart", "--json")
    assert 59 < json.loads(out)["ttl"] <= 60

    assert cli("rm", "user", "alice", "name") == (0, "deleted user:alice name\n", "")
    code, out, err = cli("rm", "user", "alice", "name")
    assert (code, err) == (1, "pyredmem: user:alice has no key 'name'\n")
    code, out, err = cli("get", "user", "alice", "name")
    assert (code, out, err) == (1, "", "pyredmem: user:alice has no key 'name'\n")
    code, _, err = cli("ttl", "user", "alice", "name")
    assert code == 1 and err.startswith("pyredmem: ")

    # usage and configuration: exit 2, one line, nothing written
    assert cli("get", "planet", "mars", "k")[0] == 2
    code, _, err = cli("get", "global", "x", "k")
    assert (code, err) == (2, "pyredmem: the global scope has no id: write '-', not 'x'\n")
    assert cli("set", "user", "a{b}", "k", "v")[0] == 2
    code, _, err = cli("set", "user", "alice", "k", "{nope", "--json-value")
    assert code == 2 and "VALUE is not JSON" in err
    assert cli("set", "user", "alice", "k", "v", "--ttl", "-1")[0] == 2
    assert cli("get", "user", "alice", "k", url_="nope://host")[0] == 2
    with Memory(url) as mem:
        assert mem.user("alice").keys() == ["prefs"]


def test_a_server_that_cannot_be_reached_is_a_failure(cli: Run) -> None:
    code, out, err = cli("get", "user", "alice", "k", url_="redis://127.0.0.1:1")
    assert code == 1 and out == "" and err.startswith("pyredmem: ")


@pytest.mark.parametrize("query", ["db=abc", "foo=bar"])
def test_a_bad_url_option_is_a_configuration_error(cli: Run, query: str) -> None:
    """A redis:// URL whose query option has a bad value, or is no option at all, is a
    configuration error (exit 2, one line), not a traceback."""
    code, out, err = cli("get", "user", "alice", "k", url_=f"redis://127.0.0.1:1/0?{query}")
    assert code == 2 and out == "" and err.startswith("pyredmem: bad URL")
    assert len(err.splitlines()) == 1


# --------------------------------------------------------------------- history


def test_history_show_tail_and_threads(url: str, cli: Run) -> None:
    fill(url)
    with Memory(url) as mem:
        mem.user("alice").history("support").append(
            Message.assistant(
                None,
                tool_calls=[
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "find_order", "arguments": '{"id": 7}'},
                    }
                ],
            )
        )
        mem.user("alice").history("support").append(Message.tool("shipped", tool_call_id="c1"))
    code, out, _ = cli("history", "show", "user", "alice", "support")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 6
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"  # UTC
    assert re.fullmatch(rf"{stamp}  system      +\d+  You are a support agent\.", lines[0])
    assert "user" in lines[1] and "    9  My order has not arrived." in lines[1]
    assert lines[2].endswith("Let me look.")
    assert lines[3].strip() == "One moment."  # under the first line's text
    assert lines[3].index("One") == lines[2].index("Let")
    assert lines[4].endswith('-> find_order({"id": 7})')
    assert lines[5].endswith("<- c1: shipped")

    code, out, _ = cli("history", "show", "user", "alice", "support", "--last", "2", "--json")
    turns = json.loads(out)
    assert [t["role"] for t in turns] == ["assistant", "tool"]
    assert turns[1]["content"] == "shipped" and turns[1]["tokens"] > 0
    assert turns[1]["created_at"] > 1.7e9 and turns[0]["tool_calls"][0]["id"] == "c1"

    code, out, _ = cli("history", "tail", "user", "alice", "support", "-n", "1")
    assert out.count("\n") == 1 and out.endswith("<- c1: shipped\n")
    code, out, _ = cli("history", "tail", "user", "alice", "billing", "--json")
    assert [json.loads(line)["content"] for line in out.splitlines()] == ["Charged twice?"]
    code, out, err = cli("history", "show", "user", "alice", "nothing")
    assert (code, out) == (0, "") and "holds no turns" in err

    code, out, _ = cli("threads", "user", "alice")
    table = rows(out)
    assert table[0] == ["THREAD", "TURNS", "LAST WRITE (UTC)", "EXPIRES IN"]
    assert [(r[0], r[1], r[3]) for r in table[1:]] == [
        ("support", "5", "never"),
        ("billing", "1", "never"),
    ]
    code, out, _ = cli("threads", "user", "alice", "--json", "--limit", "1")
    (only,) = json.loads(out)
    assert only["thread"] == "support" and only["turns"] == 5 and only["expires_at"] is None


def test_history_tail_follows_new_turns(url: str, cli: Run) -> None:
    with Memory(url) as mem:
        chat = mem.user("alice").history("support")
        chat.append(Message.user("first"))

        def write() -> None:
            time.sleep(0.3)
            chat.append(Message.assistant("second"))
            chat.append(Message.user("third"))

        writer = threading.Thread(target=write)
        writer.start()
        argv = ["history", "tail", "user", "alice", "support", "-f", "--timeout", "0.8"]
        code, out, _ = cli(*argv, "--json")
        writer.join()
    assert code == 0
    assert [json.loads(line)["content"] for line in out.splitlines()] == [
        "first",
        "second",
        "third",
    ]


WRITER = """
import sys, time
from pyredmem import Memory, Message
with Memory(sys.argv[1]) as mem:
    chat = mem.user("alice").history("support")
    for n in range(3):
        time.sleep(0.4)
        chat.append(Message.user(f"turn {n}"))
"""


@pytest.mark.real_server
def test_tail_f_shows_a_turn_appended_by_another_process_within_a_second(url: str) -> None:
    with Memory(url) as mem:
        mem.user("alice").history("support").append(Message.system("hello"))
    argv = ["history", "tail", "user", "alice", "support", "-f", "--json", "--url", url]
    with subprocess.Popen(
        [sys.executable, "-m", "pyredmem", *argv], stdout=subprocess.PIPE, text=True, cwd=ROOT
    ) as tail:
        assert tail.stdout is not None
        try:
            assert json.loads(tail.stdout.readline())["content"] == "hello"  # following now
            with subprocess.Popen([sys.executable, "-c", WRITER, url], cwd=ROOT) as writer:
                lags = []
                for n in range(3):
                    turn = json.loads(tail.stdout.readline())
                    # created_at is the server's clock, this machine's: the turn's age
                    lags.append(time.time() - turn["created_at"])
                    assert turn["content"] == f"turn {n}"
            assert writer.returncode == 0
        finally:
            tail.terminate()
    assert max(lags) < 1.0, lags


# ------------------------------------------------------------- limits, cache, facts


def test_limits_show_peeks_without_spending(url: str, cli: Run) -> None:
    with Memory(url) as mem:
        per_hour = mem.limiter("chat", limit=10, period=3600)
        for _ in range(3):
            per_hour.hit("alice")
        mem.limiter("daily", limit=5, period=86400, algorithm="fixed").hit("alice", 2)
    common = ["--limit", "10", "--period", "3600"]
    code, out, _ = cli("limits", "show", "chat", "alice", *common)
    assert code == 0
    assert out.splitlines()[0] == "limiter chat for alice (gcra; 10 per 3600 s)"
    assert rows(out)[1][0] == "remaining" and rows(out)[1][1].startswith("7")
    assert rows(out)[3] == ["next hit", "allowed"]
    code, out, _ = cli("limits", "show", "chat", "alice", *common, "--json")
    state = json.loads(out)
    assert state["algorithm"] == "gcra" and state["allowed"] and 6.9 < state["remaining"] < 7.01
    assert 1070 < state["reset_after"] <= 1080
    code, out, _ = cli("limits", "show", "chat", "alice", *common, "--cost", "8", "--json")
    assert json.loads(out)["allowed"] is False
    code, out, _ = cli("limits", "show", "daily", "alice", "--limit", "5", "--period", "86400")
    assert "(fixed; 5 per 86400 s)" in out and rows(out)[1] == ["remaining", "3 of 5"]
    code, out, _ = cli("limits", "show", "chat", "nobody", *common, "--json")
    assert json.loads(out)["algorithm"] is None and json.loads(out)["remaining"] == 10
    with Memory(url) as mem:  # peeks spent nothing
        assert mem.limiter("chat", limit=10, period=3600).peek("alice").remaining < 7.01
    code, _, err = cli("limits", "show", "chat", "alice")
    assert code == 2 and "--limit and --period" in err


def test_cache_stats(url: str, cli: Run) -> None:
    fill(url)
    with Memory(url) as mem:
        prices = mem.cache("prices", ttl=600)
        prices.set("GBP", 1.27)
        prices.set("JPY", 0.0062)
        mem.cache("profile", ttl=600, scope=mem.user("bob")).set("card", {"last4": "1"})
    code, out, _ = cli("cache", "stats")
    table = rows(out)
    assert table[0] == ["CACHE", "SCOPES", "BUCKETS", "ENTRIES", "MEMORY"]
    assert [r[:2] + r[3:4] for r in table[1:]] == [["prices", "1", "3"], ["profile", "2", "2"]]
    code, out, _ = cli("cache", "stats", "profile", "--json")
    by_scope = json.loads(out)
    assert [(r["scope"], r["entries"], r["buckets"]) for r in by_scope] == [
        ("user:alice", 1, 1),
        ("user:bob", 1, 1),
    ]
    engine_measures = by_scope[0]["memory"] is not None
    assert engine_measures == (not url.startswith("memory://"))
    code, out, err = cli("cache", "stats", "nothing")
    assert (code, out) == (0, "") and "no cache entries of cache 'nothing'" in err


def test_facts(url: str, cli: Run) -> None:
    with Memory(url) as mem:
        facts = mem.user("alice").facts
        facts.add("alice", "lives_in", "Lisbon", valid_from=1_600_000_000, source="chat")
        facts.add("alice", "lives_in", "Porto", valid_from=1_700_000_000)
        facts.add("alice", "speaks", ["fr", "pt"])
    code, out, _ = cli("facts", "user", "alice", "alice")
    assert rows(out) == [["PREDICATE", "OBJECT"], ["lives_in", "Porto"], ["speaks", '["fr", "pt"]']]
    code, out, _ = cli("facts", "user", "alice", "alice", "--as-of", "2022-01-01", "--json")
    assert json.loads(out) == {"subject": "alice", "facts": {"lives_in": "Lisbon"}}
    code, out, _ = cli("facts", "user", "alice", "alice", "--predicate", "lives_in")
    table = rows(out)
    assert table[0] == ["OBJECT", "VALID FROM", "VALID TO", "RECORDED", "SUPERSEDED", "SOURCE"]
    assert [r[0] for r in table[1:]] == ["Lisbon", "Porto", "Lisbon"]
    assert table[1][1] == "2020-09-13 12:26:40" and table[1][-1] == "chat"
    code, out, _ = cli("facts", "user", "alice", "alice", "--predicate", "lives_in", "--json")
    versions = json.loads(out)
    assert versions[1]["object"] == "Porto" and versions[1]["valid_from"].startswith("2023-11-14")
    assert cli("facts", "user", "alice")[:2] == (0, "alice\n")  # the scope's subjects
    assert cli("facts", "user", "alice", "alice", "--as-of", "someday")[0] == 2
    code, out, err = cli("facts", "user", "alice", "bob")
    assert (code, out) == (0, "") and "no facts about 'bob'" in err


@pytest.mark.parametrize(
    "argv",
    [
        ("get", "user", "alice", "token", "--json"),
        ("ls", "user", "alice", "--values", "--json"),
        ("facts", "user", "alice", "alice", "--json"),
        ("facts", "user", "alice", "alice", "--predicate", "token", "--json"),
    ],
)
def test_json_output_is_json_whatever_the_value(url: str, cli: Run, argv: tuple[str, ...]) -> None:
    """The codec's dicts may have bytes keys, and floats may be NaN: still one strict JSON
    document (keys as Python writes them, NaN as "nan"), not a traceback."""
    value = {b"raw": 1, "nan": float("nan"), "inf": [float("-inf")], 3: {b"k": b"x"}}
    with Memory(url) as mem:
        mem.user("alice").set("token", value)
        mem.user("alice").facts.add("alice", "token", value)
    code, out, err = cli(*argv)
    assert (code, err) == (0, "")
    doc = json.loads(out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    text = json.dumps(doc)
    assert "b'raw'" in text and '"nan"' in text and '"-inf"' in text and "b'k'" in text


def test_recall_search_and_info(url: str, cli: Run) -> None:
    with Memory(url) as mem:
        recall = mem.user("alice").recall
        recall.add("Alice is allergic to peanuts", kind="health", id="n1")
        recall.add("Alice plays the cello on Sundays", kind="hobby", id="n2")
    code, out, _ = cli("recall", "search", "user", "alice", "peanut allergy", "-k", "1")
    table = rows(out)
    assert table[0] == ["SCORE", "ID", "KIND", "ADDED (UTC)", "TEXT"]
    assert table[1][1:3] == ["n1", "health"] and table[1][-1] == "Alice is allergic to peanuts"
    code, out, _ = cli(
        "recall", "search", "user", "alice", "cello", "--item-kind", "hobby", "--json"
    )
    (hit,) = json.loads(out)
    assert hit["id"] == "n2" and 0 < hit["score"] <= 1
    code, out, _ = cli("recall", "info", "user", "alice", "--json")
    assert json.loads(out)["count"] == 2
    code, _, err = cli("recall", "search", "user", "alice", "x", "--embedder", "nowhere:Nothing")
    assert code == 2 and "cannot import the embedder" in err


class NeedsArguments:
    """An embedder class that cannot be made with no arguments (an API's, needing a key)."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key


def test_an_embedder_class_that_cannot_be_made_is_a_usage_error(cli: Run) -> None:
    """`--embedder` names an Embedder or a class made with no arguments: one that cannot
    be made so is a usage error (exit 2, one line), not a traceback."""
    argv = ["recall", "search", "user", "alice", "x", "--embedder", f"{__name__}:NeedsArguments"]
    code, out, err = cli(*argv)
    assert code == 2 and out == "" and err.startswith("pyredmem: cannot make the embedder")
    assert len(err.splitlines()) == 1


# ----------------------------------------------------------------------- stats


def test_stats_counts_keys_memory_and_turns(
    url: str, cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(url)
    code, out, _ = cli("stats")
    table = rows(out)
    assert table[0] == ["TENANT", "KIND", "INSTANCES", "KEYS", "MEMORY", "TURNS"]
    assert [r[:4] + r[5:] for r in table[1:]] == [
        ["-", "user", "2", "10", "4"],
        ["-", "global", "1", "2", "0"],
        ["-", "cache", "2", "4", "0"],
        ["-", "limits", "1", "1", "0"],
        ["acme", "user", "1", "2", "0"],
        ["total", "-", "-", "19", "4"],
    ]
    code, out, err = cli("stats", "--json", "--tenant", "acme")
    (acme,) = json.loads(out)
    assert acme["keys"] == 2 and acme["turns"] == 0 and acme["memory_sampled"] is False
    if url.startswith("memory://"):
        assert acme["memory"] is None
    else:
        assert acme["memory"] > 0
    # a large database: a bar on stderr, and memory measured on a sample
    monkeypatch.setattr("pyredmem._cli._census.LARGE", 5)
    monkeypatch.setattr("pyredmem._cli._census.SAMPLE", 4)
    code, out, err = cli("stats", "--json")
    assert code == 0 and "scanning" in err and "measuring" in err
    user = json.loads(out)[0]
    assert user["kind"] == "user" and user["turns"] == 4
    if not url.startswith("memory://"):
        assert user["memory_sampled"] and user["memory"] > 0


# ------------------------------------------------------------------- encryption


def test_an_encrypted_memory_is_read_with_its_keyring(
    url: str, cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = Keyring({"k1": KEY}, primary="k1")
    with Memory(url, encryption_key=ring, encrypt_names=True) as mem:
        alice = mem.user("alice@example.com")
        alice.set("phone", "+351 912 345 678")
        alice.history("support").append(Message.user("my card ends in 4242"))
        mem.cache("profile", ttl=600, scope=alice).set("card", {"last4": "4242"})
    path = tmp_path / "ring.json"
    path.write_text(json.dumps({"primary": "k1", "keys": {"k1": base64.b64encode(KEY).decode()}}))
    sealed = ["--keyring", str(path), "--encrypt-names"]

    code, out, _ = cli("ls", "user")  # without the keyring: the names as stored
    assert code == 0 and "alice" not in out
    code, out, _ = cli("ls", "user", *sealed)
    assert rows(out)[1] == ["alice@example.com", "1", "1", "6"]
    code, out, _ = cli("get", "user", "alice@example.com", "phone", *sealed)
    assert out == "+351 912 345 678\n"
    code, out, _ = cli("history", "show", "user", "alice@example.com", "support", *sealed)
    assert out.endswith("my card ends in 4242\n")
    code, out, _ = cli("threads", "user", "alice@example.com", *sealed, "--json")
    assert [t["thread"] for t in json.loads(out)] == ["support"]
    code, out, _ = cli("cache", "stats", "profile", *sealed, "--json")
    assert json.loads(out)[0]["scope"] == "user:alice@example.com"
    code, out, _ = cli("set", "user", "alice@example.com", "city", "Lisbon", *sealed)
    with Memory(url, encryption_key=ring, encrypt_names=True) as mem:
        assert mem.user("alice@example.com").get("city") == "Lisbon"
        assert not any(b"Lisbon" in (mem.client.dump(k) or b"") for k in mem.client.scan_iter())

    # the keyring from the environment
    monkeypatch.setenv("PYREDMEM_KEYRING", path.read_text())
    code, out, _ = cli("get", "user", "alice@example.com", "phone", "--encrypt-names")
    assert out == "+351 912 345 678\n"
    monkeypatch.delenv("PYREDMEM_KEYRING")

    # the stored names of a memory of encrypted names, read without the key: found, not read
    code, out, _ = cli("ls", "user", "--json")
    (stored,) = json.loads(out)
    code, out, err = cli("ls", "user", stored["id"], "--values")
    assert code == 1 and "pyredmem:" in err
    # a wrong keyring, a missing one, or a bad file: said so
    other = tmp_path / "other.json"
    other.write_text(
        json.dumps({"primary": "k9", "keys": {"k9": base64.b64encode(b"9" * 32).decode()}})
    )
    code, _, err = cli("get", "user", "alice@example.com", "phone", "--keyring", str(path))
    assert code == 1 and err.startswith("pyredmem: ")  # names not encrypted: another scope
    assert cli("ls", "user", "--encrypt-names")[0] == 2
    assert cli("ls", "user", "--keyring", str(tmp_path / "none.json"))[0] == 2
    code, out, err = cli("ls", "user", "--keyring", str(other), "--encrypt-names")
    assert code == 0 and "(name not decrypted)" in out

    # watch and erase read the same options
    code, out, _ = cli("erase", "user", "alice@example.com", "--yes", "--json", *sealed)
    assert code == 0 and json.loads(out)["values"] == 2 and json.loads(out)["cache_entries"] == 1
    assert cli("ls", "--json")[1] == "[]\n"


def test_watch_reads_an_encrypted_memory(url: str, cli: Run, tmp_path: Path) -> None:
    ring = Keyring({"k1": KEY}, primary="k1")
    with Memory(url, encryption_key=ring, encrypt_names=True, events="values") as mem:
        mem.user("alice@example.com").set("phone", "+351 912 345 678")
    path = tmp_path / "ring.json"
    path.write_text(json.dumps({"primary": "k1", "keys": {"k1": base64.b64encode(KEY).decode()}}))
    argv = ["watch", "user:alice@example.com", "--after", "0", "--timeout", "0.5", "--values"]
    code, out, _ = cli(*argv, "--json", "--keyring", str(path), "--encrypt-names")
    (event,) = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and event["scope"] == "user:alice@example.com"
    assert (event["key"], event["value"]) == ("phone", "+351 912 345 678")


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for command in (
        "ls", "get", "set", "rm", "ttl", "history", "threads", "limits", "cache", "facts",
        "recall", "stats", "watch", "erase", "rotate-key", "demo", "load-functions",
    ):  # fmt: skip
        assert f"    {command}" in text


def test_the_module_runs_as_pyredmem() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pyredmem", "ls", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYREDMEM_URL": "memory://"},
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "[]\n", "")


def test_keys_are_named_through_their_owners() -> None:
    """Without a server: the patterns the commands SCAN with, and how keys are sorted."""
    from pyredmem._cli._census import classify
    from pyredmem._keys import Keyspace
    from pyredmem._ops.cache import cache_pattern

    ks = Keyspace("pm", None)
    acme = Keyspace("pm", "acme")
    assert ks.namespace_pattern() == "pm:{*"
    assert acme.kind_pattern("user") == "pm:{acme:user:*"
    assert cache_pattern(acme) == "pm:{acme:cache:*"
    assert cache_pattern(ks, "prices") == "pm:{:cache:prices:*"
    assert ks.tenant_of("pm:{acme:user:a}:h") == "acme"
    assert ks.tenant_of("pm:{:user:a}:h") == ""
    assert ks.tenant_of("other:{acme:user:a}:h") is None
    assert ks.tenant_of("pm:{a b:user:a}:h") is None
    assert ks.plain_label("user:alice") == "user:alice" and ks.plain_label("") == ""

    def found(key: str, any_tenant: bool = True) -> tuple[str, str, str, str | None] | None:
        f = classify(ks, key, any_tenant=any_tenant)
        return None if f is None else (f.tenant, f.kind, f.name, f.thread)

    assert found("pm:{:user:alice}:h") == ("", "user", "alice", None)
    assert found("pm:{acme:user:a:b}:t:chat:1:l") == ("acme", "user", "a:b", "chat:1")
    assert found("pm:{acme:user:a}:t:chat:i") == ("acme", "user", "a", None)
    assert found("pm:{:global:}:x") == ("", "global", "", None)
    assert found("pm:{:cache:prices:user:alice:3}:h") == ("", "cache", "prices", None)
    assert found("pm:{:rl:chat:alice}:g") == ("", "limits", "pm:{:rl:chat:alice}:g", None)
    assert found("pm:{acme:user:a}:h", any_tenant=False) is None
    assert found("other:{:user:a}:h") is None


def test_rotate_key_reads_encrypted_names(url: str, cli: Run, tmp_path: Path) -> None:
    old, new = KEY, bytes(range(32, 64))
    with Memory(url, encryption_key=Keyring({"k1": old}, primary="k1"), encrypt_names=True) as m:
        m.user("alice").set("phone", "+351 912 345 678")
    ring = {"primary": "k2", "names": "k1", "keys": {}}
    ring["keys"] = {"k1": base64.b64encode(old).decode(), "k2": base64.b64encode(new).decode()}
    path = tmp_path / "ring.json"
    path.write_text(json.dumps(ring))
    argv = ["rotate-key", "--keyring", str(path), "--json"]
    code, out, err = cli(*argv)  # the names are not read: nothing can be opened
    assert code == 1 and json.loads(out)["failed"] == 1 and "--encrypt-names" in err
    code, out, _ = cli(*argv, "--encrypt-names")
    assert code == 0 and json.loads(out)["rewritten"] == 1
    both = Keyring({"k2": new, "k1": old}, primary="k2", names="k1")
    with Memory(url, encryption_key=both, encrypt_names=True) as m:
        assert m.user("alice").get("phone") == "+351 912 345 678"


def test_rotate_key_exits_2_on_a_configuration_error(
    cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unusable URL is a configuration error: exit 2 and one line, for rotate-key as
    for every other command."""
    ring = {"primary": "a", "keys": {"a": base64.b64encode(KEY).decode()}}
    monkeypatch.setenv("PYREDMEM_KEYRING", json.dumps(ring))
    for argv in (["erase", "user", "alice", "--yes"], ["rotate-key"]):
        code, _, err = cli(*argv, url_="bogus://nowhere")
        assert code == 2 and err == "pyredmem: unsupported URL scheme 'bogus'\n", argv
