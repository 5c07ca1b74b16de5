"""Rate limiters (`mem.limiter(...)`) and the all-or-nothing check over several of them."""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import math
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from .._config import Config
from .._errors import BackendError, InvalidValueError, RateLimitedError
from .._ops import limiter as ops
from .._ops._call import Call
from .._ops.limiter import Decision, MultiDecision, Rule
from ._runner import AsyncRunner

POLICIES = ("raise", "allow", "deny")
DEFAULT_TIMEOUT = 1.0  # seconds, for on_error="allow"/"deny" without a timeout
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
_log = logging.getLogger("pyredmem")

# Limiters with a timeout talk through a client of their own: the memory's client with
# socket timeouts and no retries (redis-py retries a refused connection for seconds by
# default). One per memory and timeout; closed with the memory.
_GUARDS: weakref.WeakKeyDictionary[AsyncRunner, dict[float, AsyncRunner]] = (
    weakref.WeakKeyDictionary()
)


def _bounded_client(client: Any, timeout: float) -> Any:
    pool = client.connection_pool
    kwargs = dict(pool.connection_kwargs)
    retry = copy.deepcopy(kwargs.get("retry"))
    if retry is not None:
        retry.update_retries(0)
    # connecting and reading each get half, so that one call fails within `timeout`
    kwargs.update(socket_timeout=timeout / 2, socket_connect_timeout=timeout / 2, retry=retry)
    if hasattr(pool, "sentinel_manager"):  # a Sentinel's pool: the same service and Sentinels
        kwargs.pop("connection_pool", None)  # its connections' way back to their pool
        bounded = type(pool)(
            pool.service_name,
            pool.sentinel_manager,
            is_master=pool.is_master,
            check_connection=pool.check_connection,
            connection_class=pool.connection_class,
            **kwargs,
        )
    else:
        bounded = type(pool)(connection_class=pool.connection_class, **kwargs)
    return type(client)(connection_pool=bounded)


def failure_timeout(on_error: str, timeout: float | None, label: str) -> float | None:
    """Check a failure policy; the timeout it runs with (None: the client's own)."""
    if on_error not in POLICIES:
        raise InvalidValueError(
            f"on_error must be one of {POLICIES}, got {on_error!r}", scope=label
        )
    if timeout is not None:
        # bounded: socket timeouts beyond what a C timeval holds fail every call
        return ops.ranged(
            "timeout", timeout, ops.MIN_TIMEOUT, ops.MAX_TIMEOUT, label=label, unit=" seconds"
        )
    return None if on_error == "raise" else DEFAULT_TIMEOUT


async def run_with_policy(
    runner: AsyncRunner, call: Call[T], on_error: str, fallback: Callable[[], T]
) -> T:
    """`call`'s reply or, when the server fails and `on_error` is not "raise", a warning on
    the pyredmem logger and `fallback()`."""
    if on_error == "raise":
        return await runner.run(call)
    try:
        return await runner.run(call)
    except BackendError as exc:  # every server failure; bad input was refused before
        _log.warning(
            "%s, subject %s: %s; on_error=%r applies",
            call.scope,
            subject_digest(call),
            failure_name(exc),
            on_error,
        )
        return fallback()


def subject_digest(call: Call[Any]) -> str:
    """What logs name a call's subject by: the first 12 hex digits of the SHA-256 of its
    keys. Limited keys name users and organisations, which logs must not carry."""
    return hashlib.sha256("\n".join(call.keys).encode()).hexdigest()[:12]


def failure_name(exc: BaseException) -> str:
    """A failure for the logs: its class and its cause's (their messages may quote keys)."""
    cause = exc.__cause__
    return type(exc).__name__ + (f" ({type(cause).__name__})" if cause is not None else "")


def guarded_runner(runner: AsyncRunner, timeout: float | None) -> AsyncRunner:
    """The runner that enforces `timeout` (the memory's own when there is none to enforce:
    in-process stores never time out; on Redis Cluster the client's own timeouts apply)."""
    if timeout is None or runner.embedded or runner.cluster:
        return runner
    per = _GUARDS.setdefault(runner, {})
    if timeout not in per:
        per[timeout] = AsyncRunner(_bounded_client(runner.client, timeout))
    return per[timeout]


async def close_guards(runner: AsyncRunner) -> None:
    """Close the clients `guarded_runner` made for `runner`."""
    for guard in _GUARDS.pop(runner, {}).values():
        await guard.client.aclose()
        await guard.client.connection_pool.disconnect()


