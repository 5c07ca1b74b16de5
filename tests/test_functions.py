"""The scripts as one Redis Functions library: loaded on first use, again after anything
that drops it, side by side with another version's, and EVALSHA where FUNCTION is refused."""

from __future__ import annotations

import logging
import re

import pytest
import redis

from pyredmem import Memory, Message
from pyredmem._dialect import is_missing, is_refusal
from pyredmem._scripts import LIBRARY, SCRIPTS, code_only, library, lua_dir, prelude_blocks
from tests.engines import Engine, Server


def _flush_functions(engine: Engine, mem: Memory) -> None:
    if engine.real:
        for server in engine.servers:
            client = engine.admin(server)
            client.execute_command("FUNCTION", "FLUSH")
            client.close()
    else:
        mem.client.execute_command("FUNCTION", "FLUSH")


def _libraries(client: redis.Redis) -> set[str]:
    return {
        (lib.get(b"library_name") or lib.get("library_name")).decode()  # type: ignore[union-attr]
        for lib in (dict(zip(e[::2], e[1::2], strict=True)) for e in client.function_list())
    }


def test_every_operation_survives_a_function_flush(engine: Engine, mem: Memory) -> None:
    user = mem.user("u")
    user.set("k", 1)
    chat = user.history("t")
    chat.append(Message.user("hi"))
    limiter = mem.limiter("api", limit=5, period=3600, algorithm="fixed")
    limiter.hit("alice")
    for round in (1, 2):  # each time the library is gone, the next call loads it again
        _flush_functions(engine, mem)
        assert user.get("k") == round  # a read (FCALL_RO) first
        _flush_functions(engine, mem)
        assert user.incr("k") == round + 1
        _flush_functions(engine, mem)
        chat.append(Message.user("again"))
        _flush_functions(engine, mem)
        assert limiter.peek("alice").remaining == 4  # a writing script's read-only twin
        assert len(chat.messages()) == 1 + round


@pytest.mark.real_server
@pytest.mark.standalone
def test_the_library_is_registered_under_its_content_hash(engine: Engine, mem: Memory) -> None:
    mem.user("u").set("k", 1)
    raw = engine.raw_client()
    try:
        if engine.name == "evalsha":  # FCALL refused: the scripts run with EVALSHA
            assert mem._runner._dialect.functions is False
            assert LIBRARY.name not in _libraries(raw)
            return
        assert LIBRARY.name in _libraries(raw)
        # another version's library (other content, so another name) loads beside it
        other_name, other = library({"ping": ("return 1\n-- Flags: no-writes", "no-writes")}, {})
        assert other_name != LIBRARY.name
        raw.execute_command("FUNCTION", "LOAD", other)
        assert {LIBRARY.name, other_name} <= _libraries(raw)
        assert mem.user("u").get("k") == 1
        assert raw.execute_command("FCALL_RO", f"{other_name}_ping", 0) == 1
    finally:
        raw.close()


def test_a_restart_without_persistence_is_transparent(server: Server) -> None:
    with Memory(f"redis://127.0.0.1:{server.port}") as mem:
        mem.user("u").set("k", "v")
        server.stop()
        server.start()  # same port, empty: no data, no functions
        assert mem.user("u").get("k") is None
        mem.user("u").set("k", "w")
        assert mem.user("u").get("k") == "w"


def test_a_server_refusing_functions_gets_evalsha(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    admin = redis.Redis(port=server.port)
    admin.acl_setuser(
        "nofn",
        enabled=True,
        passwords=["+pw"],
        keys=["*"],
        commands=["+@all", "-function", "-fcall", "-fcall_ro"],
    )
    url = f"redis://nofn:pw@127.0.0.1:{server.port}"
    with caplog.at_level(logging.WARNING, logger="pyredmem"), Memory(url) as mem:
        user = mem.user("u")
        user.set("k", 1)
        assert user.incr("k") == 2 and user.get("k") == 2
        assert mem.limiter("api", limit=5, period=60).peek("x").remaining == 5
        assert mem._runner._dialect.functions is False
    refusals = [r for r in caplog.records if "refuses Redis Functions" in r.getMessage()]
    assert len(refusals) == 1  # said once
    stats = admin.info("commandstats")
    assert "cmdstat_fcall" not in stats or stats["cmdstat_fcall"].get("failed_calls", 0) <= 1
    assert int(stats["cmdstat_evalsha"]["calls"]) >= 2
    admin.close()


def test_error_recognition_reads_only_fixed_server_replies() -> None:
    from redis import exceptions as rx

    assert is_missing(rx.ResponseError("Function not found"))
    assert not is_missing(rx.ResponseError("PM_FULL scope holds its maximum of 3 keys"))
    assert is_refusal(rx.NoPermissionError("this user has no permissions to run 'fcall'"))
    assert is_refusal(rx.ResponseError("unknown command 'FCALL', with args beginning with: "))
    assert not is_refusal(rx.ResponseError("Function not found"))


def test_the_prelude_scan_ignores_comments() -> None:
    assert code_only("local a = 'x -- y' -- clock\nlocal b = \"--\" --[ fmt_int") == (
        "local a = 'x -- y' \nlocal b = \"--\" "
    )
    blocks = prelude_blocks((lua_dir() / "_prelude.lua").read_text(encoding="utf-8"))
    # the hand-inlined limiter scripts name helpers only in comments: they ship with none
    for name in ("limiter_hit_gcra", "limiter_hit_fixed"):
        source = SCRIPTS[name].source
        shipped = [b for b in blocks if re.search(rf"^local (?:function )?{b}\b", source, re.M)]
        assert shipped == [], (name, shipped)


def test_every_script_is_a_function_of_the_library() -> None:
    for script in SCRIPTS.values():
        assert script.function == f"{LIBRARY.name}_{script.name}"
        assert f"function_name='{script.function}'" in LIBRARY.source
        if script.readonly:
            assert script.function_ro == script.function
        else:
            assert f"function_name='{script.function_ro}'" in LIBRARY.source


@pytest.mark.real_server
def test_the_cli_loads_the_library_on_every_primary(
    engine: Engine, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pyredmem.__main__ import main

    for server in engine.servers:
        engine.admin(server).execute_command("FUNCTION", "FLUSH")
    if engine.name == "evalsha":  # its default user may not: the CLI says so
        assert main(["load-functions", url]) == 1
        assert "ACL" in capsys.readouterr().err
        return
    assert main(["load-functions", url]) == 0
    assert f"library {LIBRARY.name}" in capsys.readouterr().out
    for server in engine.servers:
        assert LIBRARY.name in _libraries(engine.admin(server))


def test_the_cli_says_when_the_server_is_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    from pyredmem.__main__ import main

    assert main(["load-functions", "redis://127.0.0.1:1"]) == 1
    assert "unreachable" in capsys.readouterr().err
