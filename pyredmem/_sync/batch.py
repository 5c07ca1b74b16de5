# Generated from pyredmem/_async/batch.py by scripts/unasync.py: do not edit.
"""Batches (`with mem.batch() as b:`): operations of any handles, sent together."""

from __future__ import annotations

import functools
import inspect
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._errors import PyRedMemError, ValidationError
from .._ops import batch as ops
from .._ops import context as context_ops
from .._ops._call import Call
from .._ops.batch import Pending
from .cache import Cache
from .context import Context
from .history import History
from .limiter import Limiter
from .scope import Scope
from .semaphore import Semaphore

if TYPE_CHECKING:
    from .memory import Memory

# What a batch takes: the operations that make exactly one script call and return its
# parsed reply (or nothing). The others read a reply before deciding what to send next
# (update, messages, fork, compact, get_or_compute, acquire, ...), split by slot on a
# cluster (cache clear) or look for their keys first (erase): they are refused by name.
BATCHABLE: dict[type, frozenset[str]] = {
    Scope: frozenset(
        {
            *("set", "get", "exists", "delete", "clear", "keys", "ttl"),
            *("get_many", "set_many", "incr", "threads", "thread_count", "changes"),
        }
    ),
    Context: frozenset({"get", "resolve", "exists", "set"}),
    History: frozenset({"append", "extend", "count", "clear", "delete", "pop", "ttl"}),
    Limiter: frozenset({"hit", "peek", "reset"}),
    Semaphore: frozenset({"release", "renew"}),
    Cache: frozenset({"get", "set", "delete", "fetch", "fill", "release"}),
}
# methods that make another handle (which the batch then takes too)
_FACTORIES: dict[type, frozenset[str]] = {Scope: frozenset({"history"})}

_RECORDED = object()  # what the stand-in runner answers


class _Recorder:
    """Stands in for the runner while a batched operation runs: keeps its calls unsent."""

    __slots__ = ("calls", "cluster", "embedded")

    #: handles ask (a near cache's `get` then reads the shared cache: one call to queue)
    recording = True

    def __init__(self, cluster: bool, embedded: bool) -> None:
        self.calls: list[Call[Any]] = []
        self.cluster = cluster
        self.embedded = embedded

    def run(self, call: Call[Any]) -> Any:
        self.calls.append(call)
        return _RECORDED


