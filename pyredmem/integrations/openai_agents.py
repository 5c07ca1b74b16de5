"""An OpenAI Agents SDK session over a pyredmem thread (`pip install pyredmem[openai-agents]`).

    session = PyRedMemSession(mem.user("alice").history("agent", ttl=86400))
    await Runner.run(agent, "Hi", session=session)

It implements the SDK's `Session` protocol: `get_items(limit)`, `add_items`, `pop_item` and
`clear_session`, each one pyredmem call. `add_items` stores the batch atomically;
`pop_item` is `history.pop()`, so two workers popping at once never get the same item. The
thread keeps its caps (`max_turns`, `max_tokens`, 16 MiB: the oldest items go first),
sliding time to live and change events.

How items are stored: the SDK's items are dicts (its Responses input format: messages,
function calls and their outputs, reasoning, ...), and each becomes one pyredmem `Message`
that other pyredmem code can read in the OpenAI chat format, while the item itself comes
back exactly (same keys, same order, same values):

- a message item (`role` user, assistant, system or developer; `type` "message" or none):
  that role ("developer" is stored as "system" where pyredmem has no such role), its
  `content` (a string or a list of parts) as the content;
- a `function_call`: role "assistant", no content, one OpenAI tool call (its `call_id`,
  `name` and `arguments`);
- a `function_call_output`: role "tool", its `output` as the content, `call_id` as the
  tool_call_id;
- any other item (reasoning, hosted tool calls, ...): role "assistant", empty content.

A turn written by other pyredmem code reads as the items closest to it (`to_items`): a
message item of its role and content, a tool turn a function_call_output, and an assistant
turn with tool calls one function_call per call (after a message item of its content, when
it has any). `get_items(limit)` counts items, not turns: it returns the newest `limit`
items, which may start inside such a turn.

The item itself is kept in `metadata["openai_agents"]`, with the one field moved into the
content (`content` or `output`) left there as None and named by `metadata["moved"]`, so
that the text is stored once and the history's token counter counts it. Message ids are
always new random ids, not the items' own `id`s (some model adapters give every item the
same placeholder id), so appending an item twice stores it twice, as the SDK expects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

try:
    from agents.items import TResponseInputItem
    from agents.memory import SessionSettings
except ImportError as exc:  # pragma: no cover - the extra is installed wherever tests run
    from ._require import missing

    raise missing("openai-agents", "openai-agents") from exc

from .._async.history import AsyncHistory
from .._errors import InvalidValueError
from .._ops.message import ROLES, Message
from .._sync.history import History

__all__ = ["PyRedMemSession", "from_item", "to_items"]

#: the metadata keys of a stored item, and of the field moved into the content
META_KEY = "openai_agents"
MOVED_KEY = "moved"

_MESSAGE_ROLES = {
    "user": "user",
    "assistant": "assistant",
    "system": "system",
    "developer": "developer" if "developer" in ROLES else "system",
}


class PyRedMemSession:
    """An OpenAI Agents SDK `Session` kept in a pyredmem thread.

    `history` is a thread handle: an `AsyncHistory` (from `AsyncMemory`) is awaited
    directly; a `History` (from `Memory`, as with `Runner.run_sync`) runs in a worker
    thread. `session_id` defaults to the thread's id. `session_settings.limit` is the
    default `limit` of `get_items`; `read_max_tokens` (None: no bound) also bounds what
    `get_items` returns, to the newest items within that many tokens of the thread's
    counter.
    """

    session_id: str
    session_settings: SessionSettings | None

    def __init__(
        self,
        history: History | AsyncHistory,
        *,
        session_id: str | None = None,
        session_settings: SessionSettings | None = None,
        read_max_tokens: int | None = None,
    ) -> None:
        if not isinstance(history, (History, AsyncHistory)):
            raise TypeError(
                f"expected a pyredmem History or AsyncHistory, not {type(history).__name__}"
            )
        self.history = history
        self.session_id = history.thread_id if session_id is None else session_id
        self.session_settings = session_settings or SessionSettings()
        self.read_max_tokens = read_max_tokens

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.session_id!r} {self.history!r}>"

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The newest `limit` items (default: `session_settings.limit`; None: all), oldest
        first, within `read_max_tokens` when set. `limit` counts items: a turn that reads as
        several (see `to_items`) may be cut, its newest items kept."""
        if limit is None and self.session_settings is not None:
            limit = self.session_settings.limit
        if limit is not None and limit <= 0:
            return []  # as the SDK's own sessions answer
        h, budget = self.history, self.read_max_tokens
        if isinstance(h, AsyncHistory):
            found = await h.messages(last=limit, max_tokens=budget)
        else:
            found = await asyncio.to_thread(h.messages, last=limit, max_tokens=budget)
        items = [item for m in found for item in to_items(m)]
        return items if limit is None else items[-limit:]

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append `items` in order, in one atomic call."""
        if not items:
            return
        messages = [from_item(item) for item in items]
        h = self.history
        if isinstance(h, AsyncHistory):
            await h.extend(messages)
        else:
            await asyncio.to_thread(h.extend, messages)

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove and return the newest item (None when there is none), atomically. The
        newest turn goes whole: when it reads as several items (see `to_items`), the last
        of them is returned."""
        h = self.history
        popped = await h.pop() if isinstance(h, AsyncHistory) else await asyncio.to_thread(h.pop)
        return None if popped is None else to_items(popped)[-1]

    async def clear_session(self) -> None:
        """Remove every item (the thread stays listed in its scope)."""
        h = self.history
        if isinstance(h, AsyncHistory):
            await h.clear()
        else:
            await asyncio.to_thread(h.clear)


