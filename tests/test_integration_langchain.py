"""The LangChain adapter (pyredmem.integrations.langchain) against langchain-core itself: its
`BaseChatMessageHistory` interface (sync and async), messages of every kind round-tripped,
the thread's caps, token budget and time to live, and `RunnableWithMessageHistory` with
langchain-core's fake chat model keeping one conversation across two processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    get_buffer_string,
)
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda
from langchain_core.runnables.history import RunnableWithMessageHistory

from pyredmem import AsyncMemory, Memory, Message
from pyredmem.integrations.langchain import (
    PyRedMemChatMessageHistory,
    from_langchain,
    to_langchain,
)
from tests.counting import count_replies
from tests.engines import Server

ROOT = Path(__file__).resolve().parent.parent

# LangChain deprecated RunnableWithMessageHistory (for LangGraph's persistence) but ships and
# documents it still: the tests that build one say so
RWMH_DEPRECATED = pytest.mark.filterwarnings(
    "ignore::langchain_core._api.deprecation.LangChainDeprecationWarning"
)


def _every_kind() -> list[BaseMessage]:
    return [
        SystemMessage("You are terse.", id="s1"),
        SystemMessage("Prefer metric units.", additional_kwargs={"__openai_role__": "developer"}),
        HumanMessage("What is 2 + 2? Use the tool.", name="ada"),
        AIMessage(
            "",
            id="run-1",
            tool_calls=[{"name": "add", "args": {"a": 2, "b": 2}, "id": "call-1"}],
            usage_metadata={"input_tokens": 12, "output_tokens": 7, "total_tokens": 19},
            response_metadata={"model_name": "fake", "finish_reason": "tool_calls"},
        ),
        ToolMessage("4", tool_call_id="call-1", artifact={"raw": [4]}, status="success"),
        FunctionMessage("4", name="add"),
        AIMessage("It is 4.", additional_kwargs={"refusal": None}),
        ChatMessage("Looks right.", role="critic"),
        HumanMessage(
            [
                {"type": "text", "text": "And this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ]
        ),
        AIMessageChunk("a chunk, stored as it is"),
    ]


def test_it_is_a_langchain_chat_message_history(mem: Memory) -> None:
    history = PyRedMemChatMessageHistory(mem.user("ada").history("chat"))
    assert isinstance(history, BaseChatMessageHistory)
    assert not PyRedMemChatMessageHistory.__abstractmethods__
    with pytest.raises(TypeError):
        PyRedMemChatMessageHistory(mem.user("ada"))  # type: ignore[arg-type]


def test_every_kind_of_message_round_trips(mem: Memory) -> None:
    history = PyRedMemChatMessageHistory(mem.user("ada").history("chat"))
    sent = _every_kind()
    history.add_messages(sent)
    got = history.messages
    assert got == sent
    assert [type(m) for m in got] == [type(m) for m in sent]
    assert str(history) == get_buffer_string(sent)


def test_stored_turns_are_openai_format_messages(mem: Memory) -> None:
    thread = mem.user("ada").history("chat")
    PyRedMemChatMessageHistory(thread).add_messages(_every_kind()[2:5])
    human, ai, tool = (m.to_dict() for m in thread.messages())
    assert human == {"role": "user", "content": "What is 2 + 2? Use the tool.", "name": "ada"}
    assert ai == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call-1",
                "type": "function",
                "function": {"name": "add", "arguments": json.dumps({"a": 2, "b": 2})},
            }
        ],
    }
    assert tool == {"role": "tool", "content": "4", "tool_call_id": "call-1"}
    assert thread.messages()[1].id == "run-1"  # LangChain's id is the message id


def test_turns_written_by_pyredmem_read_as_langchain_messages(mem: Memory) -> None:
    thread = mem.user("ada").history("chat")
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}
    thread.extend(
        [
            Message.system("be brief"),
            Message.user("hi", id="u1"),
            Message.assistant(None, tool_calls=[call], id="a1"),
            Message.tool("done", tool_call_id="c1"),
        ]
    )
    system, human, ai, tool = PyRedMemChatMessageHistory(thread).messages
    assert isinstance(system, SystemMessage) and system.content == "be brief"
    assert isinstance(human, HumanMessage) and (human.content, human.id) == ("hi", "u1")
    assert isinstance(ai, AIMessage) and ai.tool_calls[0]["args"] == {"x": 1}
    assert isinstance(tool, ToolMessage) and tool.tool_call_id == "c1"


def test_the_base_class_conveniences_go_through_add_messages(mem: Memory) -> None:
    history = PyRedMemChatMessageHistory(mem.user("ada").history("chat"))
    history.add_user_message("hello")
    history.add_ai_message("hi there")
    history.add_message(SystemMessage("note"))
    assert [(type(m).__name__, m.content) for m in history.messages] == [
        ("HumanMessage", "hello"),
        ("AIMessage", "hi there"),
        ("SystemMessage", "note"),
    ]
    history.clear()
    assert history.messages == []
    assert mem.user("ada").thread_count() == 1  # cleared, still listed


def test_a_batch_is_one_call_and_a_message_id_is_stored_once(mem: Memory) -> None:
    history = PyRedMemChatMessageHistory(mem.user("ada").history("chat"))
    history.add_messages([HumanMessage("warm up")])
    batch = [HumanMessage("a", id="h1"), AIMessage("b", id="a1"), HumanMessage("c", id="h2")]
    with count_replies() as counter:
        history.add_messages(batch)
    assert counter.replies == 1
    history.add_messages(batch[1:])  # a retry: nothing stored twice
    assert [m.content for m in history.messages] == ["warm up", "a", "b", "c"]


def test_the_thread_caps_budget_and_ttl_apply(mem: Memory) -> None:
    thread = mem.user("ada").history("chat", max_turns=4, ttl=3600)
    history = PyRedMemChatMessageHistory(thread, read_max_tokens=20)
    history.add_messages([HumanMessage(f"turn {i}: " + "x" * 20) for i in range(6)])
    assert len(thread) == 4  # max_turns: the oldest went
    # each turn is 4 + 29/4 rounded up = 12 tokens: a budget of 20 reads the newest one
    assert [m.content for m in history.messages] == ["turn 5: " + "x" * 20]
    assert [m.content[:6] for m in PyRedMemChatMessageHistory(thread, read_last=3).messages] == [
        "turn 3",
        "turn 4",
        "turn 5",
    ]
    ttl = thread.ttl()
    assert ttl is not None and 3500 < ttl <= 3600


def test_async_methods_over_an_async_history(url: str) -> None:
    async def main() -> None:
        async with AsyncMemory(url) as amem:
            history = PyRedMemChatMessageHistory(amem.user("ada").history("chat"))
            sent = _every_kind()
            await history.aadd_messages(sent)
            assert await history.aget_messages() == sent
            with pytest.raises(TypeError, match="aget_messages"):
                history.messages  # noqa: B018
            with pytest.raises(TypeError):
                history.add_messages(sent)
            with pytest.raises(TypeError):
                history.clear()
            await history.aclear()
            assert await history.aget_messages() == []

    asyncio.run(main())


def test_async_methods_over_a_sync_history(mem: Memory) -> None:
    history = PyRedMemChatMessageHistory(mem.user("ada").history("chat"))

    async def main() -> list[BaseMessage]:
        await history.aadd_messages([HumanMessage("hi"), AIMessage("hello")])
        got = await history.aget_messages()
        await history.aclear()
        return got

    assert [m.content for m in asyncio.run(main())] == ["hi", "hello"]
    assert history.messages == []


def test_conversion_refuses_what_is_not_a_message() -> None:
    with pytest.raises(TypeError):
        from_langchain({"role": "user", "content": "hi"})  # type: ignore[arg-type]
    assert to_langchain(from_langchain(HumanMessage("hi", id="x"))) == HumanMessage("hi", id="x")


# ----------------------------------------------------------- RunnableWithMessageHistory


def _chain(url_or_mem: Any, replies: list[str], seen: list[list[BaseMessage]]) -> Any:
    """A chat chain with langchain-core's fake model, its history in pyredmem."""
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You remember people."), MessagesPlaceholder("history"), ("human", "{q}")]
    )

    def tap(value: Any) -> Any:
        seen.append(value.to_messages())
        return value

    model = GenericFakeChatModel(messages=iter([AIMessage(r) for r in replies]))
    mem = url_or_mem if isinstance(url_or_mem, (Memory, AsyncMemory)) else Memory(url_or_mem)
    return RunnableWithMessageHistory(
        prompt | RunnableLambda(tap) | model,
        lambda session_id: PyRedMemChatMessageHistory(
            mem.user("ada").history(session_id, max_turns=100, ttl=86400)
        ),
        input_messages_key="q",
        history_messages_key="history",
    )