class AsyncLimiter:
    """A named rate limit, applied separately to each key (a user, an organisation, ...).

    Every `hit` and `peek` is one atomic script call on the server's clock. Algorithms:
    "gcra" (a token bucket refilled smoothly at limit/period, holding up to `burst`),
    "fixed" (windows of `period` aligned to the epoch) and "sliding" (an exact log: never
    more than `limit` in any `period`).
    """

    __slots__ = ("_hit", "_on_error", "_runner", "_timeout", "rule")

    def __init__(
        self,
        runner: AsyncRunner,
        cfg: Config,
        name: str,
        rate: str | None = None,
        *,
        limit: float | None = None,
        period: float | None = None,
        algorithm: str = "gcra",
        burst: float | None = None,
        on_error: str = "raise",
        timeout: float | None = None,
    ) -> None:
        self.rule = Rule.of(
            cfg.keyspace,
            name,
            rate=rate,
            limit=limit,
            period=period,
            algorithm=algorithm,
            burst=burst,
        )
        self._on_error = on_error
        self._timeout = failure_timeout(on_error, timeout, self.rule.label)
        self._hit = ops.HITS[self.rule.algorithm]
        self._runner = guarded_runner(runner, self._timeout)

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def algorithm(self) -> str:
        return self.rule.algorithm

    @property
    def limit(self) -> float:
        return self.rule.limit

    @property
    def period(self) -> float:
        return self.rule.period

    @property
    def on_error(self) -> str:
        return self._on_error

    def __repr__(self) -> str:
        r = self.rule
        return f"<{type(self).__name__} {r.name!r} {r.algorithm} {r.limit}/{r.period}s>"

    async def hit(self, key: str, cost: float = 1, *, group: str | None = None) -> Decision:
        """Spend `cost` (>= 0, fractions allowed) from `key`'s budget if it allows, else
        spend nothing. `group` must be the same wherever `key` is used (see hit_many)."""
        call = self._hit(self.rule, key, cost, group)
        if self._on_error == "raise":  # the common case, without _decide's extra call
            return await self._runner.run(call)
        return await self._decide(call)

    async def peek(self, key: str, cost: float = 1, *, group: str | None = None) -> Decision:
        """What `hit(key, cost)` would answer now, spending nothing."""
        return await self._decide(ops.limiter_peek(self.rule, key, cost, group))

    async def reset(self, key: str, *, group: str | None = None) -> bool:
        """Forget what `key` has spent; True when it had spent anything."""
        return await self._runner.run(ops.limiter_reset(self.rule, key, group))

    async def _decide(self, call: Call[Decision]) -> Decision:
        allow = self._on_error == "allow"
        return await run_with_policy(
            self._runner, call, self._on_error, lambda: ops.fallback_decision(self.rule, allow)
        )

    def limited(
        self,
        key: str | Callable[..., str],
        *,
        cost: float | Callable[..., float] = 1,
        group: str | None = None,
    ) -> Callable[[F], F]:
        """Decorate a function so that each call first spends `cost` from `key`'s budget
        and raises RateLimitedError (carrying the Decision) when denied. `key` and `cost`
        may be functions of the decorated function's arguments. (An async limiter decorates
        coroutine functions; a sync limiter, plain functions.)"""

        def decorate(fn: F) -> F:
            @functools.wraps(fn)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                k = key(*args, **kwargs) if callable(key) else key
                c = cost(*args, **kwargs) if callable(cost) else cost
                decision = await self.hit(k, c, group=group)
                if not decision.allowed:
                    raise RateLimitedError(
                        f"rate limited; retry in {decision.retry_after:.3f} s",
                        decision,
                        key=k,
                        scope=self.rule.label,
                    )
                return await fn(*args, **kwargs)

            return cast(F, wrapper)

        return decorate


def _policy(limiters: list[AsyncLimiter]) -> str:
    policies = {lim.on_error for lim in limiters}
    for policy in ("raise", "deny"):  # the strictest first
        if policy in policies:
            return policy
    return "allow"


async def hit_many(
    runner: AsyncRunner,
    checks: Iterable[tuple[AsyncLimiter, str] | tuple[AsyncLimiter, str, float]],
    group: str | None = None,
) -> MultiDecision:
    """See AsyncMemory.hit_many."""
    limiters: list[AsyncLimiter] = []
    items: list[tuple[Rule, object, object]] = []
    for check in checks:
        if not isinstance(check, tuple) or len(check) not in (2, 3):
            raise InvalidValueError("hit_many takes (limiter, key) or (limiter, key, cost) tuples")
        if not isinstance(check[0], AsyncLimiter):
            raise InvalidValueError(
                f"expected a limiter from this kind of memory, got {type(check[0]).__name__}"
            )
        limiters.append(check[0])
        items.append((check[0].rule, check[1], check[2] if len(check) == 3 else 1))
    call = ops.limiter_hit_many(items, group, cluster=runner.cluster)
    policy = _policy(limiters)
    timed = [lim for lim in limiters if lim._timeout is not None]
    if timed:
        runner = min(timed, key=lambda lim: lim._timeout or math.inf)._runner
    allow = policy == "allow"
    return await run_with_policy(
        runner,
        call,
        policy,
        lambda: MultiDecision(
            allow, tuple(ops.fallback_decision(lim.rule, allow) for lim in limiters)
        ),
    )