def from_item(item: TResponseInputItem) -> Message:
    """An Agents SDK item as the pyredmem `Message` that stores it (see the module
    docstring); `to_items` gives the item back."""
    if not isinstance(item, Mapping):
        raise InvalidValueError(f"an Agents SDK item is a dict, not {type(item).__name__}")
    kept = dict(item)
    kind, role = kept.get("type"), kept.get("role")
    moved: str | None = None
    content: Any = ""
    message_role = "assistant"
    tool_call_id = tool_calls = None
    if kind in (None, "message") and role in _MESSAGE_ROLES:
        message_role = _MESSAGE_ROLES[role]
        moved = "content"
    elif kind == "function_call":
        content = None
        tool_calls = [
            {
                "id": kept.get("call_id"),
                "type": "function",
                "function": {"name": kept.get("name"), "arguments": kept.get("arguments")},
            }
        ]
    elif kind == "function_call_output":
        message_role, moved = "tool", "output"
        call_id = kept.get("call_id")
        tool_call_id = call_id if isinstance(call_id, str) else None
    if moved is not None:
        value = kept.get(moved)
        if isinstance(value, (str, list)):
            content, kept[moved] = value, None
        else:
            moved = None  # left in the item, stored once there
    metadata: dict[str, Any] = {META_KEY: kept}
    if moved is not None:
        metadata[MOVED_KEY] = moved
    return Message(
        message_role,
        content,
        metadata=metadata,
        tool_call_id=tool_call_id,
        tool_calls=tool_calls,
    )


def to_items(message: Message) -> list[TResponseInputItem]:
    """A stored turn as Agents SDK items: the one item `from_item` stored, or, for a turn
    written by other pyredmem code, a message item of its role and content; a tool turn
    becomes a function_call_output, and an assistant turn with tool calls one function_call
    per call, after a message item of its content when it has any."""
    kept = message.metadata.get(META_KEY)
    if isinstance(kept, dict):
        item = dict(kept)
        moved = message.metadata.get(MOVED_KEY)
        if isinstance(moved, str):
            item[moved] = message.content
        return [cast(TResponseInputItem, item)]
    content = message.content if message.content is not None else ""
    if message.role == "tool":
        out = {"type": "function_call_output", "call_id": message.tool_call_id, "output": content}
        return [cast(TResponseInputItem, out)]
    role = message.role if message.role in ("user", "assistant", "system", "developer") else "user"
    said = cast(TResponseInputItem, {"role": role, "content": content})
    tool_calls = (message.tool_calls or []) if role == "assistant" else []
    calls = [call for c in tool_calls if (call := _function_call(c)) is not None]
    if not calls:
        return [said]
    return [said, *calls] if content else calls


def _function_call(call: object) -> TResponseInputItem | None:
    """An OpenAI chat tool call as a function_call item (None: not a function call)."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(call, dict) or not isinstance(function, dict):
        return None
    out = {
        "type": "function_call",
        "call_id": call.get("id"),
        "name": function.get("name"),
        "arguments": function.get("arguments"),
    }
    return cast(TResponseInputItem, out)
