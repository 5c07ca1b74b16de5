"""History rows: append vs RPUSH, and "last 20 turns" vs LRANGE with 20, 200 and 2,000 turns
stored (the raw lists hold the same message bodies). The history side returns decoded
Message objects; the raw side returns bytes (the last rows also decode them). Appends take
Messages made beforehand, as the raw side takes its bytes encoded beforehand.

"Floor" rows, for reference, time what any one-script design pays before doing anything,
sent as pyredmem sends: an empty script called with append's keys and arguments, and a
script that only returns LRANGE -20 -1 of a thread (Redis copies each entry into Lua and
back); and RPUSH itself without redis-py's per-command machinery."""

from __future__ import annotations

import itertools
from typing import Any

from bench.harness import Row, bare
from pyredmem import Memory, Message, MsgpackCodec
from pyredmem._ops import history as ops
from pyredmem._ops._call import Call
from pyredmem._scripts import Script

TEXT = "Could you remind me what we decided about the quarterly report format last week?"
TTL = 3600.0  # a sliding hour: every call also refreshes the thread's expiry


def _body(i: int) -> bytes:
    return MsgpackCodec().encode(["user", f"{TEXT} ({i})"])


def _script(raw: Any, name: str, source: str, *, readonly: bool = False) -> Script:
    """`source` as a Script pyredmem's runner can send: registered as the function
    `pmbench_rows_<name>` of a library of its own (FCALL), and cached for EVALSHA."""
    function = f"pmbench_rows_{name}"
    flags = "{'no-writes'}" if readonly else "{}"
    raw.function_load(
        f"#!lua name={function}\n"
        f"redis.register_function{{function_name='{function}', "
        f"callback=function(KEYS, ARGV) {source} end, flags={flags}}}",
        replace=True,
    )
    sha1 = raw.script_load(source)
    return Script(name, source, sha1, readonly, False, function, function)


def _same(reply: Any) -> Any:
    return reply


def rows(mem: Memory, raw: Any) -> list[Row]:
    scope = mem.user("bench-user")
    out: list[Row] = []
    chat = scope.history("bench-append", max_turns=2000, ttl=TTL)
    payload = _body(0)
    raw.delete("raw:append")
    # both sides get their payload ready-made: the raw side its bytes, ours new Messages
    # (20,000 distinct ids, so each append pushes; an id comes back long after its eviction)
    fresh = itertools.cycle([Message.user(TEXT) for _ in range(20_000)])
    out.append(
        Row(
            "history.append (max_turns=2000)",
            lambda: chat.append(next(fresh)),
            "RPUSH",
            lambda: raw.rpush("raw:append", payload),
            1.25,
        )
    )
    for n in (20, 200, 2000):
        h = scope.history(f"bench-{n}", ttl=TTL)
        h.clear()
        for start in range(0, n, 500):
            h.extend([Message.user(f"{TEXT} ({i})") for i in range(start, min(n, start + 500))])
        key = f"raw:list-{n}"
        raw.delete(key)
        raw.rpush(key, *(_body(i) for i in range(n)))
        out.append(
            Row(
                f"history.messages(last=20), {n} turns",
                lambda h=h: h.messages(last=20),
                "LRANGE -20 -1",
                lambda key=key: raw.lrange(key, -20, -1),
                1.3,
            )
        )
    h2000 = scope.history("bench-2000", ttl=TTL)
    out.append(
        Row(
            "messages(last=20, max_tokens=2000)",
            lambda: h2000.messages(last=20, max_tokens=2000),
            "LRANGE -20 -1",
            lambda: raw.lrange("raw:list-2000", -20, -1),
            1.3,
        )
    )
    # for reference: what a one-script call costs before doing any work, sent as pyredmem
    # sends (its direct lane), and the raw commands sent that way
    append_call = ops.history_append(chat._t, [Message.user(TEXT)], False)
    noop = _script(raw, "noop", "return 1")
    out.append(
        Row(
            "floor: empty script, append's args",
            lambda: mem._runner.run(Call(noop, append_call.keys, append_call.args, _same)),
            "RPUSH",
            lambda: raw.rpush("raw:append", payload),
        )
    )
    out.append(
        Row(
            "floor: RPUSH on a bare connection",
            bare(raw, "RPUSH", "raw:append", payload),
            "RPUSH",
            lambda: raw.rpush("raw:append", payload),
        )
    )
    lrange = _script(raw, "lrange", "return redis.call('LRANGE', KEYS[1], -20, -1)", readonly=True)
    thread_list = h2000._t.keys[:1]
    out.append(
        Row(
            "floor: script returning LRANGE",
            lambda: mem._runner.run(Call(lrange, thread_list, (), _same)),
            "LRANGE -20 -1",
            lambda: raw.lrange("raw:list-2000", -20, -1),
        )
    )
    # for reference: the raw read also decoding its 20 bodies, as any reader must
    codec = MsgpackCodec()
    out.append(
        Row(
            "history.messages(last=20), 2000 turns",
            lambda: h2000.messages(last=20),
            "LRANGE -20 -1 + decode",
            lambda: [codec.decode(b) for b in raw.lrange("raw:list-2000", -20, -1)],
        )
    )
    return out
