"""`QueueModule`: the Redis connection, queue defaults and named queues as injectable providers.

`QueueModule.for_root(...)` is global: it provides the shared `redis.asyncio.Redis` client (a
resource, closed at shutdown), the `QueueConfig` and the `QueueRegistry` to every module.
`QueueModule.register_queue("reports", ...)` provides and exports one `Queue` per name, injected with
`Annotated[Queue, inject_queue("reports")]`. A name registered by several modules is one `Queue`.

`for_root_async(use_factory=fn, inject=[...])` builds the `QueueConfig` from injected providers (a
settings object) at bootstrap; `register_queue_async(...)` does the same for a queue's defaults.
`for_root(..., name="analytics")` adds a named connection (connections.py), used by
`register_queue(..., connection_name="analytics")`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from framework.connection import AnyRedis, create_client
from framework.di.builder import MODULE_HINT_ATTR
from framework.di.connections import (
    CONNECTION_NAME_ATTR,
    check_connection_name,
    connection_tokens,
)
from framework.di.factories import factory_call
from framework.di.interceptors import GLOBAL_INTERCEPTORS_ATTR
from framework.di.metadata import QueueToken
from framework.di.module import Module, dynamic_module
from framework.di.providers import ProviderSpec, provide
from framework.errors import ConfigurationError
from framework.queue import JobOptions, Queue
from framework.queue.interceptors import check_interceptor
from framework.queue.options import coerce_options
from framework.queue.routing import check_partitions

QUEUE_SPECS_ATTR: Final = "__nestq_queue_specs__"

JobOptionsLike = JobOptions | Mapping[str, Any] | None


@dataclass(frozen=True)
class QueueSpec:
    """A queue to register, with defaults for its jobs (merged over the root defaults).

    `partitions=K` stores it as K hash-tagged partitions (see `Queue`); its processors and listeners
    take the count from here.
    """

    name: str
    default_job_options: JobOptions | None = None
    connection_name: str | None = None  # a `QueueModule.for_root(..., name=...)`; None: the default
    partitions: int = 1

    def __post_init__(self) -> None:
        try:
            check_partitions(self.partitions)
        except ValueError as exc:
            raise ConfigurationError(f"QueueSpec({self.name!r}): {exc}") from None

    @classmethod
    def of(cls, value: str | QueueSpec | Mapping[str, Any]) -> QueueSpec:
        """Accept "name", a QueueSpec, or {"name": ..., "default_job_options": {...}}."""
        if isinstance(value, QueueSpec):
            return value
        if isinstance(value, str):
            return cls(_check_name(value))
        if isinstance(value, Mapping):
            unknown = set(value) - {"name", "default_job_options", "connection_name", "partitions"}
            if unknown or "name" not in value:
                raise ConfigurationError(
                    f"QueueModule.register_queue got {dict(value)!r}; a queue is given as a name, "
                    "a QueueSpec, "
                    "or a dict with 'name' and optionally 'default_job_options', 'connection_name' and "
                    "'partitions'"
                )
            return cls(
                _check_name(value["name"]),
                _options(value.get("default_job_options"), value["name"]),
                check_connection_name(value.get("connection_name"), f"queue {value['name']!r}"),
                value.get("partitions", 1),
            )
        raise ConfigurationError(f"QueueModule.register_queue takes queue names or QueueSpec, got {value!r}")


@dataclass(frozen=True)
class QueueConfig:
    """What `QueueModule.for_root(...)` was given: shared by every queue, worker and listener."""

    connection: str | Redis | RedisCluster | None = None
    prefix: str | None = None
    default_job_options: JobOptions | None = None


class QueueRegistry:
    """Every `Queue` of the application by name, on one shared client; closes them at shutdown."""

    __nestq_missing_hint__: ClassVar[str] = (
        "QueueModule.register_queue(...) and @processor / @queue_events_listener classes need "
        "QueueModule.for_root(...) in the root module's imports."
    )

    def __init__(self, config: QueueConfig, redis: AnyRedis) -> None:
        self.config = config
        self.redis = redis
        self._specs: dict[str, QueueSpec] = {}
        self._queues: dict[str, Queue] = {}

    @property
    def prefix(self) -> str | None:
        return self.config.prefix

    def register(self, spec: QueueSpec) -> Queue:
        """Register `spec` (idempotent for equal specs) and return its queue."""
        known = self._specs.get(spec.name)
        if known is not None and known != spec:
            raise ConfigurationError(
                f"queue {spec.name!r} is registered twice with different default_job_options or partitions "
                f"({known!r} and {spec!r}); register it with one set"
            )
        self._specs[spec.name] = spec
        return self.queue(spec.name)

    def queue(self, name: str) -> Queue:
        """The queue registered as `name`."""
        queue = self._queues.get(name)
        if queue is None:
            if name not in self._specs:
                raise ConfigurationError(
                    f"queue {name!r} is not registered "
                    f"(registered: {', '.join(map(repr, self.names)) or 'none'}); "
                    f"add QueueModule.register_queue({name!r}) to a module's imports"
                )
            queue = Queue(
                name,
                connection=self.redis,
                prefix=self.config.prefix,
                default_job_options=self.job_options(name),
                partitions=self.partitions(name),
            )
            self._queues[name] = queue
        return queue

    @property
    def names(self) -> list[str]:
        return list(self._specs)

    def partitions(self, name: str) -> int:
        """The partition count `name` was registered with (1 when not registered)."""
        spec = self._specs.get(name)
        return spec.partitions if spec else 1

    def job_options(self, name: str) -> JobOptions | None:
        """Default job options of `name`: its own over the root's."""
        spec = self._specs.get(name)
        return merge_job_options(self.config.default_job_options, spec.default_job_options if spec else None)

    async def close(self) -> None:
        """Close every queue (the shared client stays open: it is a resource of its own)."""
        queues, self._queues = list(self._queues.values()), {}
        for queue in queues:
            await queue.close()


