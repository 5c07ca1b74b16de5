"""Batches, without I/O: what an operation queued in a batch holds until the batch is sent,
and how the outcomes of its calls (replies parsed, or errors) settle it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from .._errors import InvalidValueError, PyRedMemError, ValidationError
from ._call import Call

__all__ = ["MAX_OPERATIONS", "Pending", "settle"]

T = TypeVar("T")

#: operations one batch may hold (all of them are sent as one pipeline per node)
MAX_OPERATIONS = 10_000

_QUEUED, _VALUE, _ERROR = range(3)


class Pending(Generic[T]):
    """The outcome of one operation queued in a batch, known once the batch is sent.

    `result()` (or `.value`) returns what the operation returns on its own, or raises the
    PyRedMemError it raises on its own. (A plain slotted class: one per operation queued.)
    """

    __slots__ = ("_finish", "_outcome", "_state", "calls", "name")

    def __init__(
        self, name: str, calls: Sequence[Call[Any]], finish: Callable[[list[Any]], T]
    ) -> None:
        self.name = name  # "AsyncScope.get", for errors and repr
        self.calls = tuple(calls)
        self._finish = finish  # the calls' parsed replies -> the operation's result
        self._state = _QUEUED
        self._outcome: Any = None

    @classmethod
    def of(cls, name: str, value: T) -> Pending[T]:
        """An operation that needed no call (`extend([])`): its result is known already."""
        done: Pending[T] = cls(name, (), lambda _: value)
        done._settle([])
        return done

    @property
    def done(self) -> bool:
        """Whether the batch was sent (so `result()` answers)."""
        return self._state != _QUEUED

    def result(self) -> T:
        """The operation's result; raises its error (ValidationError before the batch is
        sent)."""
        if self._state == _VALUE:
            return self._outcome  # type: ignore[no-any-return]
        if self._state == _ERROR:
            raise self._outcome
        raise ValidationError(
            f"{self.name}: the batch has not been sent yet (it is sent when its block ends, "
            "or by send())"
        )

    @property
    def value(self) -> T:
        """The same as `result()`."""
        return self.result()

    def error(self) -> PyRedMemError | None:
        """The error the operation raised, or None (before sending, or when it succeeded)."""
        return self._outcome if self._state == _ERROR else None

    def _settle(self, outcomes: list[Any]) -> None:
        failed = next((o for o in outcomes if isinstance(o, PyRedMemError)), None)
        if failed is None:
            try:
                self._outcome, self._state = self._finish(outcomes), _VALUE
                return
            except PyRedMemError as exc:
                failed = exc
        self._outcome, self._state = failed, _ERROR

    def __repr__(self) -> str:
        if self._state == _QUEUED:
            return f"<Pending {self.name} (not sent)>"
        state = "error" if self._state == _ERROR else "value"
        return f"<Pending {self.name} {state}={self._outcome!r}>"


def settle(pending: Sequence[Pending[Any]], outcomes: Sequence[Any]) -> None:
    """Hand each operation the outcomes of its calls (`outcomes`: one per call, in the
    order of `pending`'s calls)."""
    at = 0
    for p in pending:
        n = len(p.calls)
        if n:  # an operation without calls was settled when queued
            p._settle(list(outcomes[at : at + n]))
            at += n
    if at != len(outcomes):
        raise AssertionError(f"{len(outcomes)} outcomes for {at} calls")


def check_room(queued: int) -> None:
    """Refuse one more operation in a batch that holds `queued` already."""
    if queued >= MAX_OPERATIONS:
        raise InvalidValueError(
            f"a batch holds at most {MAX_OPERATIONS:,} operations: send() it and go on"
        )