@RWMH_DEPRECATED
def test_a_chain_keeps_its_conversation(mem: Memory) -> None:
    seen: list[list[BaseMessage]] = []
    chain = _chain(mem, ["Hello Ada!", "You are Ada."], seen)
    config = {"configurable": {"session_id": "s-1"}}
    assert chain.invoke({"q": "Hi, I am Ada."}, config=config).content == "Hello Ada!"
    assert chain.invoke({"q": "Who am I?"}, config=config).content == "You are Ada."
    assert [m.content for m in seen[1]] == [
        "You remember people.",
        "Hi, I am Ada.",
        "Hello Ada!",
        "Who am I?",
    ]


@RWMH_DEPRECATED
def test_a_chain_keeps_its_conversation_with_asyncio(url: str) -> None:
    async def main() -> list[list[BaseMessage]]:
        seen: list[list[BaseMessage]] = []
        async with AsyncMemory(url) as amem:
            chain = _chain(amem, ["Hello Ada!", "You are Ada."], seen)
            config = {"configurable": {"session_id": "s-1"}}
            await chain.ainvoke({"q": "Hi, I am Ada."}, config=config)
            await chain.ainvoke({"q": "Who am I?"}, config=config)
        return seen

    seen = asyncio.run(main())
    assert [m.content for m in seen[1]][1:] == ["Hi, I am Ada.", "Hello Ada!", "Who am I?"]


