"""`pyredmem demo`: a short tour of scoped memory, printed as it runs."""

from __future__ import annotations

import datetime as dt
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._ambient import current
from ._ops.message import Message
from ._sync.memory import Memory

_SECRETS = (b"hunter2", b"4242", b"carol")


def _vault(url: str, key: bytes) -> Memory:
    return Memory(url, namespace="demo", tenant="vault", encryption_key=key, encrypt_names=True)


def _show(label: str, value: Any) -> None:
    print(f"   {label:<44} -> {value!r}")


def run_demo(url: str = "memory://demo") -> None:
    where = "the embedded store (memory://: fakeredis + lupa, in this process)"
    if not url.startswith("memory://"):
        where = url
    print(f"pyredmem demo on {where}\n")
    with Memory(url, namespace="demo", tenant="acme") as mem:
        for scope in (
            mem.user("alice"),
            mem.user("bob"),
            mem.session("s-42"),
            mem.global_scope,
            mem.workflow("refund-123"),
            mem.run("run-1"),
        ):
            scope.clear()  # start clean when pointed at a real server
            scope.facts.clear()

        print("1. Per-user preferences (one atomic script call each)")
        alice = mem.user("alice")
        alice.set("prefs", {"language": "fr", "tone": "concise"})
        _show('user:alice set "prefs"', alice.get("prefs"))
        _show('user:bob get "prefs" (never set)', mem.user("bob").get("prefs", "defaults"))

        print("\n2. Onboarding progress: counters and read-modify-write that never lose updates")
        steps = ["connect-calendar", "invite-team", "first-agent"]

        def complete(step: str) -> None:
            alice.update("onboarding", lambda s: {**s, step: True}, default={})
            alice.incr("onboarding_steps_done")

        with ThreadPoolExecutor(len(steps)) as pool:  # three writers at once
            list(pool.map(complete, steps))
        _show("after 3 concurrent updates: onboarding", alice.get("onboarding"))
        _show("onboarding_steps_done", alice.get("onboarding_steps_done"))

        print("\n3. Session data with a TTL")
        session = mem.session("s-42")
        session.set("cart", ["book"], ttl=0.3)
        _show("session:s-42 ttl of cart (s)", round(session.ttl("cart") or 0, 1))
        time.sleep(0.35)
        _show("0.35 s later, get cart", session.get("cart"))
        _show("keys() no longer lists it", session.keys())

        print("\n4. Global feature flags, overridden per user via a context lookup")
        mem.global_scope.set_many({"beta_search": False, "model": "small"})
        alice.set("beta_search", True)
        ctx = mem.context(user="alice", session="s-42")
        _show("alice's context: beta_search", ctx.get("beta_search"))
        _show("bob's context: beta_search", mem.context(user="bob").get("beta_search"))
        found = ctx.resolve("model")
        _show(
            "resolve 'model' (which scope answered)",
            (str(found.scope), found.value) if found else None,
        )

        print("\n5. Multi-agent workflow state shared through context()")
        planner = mem.context(workflow="refund-123", run="run-1", user="alice")
        planner.set("plan", ["check order", "refund", "notify"], scope="workflow")
        planner.set("status", "planning")  # the most specific bound scope: run
        executor = mem.context(workflow="refund-123", run="run-1", step="refund")
        _show("executor sees the planner's plan", executor.get("plan"))
        executor.set("status", "refunded", scope="run")
        _show("planner sees the executor's status", planner.get("status"))
        _show("workflow:refund-123 keys", mem.workflow("refund-123").keys())

        print("\n6. Tenants never see each other's data")
        with Memory(url, namespace="demo", tenant="globex") as other:
            _show("tenant globex: user:alice get prefs", other.user("alice").get("prefs"))

        print("\n7. A chat turn in one call (its context within a token budget), and a batch")
        chat = alice.history("support", max_turns=100)
        chat.clear()
        chat.append(Message.system("You are a concise support agent."))
        turn = chat.append(Message.user("Where is my order?"), read_last=20, read_max_tokens=2000)
        _show("append + the model's context, one call", [m.role for m in turn.context])
        with mem.batch() as b:
            prefs = b.user("alice").get("prefs")
            flag = b.context(user="bob").get("beta_search")
            turns = b.on(chat).count()
        _show("batch: prefs, bob's flag, turns", (prefs.result(), flag.result(), turns.result()))

        print("\n8. Facts that change over time, and what was believed when")
        facts = alice.facts
        tokyo = facts.add("alice", "lives_in", "Tokyo", valid_from=dt.date(2024, 1, 1))
        facts.add("alice", "lives_in", "Osaka", valid_from=dt.date(2024, 6, 1), source="chat")
        _show("lives_in now", facts.get("alice", "lives_in"))
        _show("lives_in, as of May 2024", facts.get("alice", "lives_in", as_of=dt.date(2024, 5, 1)))
        known = facts.get("alice", "lives_in", known_at=tokyo.recorded_from)
        _show("lives_in now, as believed before the move", known)
        with mem.bind(user="alice", session="s-42"):  # a tool reads the ambient context
            _show("current().facts.about('alice')", current().facts.about("alice"))
        notes = alice.recall  # semantic recall: found by meaning, scored on the client
        notes.clear()
        notes.add_many(["Allergic to peanuts", "Plays the cello on Sundays", "Window seats"])
        _show(
            "recall: 'when does she play music?'", notes.search("when does she play music?")[0].text
        )

    print("\n9. Change events: one agent watches another's writes, and a near cache")
    with Memory(url, namespace="demo", tenant="acme", events=True) as mem:
        refund = mem.workflow("refund-123")
        with mem.watch("workflow:refund-*", keys="status", timeout=5) as updates:
            refund.set("status", "approved")  # the executor (any process)
            event = next(iter(updates))  # the planner hears of it
            _show("planner's watch: scope, key, op", (event.scope, event.key, event.op))
        replica = Memory(url, namespace="demo", tenant="acme", events=True)
        with replica:
            here = mem.cache("prices", ttl=60, near=True)
            there = replica.cache("prices", ttl=60, near=True)
            here.set("EUR", 1.08)
            there.get("EUR")  # fetched once
            _show("the other replica's near cache: EUR", there.get("EUR"))
            here.set("EUR", 1.09)  # the event drops the other replica's copy
            deadline = time.monotonic() + 2
            while there.get("EUR") != 1.09 and time.monotonic() < deadline:
                time.sleep(0.001)
            _show("after a reprice elsewhere: EUR", there.get("EUR"))
            _show("served from the process (hits)", (there.near_stats() or {}).get("hits"))
        _show("replay: workflow:refund-123 changes", [e.op for e in refund.changes()][-2:])

    print("\n10. Encryption at rest, and one call to forget a user")
    key = os.urandom(32)  # in production: from a secret manager
    with _vault(url, key) as mem:
        carol = mem.user("carol@example.com")
        carol.set("card", "4242 4242 4242 4242")
        carol.history("support").append(Message.user("my password is hunter2"))
        _show("carol's card, read back", carol.get("card"))
        raw = b"".join(
            k + (mem.client.dump(k) or b"") for k in mem.client.scan_iter("demo:{vault:*")
        )
        _show("'hunter2', '4242' or 'carol' in Redis", any(w in raw for w in _SECRETS))
        with _vault(url, os.urandom(32)) as other:
            _show("another key looks her up", other.user("carol@example.com").get("card"))
        _show("carol.erase()", carol.erase())

    print("\n11. A rate limit that denies, then recovers; a cache stampede computed once")
    with Memory(url, namespace="demo", tenant="acme") as mem:
        api = mem.limiter("demo-api", "3/second", algorithm="fixed")
        api.reset("alice")
        decisions = [api.hit("alice") for _ in range(4)]
        _show("4 calls in a 3/second window: allowed", [d.allowed for d in decisions])
        _show("the 4th may retry in (s)", round(decisions[-1].retry_after, 1))
        time.sleep(decisions[-1].retry_after + 0.05)
        _show("after waiting it out: allowed", api.hit("alice").allowed)
        quotes = mem.cache("quotes", ttl=60)
        quotes.delete("EURUSD")
        computed = []

        def price() -> float:  # a slow upstream call, e.g. a model or an API
            computed.append(1)
            time.sleep(0.2)
            return 1.0842

        with ThreadPoolExecutor(8) as pool:  # 8 callers miss the cache at once
            got = list(pool.map(lambda _: quotes.get_or_compute("EURUSD", price), range(8)))
        _show("8 concurrent callers got", sorted(set(got)))
        _show("times the upstream was called", len(computed))

    print("\nDone. Each operation above was one call of a function inside the store (update:")
    print("a read, then a compare-and-set). The same code runs on Redis, Valkey or a cluster:")
    print("Memory('redis://localhost:6379'), or pyredmem demo --url redis://localhost:6379")
