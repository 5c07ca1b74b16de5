"""LangChain chat message history over a pyredmem thread (`pip install pyredmem[langchain]`).

    history = PyRedMemChatMessageHistory(mem.user("alice").history("chat", ttl=86400))

The thread keeps its own caps (`max_turns`, `max_tokens`, 16 MiB), time to live (sliding
with each write and read) and idempotent appends; `read_last` / `read_max_tokens` bound
what `messages` returns (the newest turns within both, oldest first), so a long
conversation reaches the model within its context. Every method is one pyredmem call:
`add_messages` stores the whole batch atomically, `clear` empties the thread.

How LangChain messages are stored: each becomes a pyredmem `Message` in the OpenAI chat
format (human -> "user", ai -> "assistant", system, tool, function; a `ChatMessage`'s own
role when pyredmem knows it, else "user"), with its content, name, tool_call_id and tool
calls (as OpenAI `function` tool calls), and its LangChain id as the message id (so
adding a message twice stores it once). Whatever else LangChain keeps (its type, the id,
additional_kwargs, response_metadata, usage_metadata, the tool calls as LangChain has them,
...) goes into `metadata["langchain"]`, fields at their default left out, so that reading
gives back an equal message. Turns written by other pyredmem code (no such metadata) are
read through LangChain's own OpenAI-format conversion, with the pyredmem id as their id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

try:
    from langchain_core.chat_history import BaseChatMessageHistory
    from langchain_core.messages import (
        AIMessage,
        BaseMessage,
        ChatMessage,
        FunctionMessage,
        HumanMessage,
        SystemMessage,
        ToolMessage,
        convert_to_messages,
        message_to_dict,
        messages_from_dict,
    )
except ImportError as exc:  # pragma: no cover - the extra is installed wherever tests run
    from ._require import missing

    raise missing("langchain-core", "langchain") from exc

from .._async.history import AsyncHistory
from .._ops.message import MAX_ID_BYTES, ROLES, Message
from .._sync.history import History

__all__ = ["PyRedMemChatMessageHistory", "from_langchain", "to_langchain"]

#: the metadata key holding what LangChain keeps beyond the OpenAI chat format
META_KEY = "langchain"

_ROLES: tuple[tuple[type[BaseMessage], str], ...] = (
    (HumanMessage, "user"),
    (AIMessage, "assistant"),
    (SystemMessage, "system"),
    (ToolMessage, "tool"),
    (FunctionMessage, "function"),
)


class PyRedMemChatMessageHistory(BaseChatMessageHistory):
    """A LangChain `BaseChatMessageHistory` kept in a pyredmem thread.

    `history` is a thread handle: a `History` (from `Memory`) serves the sync methods and,
    through LangChain's executor, the async ones; an `AsyncHistory` (from `AsyncMemory`)
    serves the async methods natively, and its sync methods raise TypeError. `read_last`
    and `read_max_tokens` bound what `messages` / `aget_messages` return (None: no bound).
    """

    def __init__(
        self,
        history: History | AsyncHistory,
        *,
        read_last: int | None = None,
        read_max_tokens: int | None = None,
    ) -> None:
        if not isinstance(history, (History, AsyncHistory)):
            raise TypeError(
                f"expected a pyredmem History or AsyncHistory, not {type(history).__name__}"
            )
        self.history = history
        self.read_last = read_last
        self.read_max_tokens = read_max_tokens

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.history!r}>"

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]  # an attribute there
        """The newest turns within `read_last` and `read_max_tokens`, oldest first."""
        found = self._sync().messages(last=self.read_last, max_tokens=self.read_max_tokens)
        return [to_langchain(m) for m in found]

    async def aget_messages(self) -> list[BaseMessage]:
        """As `messages`."""
        h = self.history
        if isinstance(h, History):
            return await super().aget_messages()
        found = await h.messages(last=self.read_last, max_tokens=self.read_max_tokens)
        return [to_langchain(m) for m in found]

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append `messages` in order, in one atomic call (ids already there are skipped)."""
        self._sync().extend([from_langchain(m) for m in messages])

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """As `add_messages`."""
        h = self.history
        if isinstance(h, History):
            await super().aadd_messages(messages)
        else:
            await h.extend([from_langchain(m) for m in messages])

    def clear(self) -> None:
        """Remove every turn (the thread stays listed in its scope)."""
        self._sync().clear()

    async def aclear(self) -> None:
        """As `clear`."""
        h = self.history
        if isinstance(h, History):
            await super().aclear()
        else:
            await h.clear()

    def _sync(self) -> History:
        h = self.history
        if isinstance(h, AsyncHistory):
            raise TypeError(
                "this history wraps an AsyncHistory: use aget_messages / aadd_messages / "
                "aclear, or give it a History from a sync Memory"
            )
        return h


def from_langchain(message: BaseMessage) -> Message:
    """A LangChain message as the pyredmem `Message` that stores it (see the module
    docstring); `to_langchain` gives back an equal message."""
    if not isinstance(message, BaseMessage):
        raise TypeError(f"expected a LangChain BaseMessage, not {type(message).__name__}")
    dumped = message_to_dict(message)
    data: dict[str, Any] = dumped["data"]
    fields = type(message).model_fields
    kept: dict[str, Any] = {"type": dumped["type"]}
    for name, value in data.items():
        if name in ("content", "type"):
            continue
        field = fields.get(name)
        if field is not None and not field.is_required():
            if value == field.get_default(call_default_factory=True):
                continue
        kept[name] = value
    role = "user"
    for cls, mapped in _ROLES:
        if isinstance(message, cls):
            role = mapped
            break
    else:
        if isinstance(message, ChatMessage) and message.role in ROLES:
            role = message.role
    tool_calls = None
    if isinstance(message, AIMessage) and message.tool_calls:
        tool_calls = [
            {
                "id": call.get("id"),
                "type": "function",
                "function": {"name": call["name"], "arguments": json.dumps(call["args"])},
            }
            for call in message.tool_calls
        ]
    content: Any = message.content
    mid = message.id
    extra: dict[str, Any] = {}
    if isinstance(mid, str) and mid and len(mid.encode("utf-8", "replace")) <= MAX_ID_BYTES:
        extra["id"] = mid
    return Message(
        role,
        content,
        name=message.name,
        metadata={META_KEY: kept},
        tool_call_id=message.tool_call_id if isinstance(message, ToolMessage) else None,
        tool_calls=tool_calls,
        **extra,
    )


def to_langchain(message: Message) -> BaseMessage:
    """A stored turn as a LangChain message: the one `from_langchain` stored, or, for a turn
    written by other pyredmem code, LangChain's reading of its OpenAI chat format."""
    kept = message.metadata.get(META_KEY)
    if isinstance(kept, dict) and isinstance(kept.get("type"), str):
        data = {k: v for k, v in kept.items() if k != "type"}
        data["content"] = message.content
        return messages_from_dict([{"type": kept["type"], "data": data}])[0]
    openai = message.to_dict()
    if openai["content"] is None:
        openai["content"] = ""
    (converted,) = convert_to_messages([openai])
    if converted.id is None:
        converted.id = message.id
    return converted