@RWMH_DEPRECATED
def test_a_chain_keeps_its_conversation_across_processes(server: Server) -> None:
    url = f"redis://127.0.0.1:{server.port}"

    def turn(question: str, reply: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-W", "ignore", "-m", __name__, url, question, reply],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return list(json.loads(done.stdout))

    assert turn("Hi, I am Ada.", "Hello Ada!") == ["You remember people.", "Hi, I am Ada."]
    # a new process: the model sees the first process's turns, read from Redis
    assert turn("Who am I?", "You are Ada.") == [
        "You remember people.",
        "Hi, I am Ada.",
        "Hello Ada!",
        "Who am I?",
    ]
    with Memory(url) as mem:
        stored = mem.user("ada").history("s-1").messages()
    assert [(m.role, m.content) for m in stored] == [
        ("user", "Hi, I am Ada."),
        ("assistant", "Hello Ada!"),
        ("user", "Who am I?"),
        ("assistant", "You are Ada."),
    ]


def _one_turn(url: str, question: str, reply: str) -> None:
    """A process's turn of the conversation: prints what the model was given."""
    seen: list[list[BaseMessage]] = []
    with Memory(url) as mem:
        chain = _chain(mem, [reply], seen)
        answer = chain.invoke({"q": question}, config={"configurable": {"session_id": "s-1"}})
        assert answer.content == reply
    print(json.dumps([m.content for m in seen[0]]))


if __name__ == "__main__":
    _one_turn(*sys.argv[1:4])