def merge_job_options(base: JobOptions | None, override: JobOptions | None) -> JobOptions | None:
    """Options set in `override` win over those set in `base`."""
    if base is None or override is None:
        return override or base
    merged = base.model_dump(exclude_unset=True) | override.model_dump(exclude_unset=True)
    return JobOptions.model_validate(merged)


async def redis_resource(config: QueueConfig) -> AsyncIterator[AnyRedis]:
    """The application's Redis client (a `RedisCluster` on a cluster); closed at shutdown unless the user
    passed their own."""
    client, owned = create_client(config.connection)
    try:
        yield client
    finally:
        if owned:
            await client.aclose()


async def registry_resource(config: QueueConfig, redis: AnyRedis) -> AsyncIterator[QueueRegistry]:
    """The queue registry; closes its queues at shutdown."""
    registry = QueueRegistry(config, redis)
    try:
        yield registry
    finally:
        await registry.close()


def _register(spec: QueueSpec, registry: QueueRegistry) -> Queue:
    return registry.register(spec)


class QueueModule(Module):
    """Entry point of the queue integration; use its two factory methods in `imports`."""

    @staticmethod
    def for_root(
        connection: str | Redis | RedisCluster | None = None,
        *,
        prefix: str | None = None,
        default_job_options: JobOptionsLike = None,
        interceptors: Sequence[object] = (),
        name: str | None = None,
    ) -> type[Module]:
        """The global queue module: import it once, in the root module.

        Args:
            connection: a `redis://` or `redis+cluster://` URL, a `redis.asyncio.Redis` or
                `redis.asyncio.cluster.RedisCluster` client (shared, not closed), or None for
                `NESTQ_REDIS_URL`, else the embedded server.
            prefix: key prefix of every queue (default `NESTQ_PREFIX`).
            default_job_options: defaults for every job of every queue (`JobOptions` or a dict).
            interceptors: run around every job of every processor, outside the processors' own
                `@use_interceptors`: classes with `async def intercept(self, job, call_next)` (resolved
                from the container; created in the root module if no module provides them) or instances.
            name: a second (third, ...) connection of the application, used by
                `register_queue(..., connection_name=name)`; None is the default connection.
        """
        where = "QueueModule.for_root" if name is None else f"QueueModule.for_root(name={name!r})"
        _check_connection(connection, where)
        config = QueueConfig(connection, prefix, _options(default_job_options, "for_root"))
        return _root_module(
            where, provide(connection_tokens(name)[0], use_value=config), name, interceptors, imports=()
        )

    @staticmethod
    def for_root_async(
        *,
        use_factory: Callable[..., Any],
        inject: Sequence[object] | None = None,
        imports: Sequence[type[Module]] = (),
        interceptors: Sequence[object] = (),
        name: str | None = None,
    ) -> type[Module]:
        """`for_root` whose configuration comes from a factory run at bootstrap, with injected arguments.

        Example: `QueueModule.for_root_async(imports=[SettingsModule], inject=[Settings],
        use_factory=lambda s: QueueConfig(connection=s.redis_url, prefix=s.prefix))`.

        Args:
            use_factory: a function (sync or `async`) returning a `QueueConfig(connection=..., prefix=...,
                default_job_options=...)`.
            inject: tokens whose providers are passed to `use_factory` positionally; None reads its
                parameters' type hints.
            imports: modules whose exports the factory needs (global modules need no import).
            interceptors: as for `for_root`.
            name: as for `for_root`.
        """
        where = "QueueModule.for_root_async" if name is None else f"QueueModule.for_root_async(name={name!r})"
        tokens, call = factory_call(use_factory, inject, where=where)

        async def make_config(*values: Any) -> QueueConfig:
            return _checked_config(await call(*values), where)

        spec = provide(connection_tokens(name)[0], use_factory=make_config, inject=tokens)
        return _root_module(where, spec, name, interceptors, imports=imports)

    @staticmethod
    def register_queue(
        *queues: str | QueueSpec | Mapping[str, Any], connection_name: str | None = None
    ) -> type[Module]:
        """A module providing and exporting the named queues (`inject_queue(name)` to inject one).

        Args:
            *queues: names, `QueueSpec(name, default_job_options=...)`, or dicts with the same keys.
            connection_name: the `QueueModule.for_root(..., name=...)` connection of these queues
                (None: the default connection).
        """
        if not queues:
            raise ConfigurationError("QueueModule.register_queue needs at least one queue name")
        connection_name = check_connection_name(connection_name, "QueueModule.register_queue")
        specs = [_on_connection(QueueSpec.of(q), connection_name) for q in queues]
        names = [s.name for s in specs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigurationError(
                f"QueueModule.register_queue lists {', '.join(map(repr, duplicates))} twice"
            )
        tokens = [QueueToken(s.name) for s in specs]
        return dynamic_module(
            f"QueueModule.register_queue({', '.join(map(repr, names))})",
            base=QueueModule,
            providers=[
                provide(
                    token,
                    use_factory=functools.partial(_register, spec),
                    inject=[connection_tokens(spec.connection_name)[2]],
                )
                for token, spec in zip(tokens, specs, strict=True)
            ],
            exports=tokens,
            attributes={QUEUE_SPECS_ATTR: tuple(specs)},
        )

    @staticmethod
    def register_flow_producer(*names: str, connection_name: str | None = None) -> type[Module]:
        """A module providing and exporting a `FlowProducer` per name, on the application's connection
        (`inject_flow_producer(name)` to inject one). See framework/di/flows.py."""
        from framework.di.flows import register_flow_producer

        return register_flow_producer(*names, connection_name=connection_name)

    @staticmethod
    def register_queue_async(
        name: str,
        *,
        use_factory: Callable[..., Any],
        inject: Sequence[object] | None = None,
        imports: Sequence[type[Module]] = (),
        connection_name: str | None = None,
    ) -> type[Module]:
        """`register_queue(name)` whose default job options come from a factory run at bootstrap.

        Args:
            name: the queue's name (`inject_queue(name)` injects it).
            use_factory: a function (sync or `async`) returning the queue's default job options
                (`JobOptions` or a dict), a `QueueSpec` of this name (or `{"default_job_options": ...}`),
                or None for no defaults of its own.
            inject: tokens passed to `use_factory` positionally; None reads its parameters' type hints.
            imports: modules whose exports the factory needs.
            connection_name: as for `register_queue`.
        """
        where = f"QueueModule.register_queue_async({name!r})"
        spec = QueueSpec(_check_name(name), None, check_connection_name(connection_name, where))
        tokens, call = factory_call(use_factory, inject, where=where)

        async def make_queue(registry: QueueRegistry, *values: Any) -> Queue:
            return registry.register(_checked_spec(await call(*values), spec, where))

        token = QueueToken(spec.name)
        registry_token = connection_tokens(spec.connection_name)[2]
        return dynamic_module(
            where,
            base=QueueModule,
            imports=imports,
            providers=[provide(token, use_factory=make_queue, inject=[registry_token, *tokens])],
            exports=[token],
            attributes={QUEUE_SPECS_ATTR: (spec,), MODULE_HINT_ATTR: _factory_hint(where)},
        )


def _root_module(
    where: str,
    config: ProviderSpec,
    name: str | None,
    interceptors: Sequence[object],
    *,
    imports: Sequence[type[Module]],
) -> type[Module]:
    """The global module of one connection: its config (given), Redis client and registry."""
    name = check_connection_name(name, where)
    config_token, redis_token, registry_token = connection_tokens(name)
    return dynamic_module(
        f"{where}()",
        base=QueueModule,
        is_global=True,
        imports=imports,
        providers=[
            config,
            provide(redis_token, use_factory=redis_resource, inject=[config_token]),
            provide(registry_token, use_factory=registry_resource, inject=[config_token, redis_token]),
        ],
        exports=[config_token, redis_token, registry_token],
        attributes={
            GLOBAL_INTERCEPTORS_ATTR: _interceptors(interceptors),
            CONNECTION_NAME_ATTR: name,
            MODULE_HINT_ATTR: _factory_hint(where),
        },
    )


def _factory_hint(where: str) -> str:
    return (
        f"{where}(use_factory=...) sees only the modules in its imports=[...] and global modules: pass "
        "the module that provides and exports {token} as imports=[ThatModule]."
    )


def _check_connection(connection: object, where: str) -> None:
    if connection is not None and not isinstance(connection, str | Redis | RedisCluster):
        raise ConfigurationError(
            f"{where}(connection=...) takes a redis:// URL (or redis+cluster://), a redis.asyncio.Redis, a "
            f"redis.asyncio.cluster.RedisCluster or None, got {connection!r}"
        )


def _checked_config(value: object, where: str) -> QueueConfig:
    """The factory's `QueueConfig`, its default job options coerced; a clear error for anything else."""
    if not isinstance(value, QueueConfig):
        raise ConfigurationError(
            f"{where}(use_factory=...) returned {value!r}; it must return "
            "QueueConfig(connection=..., prefix=..., default_job_options=...)"
        )
    _check_connection(value.connection, where)
    return dataclasses.replace(value, default_job_options=_options(value.default_job_options, where))


def _checked_spec(value: object, spec: QueueSpec, where: str) -> QueueSpec:
    if value is None:
        return spec
    if isinstance(value, QueueSpec):
        if value.name != spec.name or value.connection_name not in (None, spec.connection_name):
            raise ConfigurationError(
                f"{where}(use_factory=...) returned {value!r}, which is not queue {spec.name!r} "
                f"on {spec.connection_name or 'the default'} connection"
            )
        return dataclasses.replace(value, connection_name=spec.connection_name)
    if isinstance(value, Mapping) and "default_job_options" in value:  # QueueSpec's fields as a dict
        return _checked_spec(QueueSpec.of({"name": spec.name, **value}), spec, where)
    if isinstance(value, JobOptions | Mapping):
        return dataclasses.replace(spec, default_job_options=_options(value, where))
    raise ConfigurationError(
        f"{where}(use_factory=...) returned {value!r}; it must return the queue's default job options "
        "(JobOptions or a dict), a QueueSpec, or None"
    )


def _on_connection(spec: QueueSpec, connection_name: str | None) -> QueueSpec:
    if connection_name is None:
        return spec
    if spec.connection_name not in (None, connection_name):
        raise ConfigurationError(
            f"queue {spec.name!r} names the connection {spec.connection_name!r}, but register_queue was "
            f"given connection_name={connection_name!r}; keep one"
        )
    return dataclasses.replace(spec, connection_name=connection_name)


def registered_queues(module: type[Module]) -> tuple[QueueSpec, ...]:
    """The queue specs a `register_queue(...)` module carries (empty for any other module)."""
    specs = module.__dict__.get(QUEUE_SPECS_ATTR, ())
    return tuple(specs)


def _interceptors(value: Sequence[object]) -> tuple[object, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigurationError(
            f"QueueModule.for_root(interceptors=...) takes a list of interceptor classes, got {value!r}"
        )
    for interceptor in value:
        check_interceptor(interceptor, "QueueModule.for_root(interceptors=...)")
    return tuple(value)


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name or any(c in name for c in "{}:"):
        raise ConfigurationError(
            f"queue name must be a non-empty string without '{{', '}}' or ':', got {name!r}"
        )
    return name


def _options(value: object, where: object) -> JobOptions | None:
    if value is not None and not isinstance(value, JobOptions | Mapping):
        raise ConfigurationError(
            f"default_job_options of {where!r} must be JobOptions or a dict, got {value!r}"
        )
    try:
        return coerce_options(dict(value) if isinstance(value, Mapping) else value)
    except ValueError as exc:
        raise ConfigurationError(f"default_job_options of {where!r}: {exc}") from None
