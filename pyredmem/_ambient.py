"""The ambient context: `with mem.bind(user="alice"):` makes `pyredmem.current()` return
that context anywhere below, in this thread or asyncio task only.

Backed by a `contextvars.ContextVar`: each asyncio task runs in a copy of the context it
was created in, so a task sees the binding of the code that created it, and a binding made
inside a task is never seen by another. Threads start with no binding.
"""

from __future__ import annotations

from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Generic, TypeVar

from ._errors import NoContextError

if TYPE_CHECKING:
    from ._async.context import AsyncContext
    from ._sync.context import Context

__all__ = ["Binding", "current"]

C = TypeVar("C")

# the contexts bound, innermost last: a stack per contextvars.Context, so that the same
# Binding entered in two tasks at once leaves each task its own
_BOUND: ContextVar[tuple[Context | AsyncContext, ...]] = ContextVar("pyredmem_bound", default=())


def current() -> Context | AsyncContext:
    """The context bound by the innermost enclosing `mem.bind(...)` (a Context) or
    `amem.bind(...)` (an AsyncContext) of this thread or task. Raises NoContextError
    outside any binding."""
    bound = _BOUND.get()
    if not bound:
        raise NoContextError(
            "no pyredmem context is bound here: call this inside `with mem.bind(user=...)` "
            "(or `async with amem.bind(...)`), in the same thread or in a task created there"
        )
    return bound[-1]


class Binding(Generic[C]):
    """Makes `context` the one `current()` returns while a `with` (or `async with`) block
    runs; the block gets the context. Bindings nest, and one binding may be entered again,
    even while it is active (in another task too)."""

    __slots__ = ("context",)

    def __init__(self, context: C) -> None:
        self.context = context

    def __repr__(self) -> str:
        return f"<Binding {self.context!r}>"

    def __enter__(self) -> C:
        _BOUND.set((*_BOUND.get(), self.context))  # type: ignore[arg-type]
        return self.context

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _BOUND.set(_BOUND.get()[:-1])

    async def __aenter__(self) -> C:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
