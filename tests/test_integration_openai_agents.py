"""The OpenAI Agents SDK adapter (pyredmem.integrations.openai_agents) against the SDK itself:
its `Session` protocol, items of every kind round-tripped exactly, `pop_item` atomic, the
thread's caps and budget, and a `Runner` with a scripted fake model (the SDK's `Model`
interface, canned responses, no network) keeping its session across runs, storing the same
items as the SDK's own SQLiteSession."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from agents import Agent, ModelResponse, RunConfig, Runner, Usage, function_tool
from agents.memory import Session, SessionSettings, SQLiteSession
from agents.models.interface import Model
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

from pyredmem import AsyncMemory, Memory, Message
from pyredmem.integrations.openai_agents import PyRedMemSession, from_item, to_items
from tests.counting import count_replies

RUN = RunConfig(tracing_disabled=True)  # no trace export: no network, no API key

ITEMS: list[Any] = [
    {"role": "user", "content": "Hi, I'm Ada. Weather in Paris?"},
    {"role": "developer", "content": "Answer in one line."},
    {"role": "system", "content": "You are helpful."},
    {
        "type": "message",
        "role": "user",
        "content": [
            {"type": "input_text", "text": "and this picture"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
        ],
    },
    {
        "id": "rs_1",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "look it up"}],
        "encrypted_content": None,
    },
    {
        "arguments": '{"city": "Paris"}',
        "call_id": "call_1",
        "name": "get_weather",
        "type": "function_call",
        "id": "fc_1",
        "status": "completed",
    },
    {"call_id": "call_1", "output": "sunny, 21 C", "type": "function_call_output"},
    {
        "call_id": "call_2",
        "output": [{"type": "input_text", "text": "a list output"}],
        "type": "function_call_output",
    },
    {
        "id": "msg_1",
        "content": [
            {
                "annotations": [],
                "text": "Sunny in Paris, Ada.",
                "type": "output_text",
                "logprobs": [],
            }
        ],
        "role": "assistant",
        "status": "completed",
        "type": "message",
    },
    {"id": "__fake_id__", "type": "message", "role": "assistant", "content": "same id, kept"},
    {"id": "__fake_id__", "type": "message", "role": "assistant", "content": "same id, kept"},
    {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": None},
    {"type": "item_reference", "id": "msg_0"},
]


def _keys_in_order(items: list[Any]) -> list[list[str]]:
    return [list(item) for item in items]


def test_it_is_an_agents_session(mem: Memory) -> None:
    session = PyRedMemSession(mem.user("ada").history("agent"))
    assert isinstance(session, Session)  # the SDK's runtime-checkable protocol
    assert session.session_id == "agent"
    assert PyRedMemSession(mem.user("ada").history("agent"), session_id="s").session_id == "s"
    with pytest.raises(TypeError):
        PyRedMemSession(mem.user("ada"))  # type: ignore[arg-type]


def test_items_of_every_kind_round_trip_exactly(url: str) -> None:
    async def main() -> list[Any]:
        async with AsyncMemory(url) as amem:
            session = PyRedMemSession(amem.user("ada").history("agent"))
            await session.add_items(copy.deepcopy(ITEMS))
            return await session.get_items()

    got = asyncio.run(main())
    assert got == ITEMS
    assert _keys_in_order(got) == _keys_in_order(ITEMS)
    assert json.dumps(got) == json.dumps(ITEMS)


def test_stored_turns_read_in_the_openai_chat_format(mem: Memory) -> None:
    thread = mem.user("ada").history("agent")
    asyncio.run(PyRedMemSession(thread).add_items(copy.deepcopy(ITEMS[:7])))
    got = [m.to_dict() for m in thread.messages()]
    assert got[0] == {"role": "user", "content": "Hi, I'm Ada. Weather in Paris?"}
    assert got[1]["role"] in ("developer", "system")
    assert got[4] == {"role": "assistant", "content": ""}  # reasoning: kept in metadata
    assert got[5] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    assert got[6] == {"role": "tool", "content": "sunny, 21 C", "tool_call_id": "call_1"}
    # the text is stored once: in the content, not again in the kept item
    stored = thread.messages()[0]
    assert stored.metadata == {
        "openai_agents": {"role": "user", "content": None},
        "moved": "content",
    }


def test_turns_written_by_pyredmem_read_as_items(mem: Memory) -> None:
    thread = mem.user("ada").history("agent")
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    thread.extend(
        [
            Message.user("hi"),
            Message.assistant(None, tool_calls=[call]),
            Message.tool("done", tool_call_id="c1"),
            Message.assistant("ok"),
        ]
    )
    items = asyncio.run(PyRedMemSession(thread).get_items())
    assert items == [
        {"role": "user", "content": "hi"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "done"},
        {"role": "assistant", "content": "ok"},
    ]


def test_an_assistant_turn_reads_as_one_function_call_per_tool_call(mem: Memory) -> None:
    """An assistant turn with several tool calls (written by other pyredmem code) reads as
    a function_call item per call, after a message item of its content when it has any, so
    that every function_call_output that follows has its call. `limit` counts items, and
    `pop_item` removes the turn whole, returning its last item."""
    thread = mem.user("u").history("t")
    calls = [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
        {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
    ]
    thread.append({"role": "assistant", "content": "Two lookups.", "tool_calls": calls})
    thread.append({"role": "assistant", "content": None, "tool_calls": calls})
    thread.append({"role": "tool", "content": "r1", "tool_call_id": "c1"})
    thread.append({"role": "tool", "content": "r2", "tool_call_id": "c2"})
    session = PyRedMemSession(thread)
    items = asyncio.run(session.get_items())
    f = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
    g = {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"}
    assert items == [
        {"role": "assistant", "content": "Two lookups."},
        f,
        g,
        f,
        g,
        {"type": "function_call_output", "call_id": "c1", "output": "r1"},
        {"type": "function_call_output", "call_id": "c2", "output": "r2"},
    ]
    assert asyncio.run(session.get_items(limit=3)) == items[-3:]
    assert asyncio.run(session.get_items(limit=6)) == items[-6:]
    thread.pop()  # the two tool turns
    thread.pop()
    assert asyncio.run(session.pop_item()) == g  # the turn of two calls, whole
    assert asyncio.run(session.get_items()) == items[:3]


def test_limit_pop_and_clear(url: str) -> None:
    async def main() -> None:
        async with AsyncMemory(url) as amem:
            session = PyRedMemSession(amem.user("ada").history("agent"))
            assert await session.get_items() == [] and await session.pop_item() is None
            items = [{"role": "user", "content": str(i)} for i in range(5)]
            await session.add_items(items)
            await session.add_items([])  # nothing to store: no call
            assert await session.get_items(limit=2) == items[3:]
            assert await session.get_items(limit=0) == []
            assert await session.pop_item() == items[4]
            assert await session.pop_item() == items[3]
            assert await session.get_items() == items[:3]
            await session.clear_session()
            assert await session.get_items() == []
            settled = PyRedMemSession(
                amem.user("ada").history("agent"), session_settings=SessionSettings(limit=1)
            )
            await settled.add_items(items)
            assert await settled.get_items() == items[4:]
            assert await settled.get_items(limit=3) == items[2:]

    asyncio.run(main())


def test_each_operation_is_one_call(url: str) -> None:
    async def main() -> list[int]:
        counts = []
        async with AsyncMemory(url) as amem:
            session = PyRedMemSession(amem.user("ada").history("agent"))
            await session.add_items(copy.deepcopy(ITEMS))  # warm: connect, load scripts
            await session.pop_item()
            await session.get_items()
            await session.clear_session()
            for op in (
                lambda: session.add_items(copy.deepcopy(ITEMS)),
                lambda: session.get_items(limit=3),
                session.pop_item,
                session.clear_session,
            ):
                with count_replies() as counter:
                    await op()
                counts.append(counter.replies)
        return counts

    assert asyncio.run(main()) == [1, 1, 1, 1]


def test_concurrent_pops_take_each_item_once(url: str) -> None:
    items = [{"role": "user", "content": str(i)} for i in range(40)]
    with Memory(url) as mem:
        asyncio.run(PyRedMemSession(mem.user("ada").history("agent")).add_items(items))
    taken: list[Any] = []
    lock = threading.Lock()

    def worker() -> None:
        async def drain() -> None:
            async with AsyncMemory(url) as amem:
                session = PyRedMemSession(amem.user("ada").history("agent"))
                while (item := await session.pop_item()) is not None:
                    with lock:
                        taken.append(item["content"])

        asyncio.run(drain())

    workers = [threading.Thread(target=worker) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(taken, key=int) == [str(i) for i in range(40)]


def test_the_thread_caps_and_budget_apply(mem: Memory) -> None:
    thread = mem.user("ada").history("agent", max_turns=3, ttl=600)
    session = PyRedMemSession(thread, read_max_tokens=12)
    items = [{"role": "user", "content": f"item {i}: " + "x" * 20} for i in range(5)]
    asyncio.run(session.add_items(items))
    assert len(thread) == 3
    assert asyncio.run(session.get_items()) == items[4:]  # 12 tokens each
    assert asyncio.run(PyRedMemSession(thread).get_items(limit=2)) == items[3:]
    ttl = thread.ttl()
    assert ttl is not None and 590 < ttl <= 600


def test_conversion_refuses_what_is_not_an_item() -> None:
    from pyredmem import InvalidValueError

    with pytest.raises(InvalidValueError):
        from_item("hi")  # type: ignore[arg-type]
    for item in ITEMS:
        assert to_items(from_item(copy.deepcopy(item))) == [item]


# ------------------------------------------------------------------------- a Runner


class ScriptedModel(Model):
    """The SDK's Model interface with canned responses, one per call, in order; it records
    the input of each call."""

    def __init__(self, outputs: list[list[Any]]) -> None:
        self.outputs = list(outputs)
        self.inputs: list[list[Any]] = []

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[Any],
        model_settings: Any,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: Any,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: Any,
    ) -> ModelResponse:
        given = [{"role": "user", "content": input}] if isinstance(input, str) else input
        self.inputs.append(copy.deepcopy(list(given)))
        return ModelResponse(output=self.outputs.pop(0), usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError("the scripted model does not stream")


def _say(text: str, item_id: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id=item_id,
        type="message",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(text=text, type="output_text", annotations=[])],
    )


def _call(name: str, arguments: dict[str, Any], call_id: str) -> ResponseFunctionToolCall:
    return ResponseFunctionToolCall(
        id=f"fc_{call_id}",
        call_id=call_id,
        type="function_call",
        name=name,
        arguments=json.dumps(arguments),
    )


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def _script() -> list[list[Any]]:
    return [
        [_call("get_weather", {"city": "Paris"}, "call_1")],  # run 1: the tool, then an answer
        [_say("It is sunny in Paris, Ada.", "msg_1")],
        [_say("You are Ada, and you asked about Paris.", "msg_2")],  # run 2
    ]


def _agent(model: ScriptedModel) -> Agent[Any]:
    return Agent(name="assistant", instructions="Be brief.", model=model, tools=[get_weather])


async def _two_runs(first: Any, second: Any) -> tuple[ScriptedModel, list[str]]:
    """Two runs of one conversation, each with its own session object (`first`, `second`:
    sessions over the same store), as two requests of a web app would."""
    model = ScriptedModel(_script())
    one = await Runner.run(
        _agent(model), "Hi, I'm Ada. Weather in Paris?", session=first, run_config=RUN
    )
    two = await Runner.run(_agent(model), "Who am I?", session=second, run_config=RUN)
    return model, [str(one.final_output), str(two.final_output)]


def test_a_runner_keeps_its_session_across_runs(url: str) -> None:
    async def main() -> tuple[ScriptedModel, list[str], list[Any], list[Any]]:
        async with AsyncMemory(url) as a, AsyncMemory(url) as b:
            first = PyRedMemSession(a.user("ada").history("agent", ttl=3600))
            second = PyRedMemSession(b.user("ada").history("agent", ttl=3600))
            model, answers = await _two_runs(first, second)
            stored = await second.get_items()
        # the SDK's own session, run the same way, stores the same items
        reference = SQLiteSession("agent")
        _, same = await _two_runs(reference, reference)
        assert same == answers
        return model, answers, stored, await reference.get_items()

    model, answers, stored, reference = asyncio.run(main())
    assert answers == ["It is sunny in Paris, Ada.", "You are Ada, and you asked about Paris."]
    # the second run's model call saw the first run's items, read back from the store
    seen = model.inputs[2]
    assert [item.get("type", "message") for item in seen] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
        "message",
    ]
    assert seen[0]["content"] == "Hi, I'm Ada. Weather in Paris?"
    assert seen[2]["output"] == "sunny in Paris" and seen[-1]["content"] == "Who am I?"
    assert stored == reference
    assert len(stored) == 6


@pytest.fixture
def own_loop() -> Iterator[None]:
    """Runner.run_sync runs on the thread's default event loop and leaves it open: the test
    gives it one, and closes it."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


@pytest.mark.usefixtures("own_loop")
def test_a_runner_with_a_sync_memory(mem: Memory) -> None:
    model = ScriptedModel(_script())
    session = PyRedMemSession(mem.user("ada").history("agent"))
    Runner.run_sync(
        _agent(model), "Hi, I'm Ada. Weather in Paris?", session=session, run_config=RUN
    )
    result = Runner.run_sync(_agent(model), "Who am I?", session=session, run_config=RUN)
    assert result.final_output == "You are Ada, and you asked about Paris."
    assert len(model.inputs[2]) == 5
    assert len(mem.user("ada").history("agent")) == 6
    # pop_item undoes the last answer; the next run's model call no longer sees it
    popped = asyncio.get_event_loop().run_until_complete(session.pop_item())
    assert popped is not None and popped["role"] == "assistant"
    assert len(mem.user("ada").history("agent")) == 5
