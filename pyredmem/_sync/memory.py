# Generated from pyredmem/_async/memory.py by scripts/unasync.py: do not edit.
"""Memory: the entry point, a factory of scope handles and contexts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Literal

from .._ambient import Binding
from .._codec import Codec, MsgpackCodec
from .._config import MAX_TTL, Config, ttl_to_ms
from .._crypto import Keyring, crypto_of
from .._embed import check_embedder
from .._errors import ConfigurationError, InvalidScopeError, InvalidValueError, shown
from .._keys import KINDS, Keyspace, ScopeRef, scope_ref_of
from .._ops.erase import Erased, ErasePlan, erase_refs
from .._ops.events import Event, Matcher
from .._ops.facts import DEFAULT_MAX_FACTS, DEFAULT_MAX_VERSIONS, FactStore
from .._ops.history import TokenCounter
from .._ops.limiter import MultiDecision
from .._ops.recall import DEFAULT_MAX_ITEMS, RecallStore, check_backend
from .._ops.reencrypt import Reencrypted, ReencryptPlan
from ._runner import Runner
from .batch import Batch
from .cache import Cache
from .context import Context
from .facts import Facts
from .history import History
from .limiter import Limiter, close_guards, hit_many
from .recall import Recall
from .reencrypt import Progress, reencrypt
from .scope import Scope, erase_scopes
from .semaphore import Semaphore
from .watch import ChangeHandler, Watch, on_change


class Memory:
    """Scoped memory for agents, kept in Redis; every operation is one atomic script call.

    `url_or_client`: None or "memory://" (a private in-process store), "memory://NAME" (one
    shared by every Memory on NAME in this process), "redis://...", "rediss://...",
    "unix://...", "redis+cluster://host:port", "redis+sentinel://host:port/service", or a
    redis-py client used as is. `tenant` partitions everything: two tenants never see each
    other's data. `read_from_replicas` (cluster or sentinel): read-only operations go to
    replicas (which may lag behind their primary), writes to the primaries.

    `events`: every write also logs what it changed, in the same atomic call, to the change
    log of the scope (or cache bucket) it writes, which `scope.changes()` replays: True logs
    the changes, "values" logs the new values with them. A log keeps about `events_max`
    entries (the oldest are trimmed) and expires `events_ttl` seconds after its last event.

    `embedder`: what turns texts into vectors for every scope's `recall` (an `Embedder`;
    None: the dependency-free `HashingEmbedder`). `recall_backend`: "auto" or "exact"
    (vectors stored compactly under the scope's hash tag, scored on the client).

    `encryption_key`: 32 bytes, their base64 text, or a `Keyring` (for rotation). Every
    value a user stores (scope values, turns, cache entries, fact objects, the values change
    events carry) is then sealed with AES-256-GCM on the client, bound to where it lives;
    a value that was altered or moved fails with DecryptionError. Counters (`incr`),
    limiter state, turn headers and names stay readable; `encrypt_names=True` encrypts
    scope ids, keys, thread ids, cache keys, recall item ids, fact subjects and limiter and
    semaphore keys and groups too (deterministically, so lookups work).
    """

    def __init__(
        self,
        url_or_client: Any = None,
        *,
        namespace: str = "pm",
        tenant: str | None = None,
        codec: Codec | None = None,
        default_ttl: float | None = None,
        max_keys_per_scope: int = 10_000,
        max_value_bytes: int = 1024 * 1024,
        update_retries: int = 100,
        read_from_replicas: bool = False,
        events: bool | Literal["values"] = False,
        events_max: int = 10_000,
        events_ttl: float = 86400,
        encryption_key: bytes | str | Keyring | None = None,
        encrypt_names: bool = False,
        embedder: Any = None,
        recall_backend: str = "auto",
    ) -> None:
        try:
            events_ttl_ms = ttl_to_ms(events_ttl)
        except InvalidValueError as exc:
            raise ConfigurationError(
                f"events_ttl must be a positive number of seconds up to {MAX_TTL}, "
                f"got {shown(events_ttl)}"
            ) from exc
        crypto = crypto_of(encryption_key, encrypt_names)
        names = crypto if crypto is not None and crypto.encrypt_names else None
        self._cfg = Config(
            keyspace=Keyspace(namespace, tenant, names),
            codec=codec if codec is not None else MsgpackCodec(),
            default_ttl=default_ttl,
            max_keys_per_scope=max_keys_per_scope,
            max_value_bytes=max_value_bytes,
            update_retries=update_retries,
            events=events,
            events_max=events_max,
            events_ttl_ms=events_ttl_ms,
            crypto=crypto,
            embedder=None if embedder is None else check_embedder(embedder),
            recall_backend=check_backend(recall_backend),
        )
        self._runner = Runner(url_or_client, read_from_replicas=read_from_replicas)

    @property
    def client(self) -> Any:
        """The redis-py client underneath."""
        return self._runner.client

    @property
    def tenant(self) -> str | None:
        return self._cfg.keyspace.tenant

    def __repr__(self) -> str:
        ks = self._cfg.keyspace
        return f"<{type(self).__name__} namespace={ks.namespace!r} tenant={ks.tenant!r}>"

    def scope(self, kind: str, id: str | None = None) -> Scope:
        """A handle on one scope instance: `scope("user", "alice")`, `scope("global")`."""
        return Scope(self._runner, self._cfg, ScopeRef.of(kind, id))

    def step(self, id: str) -> Scope:
        return self.scope("step", id)

    def run(self, id: str) -> Scope:
        return self.scope("run", id)

    def workflow(self, id: str) -> Scope:
        return self.scope("workflow", id)

    def session(self, id: str) -> Scope:
        return self.scope("session", id)

    def user(self, id: str) -> Scope:
        return self.scope("user", id)

    def actor(self, id: str) -> Scope:
        return self.scope("actor", id)

    def agent(self, id: str) -> Scope:
        """The actor scope `id` under the name Flusso gives it: `agent("planner")` is
        `actor("planner")` (the same scope, values and keys), as are `scope("agent", id)`,
        `context(agent=...)` and `bind(agent=...)`."""
        return self.scope("actor", id)

    def organization(self, id: str) -> Scope:
        return self.scope("organization", id)

    @property
    def global_scope(self) -> Scope:
        return self.scope("global")

    def context(
        self,
        *,
        step: str | None = None,
        run: str | None = None,
        workflow: str | None = None,
        session: str | None = None,
        user: str | None = None,
        actor: str | None = None,
        organization: str | None = None,
        agent: str | None = None,
    ) -> Context:
        """The scopes of one unit of work, for lookups from the most specific to global.
        `agent` is another name for `actor` (give one of them)."""
        ids = dict(
            step=step,
            run=run,
            workflow=workflow,
            session=session,
            user=user,
            actor=_actor(actor, agent),
            organization=organization,
        )
        refs = tuple(ScopeRef.of(k, ids[k]) for k in KINDS[:-1] if ids[k] is not None)
        return Context(self._runner, self._cfg, (*refs, ScopeRef.of("global")))

    def bind(
        self,
        *,
        step: str | None = None,
        run: str | None = None,
        workflow: str | None = None,
        session: str | None = None,
        user: str | None = None,
        actor: str | None = None,
        organization: str | None = None,
        agent: str | None = None,
    ) -> Binding[Context]:
        """A context manager (`with`; for Memory, `async` or not): inside
        `bind(user="alice", session="s1")`, `pyredmem.current()` returns that context (as
        `context(...)` builds it; also the block's target) anywhere below, in this thread or
        task and the tasks it creates, never in others. Bindings nest."""
        return Binding(
            self.context(
                step=step,
                run=run,
                workflow=workflow,
                session=session,
                user=user,
                actor=actor,
                organization=organization,
                agent=agent,
            )
        )

    def facts(
        self,
        *,
        scope: Scope | ScopeRef | None = None,
        ttl: float | None = None,
        max_versions: int = DEFAULT_MAX_VERSIONS,
        max_facts: int = DEFAULT_MAX_FACTS,
    ) -> Facts:
        """The facts of `scope` (a scope handle or ScopeRef; default: the global scope).
        `ttl`: seconds the scope's facts live after their last write (None: the memory's
        default_ttl; by default they never expire). `max_versions`: versions one subject
        and predicate may hold; `max_facts`: versions the scope may hold (past either, a
        write raises CapacityError and writes nothing)."""
        ref = scope_ref_of(scope) or ScopeRef.of("global")
        store = FactStore(self._cfg, ref, ttl=ttl, max_versions=max_versions, max_facts=max_facts)
        return Facts(self._runner, (store,))

    def recall(
        self,
        *,
        scope: Scope | ScopeRef | None = None,
        embedder: Any = None,
        ttl: float | None = None,
        max_items: int = DEFAULT_MAX_ITEMS,
        vector_format: str = "int8",
    ) -> Recall:
        """The recall index of `scope` (a scope handle or ScopeRef; default: the global
        scope). `embedder`: this handle's (None: the memory's). `ttl`: seconds each item
        lives unless its add says otherwise (None: the memory's default_ttl; by default
        never). `max_items`: live items the index may hold (past it, an add raises
        CapacityError and writes nothing). `vector_format`: "int8" (dimension + 4 bytes per
        vector) or "float16" (2 bytes per dimension); an index keeps the format it was
        filled with."""
        ref = scope_ref_of(scope) or ScopeRef.of("global")
        store = RecallStore(
            self._cfg,
            ref,
            embedder=embedder,
            ttl=ttl,
            max_items=max_items,
            vector_format=vector_format,
        )
        return Recall(self._runner, store)

    def cache(
        self,
        name: str,
        *,
        ttl: float,
        scope: Any = None,
        lease: float = 30.0,
        max_wait: float = 60.0,
        stale: float = 0.0,
        beta: float = 1.0,
        buckets: int = 16,
        max_entries: int = 100_000,
        near: bool = False,
        near_max: int = 10_000,
    ) -> Cache:
        """A cache shared by every process that opens the same `name` (and scope).

        `ttl`: seconds a value stays fresh. `scope`: a scope handle (`mem.user("alice")`)
        to keep a cache per scope instance. `lease`: seconds a computation may take before
        another caller may take over (its late result is then rejected). `max_wait`: seconds
        a caller waits for another's computation. `stale`: seconds an expired value may still
        be served while one caller refreshes it (0: never). `beta`: eagerness of early
        refresh (XFetch; 0: off). `buckets`: how many hash tags (cluster slots) the entries
        spread over. `max_entries`: beyond it, the entries that expire soonest are evicted.
        `near`: also keep up to `near_max` values in this process, served with no round
        trip and dropped as soon as any process writes, deletes or invalidates them (the
        memory needs `events=True`, as do the other writers; see the README's "Near
        cache").
        """
        return Cache(
            self._runner,
            self._cfg,
            name,
            ttl=ttl,
            scope=scope,
            lease=lease,
            max_wait=max_wait,
            stale=stale,
            beta=beta,
            buckets=buckets,
            max_entries=max_entries,
            near=near,
            near_max=near_max,
        )

    def cached(
        self,
        *,
        ttl: float,
        name: str = "cached",
        key: Callable[..., str] | None = None,
        **options: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorate a function so that its results are cached (`get_or_compute`) in the cache
        `name`. The key is the function's module and qualified name plus the SHA-256 of its
        arguments (bound to its signature, defaults applied) encoded with this Memory's
        codec; pass `key=lambda *args, **kwargs: "..."` to choose it yourself. Arguments the
        codec cannot encode raise SerializationError. `options` are those of `cache()`.
        The wrapper has `.cache` and `.key_for(*args, **kwargs)` (e.g. to delete an entry).
        """
        cache = self.cache(name, ttl=ttl, **options)

        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            return cache.decorate(fn, key)

        return decorator

    def history(
        self,
        thread_id: str,
        *,
        scope: Scope | ScopeRef | None = None,
        max_turns: int | None = None,
        max_tokens: int | None = None,
        ttl: float | None = None,
        sliding: bool = True,
        counter: TokenCounter | None = None,
        recall: bool = False,
    ) -> History:
        """A conversation thread of `scope` (a scope handle or ScopeRef; default: the global
        scope). See `Scope.history` for the options."""
        ref = scope_ref_of(scope) or ScopeRef.of("global")
        return Scope(self._runner, self._cfg, ref).history(
            thread_id,
            max_turns=max_turns,
            max_tokens=max_tokens,
            ttl=ttl,
            sliding=sliding,
            counter=counter,
            recall=recall,
        )

    def limiter(
        self,
        name: str,
        rate: str | None = None,
        *,
        limit: float | None = None,
        period: float | None = None,
        algorithm: str = "gcra",
        burst: float | None = None,
        on_error: str = "raise",
        timeout: float | None = None,
    ) -> Limiter:
        """A rate limit of `limit` units per `period` seconds, applied per key; or, the same
        written as one string in the `limits` library's notation, `rate`: "10/second",
        "100 per minute", "5/10 seconds", "1000/hour" (second, minute, hour, day, month of
        30 days, year of 360 days). A limiter holds one limit: check several together with
        `hit_many`.

        `algorithm`: "gcra" (smooth token bucket holding up to `burst`, default `limit`),
        "fixed" (epoch-aligned windows) or "sliding" (exact: never more than `limit` in any
        `period`). `on_error`: what `hit` and `peek` answer when the server cannot be
        reached within `timeout` seconds (default 1 for "allow" and "deny"): "raise"
        BackendUnavailableError, "allow" or "deny" the call.
        """
        return Limiter(
            self._runner,
            self._cfg,
            name,
            rate,
            limit=limit,
            period=period,
            algorithm=algorithm,
            burst=burst,
            on_error=on_error,
            timeout=timeout,
        )

    def semaphore(
        self,
        name: str,
        *,
        limit: int,
        lease: float,
        on_error: str = "raise",
        timeout: float | None = None,
    ) -> Semaphore:
        """At most `limit` concurrent holders per key; a holder's slot frees itself after
        `lease` seconds if it is never released (e.g. the holder crashed). `on_error` and
        `timeout` are as for `limiter`."""
        return Semaphore(
            self._runner,
            self._cfg,
            name,
            limit=limit,
            lease=lease,
            on_error=on_error,
            timeout=timeout,
        )

    def hit_many(
        self,
        checks: Iterable[tuple[Limiter, str] | tuple[Limiter, str, float]],
        *,
        group: str | None = None,
    ) -> MultiDecision:
        """Check several limits in one atomic call, e.g. per user, per organisation and
        global tokens: `checks` are (limiter, key) or (limiter, key, cost). The costs are
        spent from every limit if all allow, else from none.

        On Redis Cluster the keys must share a slot: pass a `group` (e.g. the organisation)
        here and the same `group` to every other hit/peek/reset of these keys; otherwise
        CrossSlotError. On a single server any limits can be combined. The strictest
        `on_error` of the limiters applies.
        """
        return hit_many(self._runner, checks, group)

    def watch(
        self,
        pattern: str,
        *,
        keys: str | None = None,
        ops: Iterable[str] | None = None,
        after: object = None,
        values: bool = False,
        timeout: float | None = None,
        configure: bool = True,
    ) -> Watch:
        """The change events of the scopes or caches `pattern` names, as they are logged
        (writers need `events=True`), as an iterator of Events (asynchronous with Memory).

        `pattern`: "<kind>:<id glob>" ("user:alice", "workflow:refund-*"), "<kind>" (every
        scope of that kind), "global", "cache:<name glob>", or "*" (everything of this
        memory's tenant: never another tenant's). `keys`: a glob over the event's key
        (value key, thread id or cache key). `ops`: the operations wanted ("set",
        "append", ...). `after`: a cursor (an event id, e.g. a previous watch's `cursor`;
        a datetime; seconds since the epoch) to replay the logged events since then first.
        `values`: decode the values the writers logged (`events="values"`). `timeout`:
        stop after this many seconds without an event. `configure`: turn on the keyspace
        notifications the watch needs (EventsConfigError, naming the setting, where the
        server refuses). Enter it as a context manager to be listening before the block's
        writes."""
        matcher = Matcher.of(self._cfg.keyspace, pattern, keys=keys, ops=ops)
        return Watch(
            self._runner,
            self._cfg,
            matcher,
            after=after,
            values=values,
            timeout=timeout,
            configure=configure,
        )

    def on_change(
        self,
        pattern: str,
        callback: Callable[[Event], Any],
        *,
        keys: str | None = None,
        ops: Iterable[str] | None = None,
        after: object = None,
        values: bool = False,
        configure: bool = True,
    ) -> ChangeHandler:
        """Call `callback(event)` for every change `pattern` names, in the background (a
        task of the event loop with Memory, which awaits a coroutine callback; a daemon
        thread with Memory); listening when this returns. A callback that raises is logged
        and counted (`handler.errors`); the next events still come. Closing the handler
        stops it, as closing this memory does. The options are those of `watch`."""
        watch = self.watch(
            pattern, keys=keys, ops=ops, after=after, values=values, configure=configure
        )
        return on_change(watch, callback)

    def erase(self, *scopes: Scope | ScopeRef, **ids: str | None) -> Erased:
        """Erase several scope instances (see `Scope.erase`) and return what was
        removed in all: scope handles or ScopeRefs, and ids by kind,
        `erase(user="alice", session="s1")` (an id of None is left out). They are erased in
        this memory's namespace and tenant. InvalidScopeError for an unknown kind, a bad id,
        or no scope at all, before anything is removed."""
        plan = ErasePlan(self._cfg.keyspace, erase_refs(scopes, ids))
        return erase_scopes(self._runner, plan)

    def reencrypt(self, progress: Progress = False) -> Reencrypted:
        """Rewrite every value stored in this memory's namespace and tenant under the
        keyring's primary key: scope values, conversation turns, cache entries (scoped or
        not) and fact objects, whichever key of the keyring sealed them; and encrypt those
        stored before encryption was turned on (values and turns: the migration path).
        Give every writer the new keyring first (primary: the new key, the old one still in
        it), then run this, then drop the old key.

        Online: keys are found by SCAN on every primary, and each value is written back
        with a compare-and-set on the bytes read, so a concurrent write always wins (its
        value is already under the primary key). Resumable: what is under the primary key
        already is skipped at the cost of reading it, so a run that was interrupted is
        finished by running it again. Values do not change, so no change event is logged.

        Not rewritten: numbers written by `incr` (never encrypted); fact objects stored
        without encryption (their digests would change: counted `unmigrated_facts`; add
        them again); change-log entries, which never change: the values they carry keep
        their key id until they expire (`events_ttl`), so keep the old key in the keyring
        until then. `progress`: True draws a bar on stderr and the final counts; a function
        is called with the counts so far and the number of keys after each key (raising
        from it stops the run). Returns the counts (`Reencrypted`)."""
        return reencrypt(self._runner, ReencryptPlan(self._cfg), progress)

    def batch(self) -> Batch:
        """Queue operations of any handles (`b.user("alice").get("k")`, `b.on(limiter)`)
        and send them together when the batch's block ends: one round trip per node; each
        operation atomic on its own, answering (or raising) through the Pending it
        returned. See Batch."""
        return Batch(self)

    def close(self) -> None:
        """Close the connection (only if this Memory opened it)."""
        close_guards(self._runner)
        self._runner.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _actor(actor: str | None, agent: str | None) -> str | None:
    """The actor id of `context(actor=..., agent=...)`: `agent` is its other name."""
    if agent is None:
        return actor
    if actor is not None and actor != agent:
        raise InvalidScopeError(
            f"agent is another name for actor: give one of them, not actor={actor!r} and "
            f"agent={agent!r}",
            scope="actor",
        )
    return agent
