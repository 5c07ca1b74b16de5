"""`Message`, one turn of a conversation, and what comes with it: ids, the default token
estimate, and `Appended`, what an append did."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._config import finite
from .._errors import InvalidValueError, shown

__all__ = [
    "EXTRA_FIELDS",
    "OPENAI_FIELDS",
    "ROLES",
    "Appended",
    "AsyncSummarizer",
    "Message",
    "Summarizer",
    "TokenCounter",
    "as_message",
    "estimate_tokens",
    "is_token_count",
]

ROLES = ("system", "developer", "user", "assistant", "tool", "function")

#: the fields of an OpenAI chat message that have a slot of their own in `Message`, in the
#: order `to_dict` writes them
OPENAI_FIELDS = (
    "role",
    "content",
    "name",
    "tool_call_id",
    "tool_calls",
    "function_call",
    "refusal",
    "audio",
    "annotations",
)
#: the fields stored together in a turn's last slot (see `thread.entry_tail`): rare ones,
#: so that the common turn's stored form stays [role, content]
EXTRA_FIELDS = ("function_call", "refusal", "audio", "annotations")


def _new_id() -> str:
    return os.urandom(16).hex()  # 128 random bits, like a uuid4, at a fifth of the cost


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation, with every field of the OpenAI chat format.

    `role` is one of `ROLES`. `content` is a string, or a list of parts for multi-modal
    messages (OpenAI style `{"type": "text", "text": ...}` dicts); it may be None only with
    `tool_calls`, `function_call`, `refusal` or `audio` (an assistant turn), or for a
    "function" turn. `tool_calls` and `annotations` are lists of dicts; `function_call`
    (the deprecated form of tool calls) and `audio` (`{"id": ...}`, a reference to an
    earlier audio reply) are dicts; `refusal` is the text of a refused answer.
    `from_dict` and `to_dict` convert from and to the OpenAI format. `id` is generated when
    not given and makes appends idempotent. `created_at` (seconds since the epoch, server
    clock) is set when the turn is stored. `tokens` overrides the history's token counter
    for this message. `metadata` is yours, stored with the turn.
    """

    role: str
    content: str | list[Any] | None
    name: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=_new_id)
    created_at: float | None = None
    tokens: int | None = None
    tool_call_id: str | None = None
    tool_calls: list[Any] | None = None
    function_call: dict[str, Any] | None = None
    refusal: str | None = None
    audio: dict[str, Any] | None = None
    annotations: list[Any] | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise InvalidValueError(f"unknown role {self.role!r}; expected one of {ROLES}")
        content = self.content
        if content is None:
            if not (
                self.tool_calls
                or self.function_call
                or self.refusal is not None
                or self.audio
                or self.role == "function"
            ):
                raise InvalidValueError(
                    "content may be None only with tool_calls, function_call, refusal or "
                    "audio, or in a function message"
                )
        elif not isinstance(content, (str, list)):
            raise InvalidValueError(
                f"content is a string or a list of parts, not {type(content).__name__}"
            )
        for what, value in (
            ("name", self.name),
            ("tool_call_id", self.tool_call_id),
            ("refusal", self.refusal),
        ):
            if value is not None and not isinstance(value, str):
                raise InvalidValueError(f"{what} is a string, not {type(value).__name__}")
        if not isinstance(self.metadata, dict):
            raise InvalidValueError(f"metadata is a dict, not {type(self.metadata).__name__}")
        if not (
            self.tool_calls is None
            and self.function_call is None
            and self.audio is None
            and self.annotations is None
        ):
            self._check_structured()
        _check_id(self.id)
        if self.tokens is not None and not is_token_count(self.tokens):
            raise InvalidValueError(
                f"tokens must be an integer in [0, 2**53), got {shown(self.tokens)}"
            )
        at = self.created_at
        if at is not None and (
            isinstance(at, bool)
            or not isinstance(at, (int, float))
            or not (finite(at) and 0 <= at < MAX_CREATED_AT)
        ):
            raise InvalidValueError(
                f"created_at is seconds since the epoch in [0, {MAX_CREATED_AT}), got {shown(at)}"
            )

    def _check_structured(self) -> None:
        for what, value in (("tool_calls", self.tool_calls), ("annotations", self.annotations)):
            if value is not None and (
                not isinstance(value, list) or not all(isinstance(x, dict) for x in value)
            ):
                raise InvalidValueError(f"{what} is a list of dicts, got {value!r:.80}")
        fc = self.function_call
        if fc is not None and not (
            isinstance(fc, dict)
            and isinstance(fc.get("name"), str)
            and isinstance(fc.get("arguments"), str)
        ):
            raise InvalidValueError(
                f"function_call is a dict with a name and arguments (strings), got {fc!r:.80}"
            )
        audio = self.audio
        if audio is not None and not (isinstance(audio, dict) and isinstance(audio.get("id"), str)):
            raise InvalidValueError(f"audio is a dict with an id (a string), got {audio!r:.80}")

    def __hash__(self) -> int:  # by id: the generated hash would fail on `metadata`
        return hash(self.id)

    @classmethod
    def system(cls, content: str | list[Any], **kw: Any) -> Message:
        return cls("system", content, **kw)

    @classmethod
    def user(cls, content: str | list[Any], **kw: Any) -> Message:
        return cls("user", content, **kw)

    @classmethod
    def assistant(cls, content: str | list[Any] | None, **kw: Any) -> Message:
        return cls("assistant", content, **kw)

    @classmethod
    def tool(cls, content: str | list[Any], tool_call_id: str, **kw: Any) -> Message:
        return cls("tool", content, tool_call_id=tool_call_id, **kw)

    @classmethod
    def from_dict(
        cls,
        d: Mapping[str, Any],
        *,
        id: str | None = None,
        metadata: dict[str, Any] | None = None,
        tokens: int | None = None,
    ) -> Message:
        """A message from a dict in the OpenAI chat format, of any role ("system",
        "developer", "user", "assistant", "tool", "function") with any of its fields
        (`content` as a string or a list of parts, `name`, `tool_calls`, `tool_call_id`,
        `function_call`, `refusal`, `audio`, `annotations`). A field set to None counts as
        absent; `content` may be absent where it may be None. `id`, `metadata` and `tokens`
        set the fields that are not OpenAI's. Raises InvalidValueError naming the field that
        is unknown or of the wrong type."""
        if not isinstance(d, Mapping):
            raise InvalidValueError(
                f"a message is a Message or a dict in the OpenAI chat format, not "
                f"{type(d).__name__}"
            )
        for key in d:
            if key not in _FROM_DICT:
                raise InvalidValueError(
                    f"unknown field {key!r} in a message dict; the OpenAI chat format has "
                    f"{', '.join(OPENAI_FIELDS)}"
                )
        role = d.get("role")
        if role is None:
            raise InvalidValueError("a message dict needs a role")
        fields = {k: v for k, v in d.items() if v is not None}
        fields["content"] = d.get("content")
        if id is not None:
            fields["id"] = id
        if metadata is not None:
            fields["metadata"] = metadata
        if tokens is not None:
            fields["tokens"] = tokens
        return cls(**fields)

    def to_dict(self) -> dict[str, Any]:
        """The message in the OpenAI chat format: role and content (None for an assistant
        turn with only tool calls), then each other field that is set. A dict `from_dict`
        took comes back equal, unless it left content out or set a field to None."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name is not None:
            out["name"] = self.name
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.tool_calls is not None:
            out["tool_calls"] = self.tool_calls
        if self.function_call is not None:
            out["function_call"] = self.function_call
        if self.refusal is not None:
            out["refusal"] = self.refusal
        if self.audio is not None:
            out["audio"] = self.audio
        if self.annotations is not None:
            out["annotations"] = self.annotations
        return out


_FROM_DICT = frozenset(OPENAI_FIELDS)


def as_message(m: Message | Mapping[str, Any]) -> Message:
    """`m` if it is a Message, else the Message of an OpenAI-format dict (see `from_dict`)."""
    if isinstance(m, Message):
        return m
    return Message.from_dict(m)


MAX_ID_BYTES = 1024
MAX_CREATED_AT = 2**52 / 1000  # seconds: the scripts' "never" in ms


def _check_id(mid: object) -> None:
    if type(mid) is str and 0 < len(mid) <= MAX_ID_BYTES and mid.isascii():
        return  # the common case (generated ids), decided without encoding
    if not isinstance(mid, str) or not mid:
        raise InvalidValueError(f"message ids are non-empty strings, got {mid!r}")
    try:
        size = len(mid.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidValueError("message ids must be valid UTF-8 text") from exc
    if size > MAX_ID_BYTES:
        raise InvalidValueError(f"message ids are at most {MAX_ID_BYTES} bytes")


def is_token_count(n: object) -> bool:
    return type(n) is int and 0 <= n < 2**53  # the scripts add token counts as doubles


TokenCounter = Callable[[Message], int]
Summarizer = Callable[[list[Message]], "str | Message"]
AsyncSummarizer = Callable[[list[Message]], "str | Message | Awaitable[str | Message]"]

_PER_MESSAGE = 4  # role and separators, as chat formats count them
_PER_NON_TEXT_PART = 85  # an image part at low detail


def estimate_tokens(message: Message) -> int:
    """A cheap token estimate: 4 per message, plus one per 4 characters of text (content,
    name, tool calls), plus 85 per non-text part. Pass an exact counter (e.g. tiktoken's)
    to `history(..., counter=...)`, or `tokens=` on a Message, when it matters."""
    chars = len(message.name or "")
    content = message.content
    extra = 0
    if isinstance(content, str):
        chars += len(content)
    elif content is not None:
        for part in content:
            if isinstance(part, str):
                chars += len(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                chars += len(part["text"])
            else:
                extra += _PER_NON_TEXT_PART
    if message.tool_calls:
        chars += len(repr(message.tool_calls))
    if message.function_call is not None:
        chars += len(repr(message.function_call))
    if message.refusal is not None:
        chars += len(message.refusal)
    return _PER_MESSAGE + extra + (chars + 3) // 4  # chars / 4, rounded up


@dataclass(frozen=True, slots=True)
class Appended:
    """What `append`/`extend` did: the messages stored (with `created_at` and `tokens`),
    the ids skipped because the thread already held them, how many of the oldest turns
    were dropped to respect the caps, and those turns (when asked for), oldest first.
    `context` holds the turns read after the append when a read was asked for
    (`read_last`, `read_max_tokens`), oldest first: what `messages()` would return then."""

    messages: tuple[Message, ...]
    skipped: tuple[str, ...]
    evicted_count: int
    evicted: tuple[Message, ...]
    context: tuple[Message, ...] = ()