class Batch:
    """Operations of any handles of one memory, queued, then sent together: one pipeline on
    a single server, one per node (in parallel) on Redis Cluster. Each operation stays
    atomic on its own (there is no MULTI: others' calls may run between them), and one
    that fails leaves the others be.

    Queue through the batch's handles (`b.user("alice").get("k")`, `b.on(limiter).hit(k)`):
    each operation returns a Pending, whose `result()` answers once the batch is sent, when
    its block ends or by `send()`. Bad input raises when the
    operation is queued. Only operations that are one script call can be batched; the
    others raise ValidationError. A batch holds at most 10,000 unsent operations.
    """

    __slots__ = ("_closed", "_memory", "_queued", "_recorder", "_sent")

    def __init__(self, memory: Memory) -> None:
        runner = memory._runner
        self._memory = memory
        self._recorder = _Recorder(runner.cluster, runner.embedded)
        self._queued: list[Pending[Any]] = []
        self._sent: list[Pending[Any]] = []
        self._closed = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} queued={len(self._queued)} sent={len(self._sent)}>"

    def on(self, handle: Any) -> Batched:
        """`handle` (a scope, context, history, limiter, semaphore or cache of this memory)
        seen through the batch: its operations are queued here."""
        cls = type(handle)
        if cls not in BATCHABLE:
            raise ValidationError(
                "a batch takes scope, context, history, limiter, semaphore and cache "
                f"handles, not {cls.__name__}"
            )
        if handle._runner is not self._memory._runner:
            raise ValidationError(
                f"{handle!r} cannot join this batch: it belongs to another memory, or it has a "
                "timeout (its calls then go through a client of its own)"
            )
        if getattr(handle, "on_error", "raise") != "raise":
            raise ValidationError(
                f"{handle!r} cannot join a batch: its on_error={handle.on_error!r} policy "
                "applies to its own calls only"
            )
        # the same handle, talking to the recorder
        shadow = object.__new__(cls)
        for slot in cls.__slots__:
            setattr(shadow, slot, getattr(handle, slot))
        shadow._runner = self._recorder
        return Batched(self, handle, shadow)

    def scope(self, kind: str, id: str | None = None) -> Batched:
        return self.on(self._memory.scope(kind, id))

    def step(self, id: str) -> Batched:
        return self.on(self._memory.step(id))

    def run(self, id: str) -> Batched:
        return self.on(self._memory.run(id))

    def workflow(self, id: str) -> Batched:
        return self.on(self._memory.workflow(id))

    def session(self, id: str) -> Batched:
        return self.on(self._memory.session(id))

    def user(self, id: str) -> Batched:
        return self.on(self._memory.user(id))

    def actor(self, id: str) -> Batched:
        return self.on(self._memory.actor(id))

    def agent(self, id: str) -> Batched:
        """As Memory.agent."""
        return self.on(self._memory.agent(id))

    def organization(self, id: str) -> Batched:
        return self.on(self._memory.organization(id))

    @property
    def global_scope(self) -> Batched:
        return self.on(self._memory.global_scope)

    def context(self, **ids: str | None) -> Batched:
        """As Memory.context."""
        return self.on(self._memory.context(**ids))

    def history(self, thread_id: str, **options: Any) -> Batched:
        """As Memory.history."""
        return self.on(self._memory.history(thread_id, **options))

    def limiter(self, name: str, rate: str | None = None, **options: Any) -> Batched:
        """As Memory.limiter."""
        return self.on(self._memory.limiter(name, rate, **options))

    def semaphore(self, name: str, **options: Any) -> Batched:
        """As Memory.semaphore."""
        return self.on(self._memory.semaphore(name, **options))

    def cache(self, name: str, **options: Any) -> Batched:
        """As Memory.cache."""
        return self.on(self._memory.cache(name, **options))

    def _queue(self, handle: Batched, name: str, *args: Any, **kwargs: Any) -> Pending[Any]:
        if self._closed:
            raise ValidationError("this batch's block has ended: open a new batch")
        ops.check_room(len(self._queued))
        real = handle._handle
        label = f"{type(real).__name__}.{name}"
        if isinstance(real, Context) and name in _LOOKUPS:
            # one call per slot on a cluster, the most specific hit winning (as the context's
            # own lookups): the plan's answer combines the replies
            calls, answer = context_ops.context_lookup(
                real._targets, real._groups, real.scopes, name, *args, **kwargs
            )
            pending: Pending[Any] = Pending(label, calls, answer)
        else:
            pending = self._record(label, getattr(handle._shadow, name), args, kwargs)
        self._queued.append(pending)
        return pending

    def _record(
        self, label: str, method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Pending[Any]:
        """Run `method` against the recorder: the calls it would have sent."""
        recorder = self._recorder
        recorder.calls.clear()
        try:
            returned = _finished(method(*args, **kwargs))
        except PyRedMemError:
            raise
        except Exception as exc:
            if not recorder.calls:
                raise  # not ours: bad arguments
            # it went on to use the reply of its first call (these arguments need more)
            raise ValidationError(
                f"{label} is not one script call here: it cannot be batched"
            ) from exc
        finally:
            calls, recorder.calls = recorder.calls, []
        if not calls:  # answered without the server (e.g. `extend([])`)
            return Pending.of(label, returned)
        if len(calls) > 1 or not (returned is _RECORDED or returned is None):
            raise AssertionError(f"{label} is not one script call: it cannot be batched")
        return Pending(label, calls, _only)

    def send(self) -> None:
        """Send the operations queued since the last send; their Pendings then answer."""
        queued, self._queued = self._queued, []
        calls = [call for p in queued for call in p.calls]
        if calls:
            ops.settle(queued, self._memory._runner.settle(calls))
        self._sent.extend(queued)

    def results(self) -> list[Any]:
        """The result of each operation sent, in the order queued; an operation that
        failed has its PyRedMemError in its place (returned, not raised)."""
        out: list[Any] = []
        for p in self._sent:
            error = p.error()
            out.append(p.result() if error is None else error)
        return out

    def __enter__(self) -> Batch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        if exc_type is None:  # a block that raised sends nothing
            self.send()


class Batched:
    """A handle seen through a batch: each of its operations is queued and returns a
    Pending; its other attributes are the handle's."""

    __slots__ = ("_batch", "_handle", "_shadow")

    def __init__(self, batch: Batch, handle: Any, shadow: Any) -> None:
        self._batch = batch
        self._handle = handle
        self._shadow = shadow

    def __repr__(self) -> str:
        return f"<batched {self._handle!r}>"

    def __getattr__(self, name: str) -> Any:
        handle = self._handle
        cls = type(handle)
        if name in BATCHABLE[cls]:
            return functools.partial(self._batch._queue, self, name)
        if name in _FACTORIES.get(cls, ()):
            return lambda *args, **kwargs: self._batch.on(getattr(handle, name)(*args, **kwargs))
        attr = getattr(handle, name)
        if hasattr(attr, "_runner"):  # another handle (scope.facts): it would not queue
            raise ValidationError(
                f"{cls.__name__}.{name} cannot be batched: its operations would run at once, "
                "outside the batch"
            )
        if callable(attr):
            raise ValidationError(
                f"{cls.__name__}.{name} cannot be batched: a batch takes operations that are "
                f"one script call ({', '.join(sorted(BATCHABLE[cls]))})"
            )
        return attr


def _finished(returned: Any) -> Any:
    """What a batched method returned. A coroutine runs to its end here and now: the only
    thing it awaits is the recorder, which never waits."""
    if inspect.iscoroutine(returned):
        try:
            returned.send(None)
        except StopIteration as stop:
            return stop.value
        returned.close()
        raise AssertionError("a batched operation waited")
    return returned


def _only(replies: list[Any]) -> Any:
    return replies[0]


_LOOKUPS = frozenset({"get", "resolve", "exists"})  # Context's multi-call reads
