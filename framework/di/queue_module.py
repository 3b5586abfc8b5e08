"""`QueueModule`: the Redis connection, queue defaults and named queues as injectable providers.

`QueueModule.for_root(...)` is global: it provides the shared `redis.asyncio.Redis` client (a
resource, closed at shutdown), the `QueueConfig` and the `QueueRegistry` to every module.
`QueueModule.register_queue("reports", ...)` provides and exports one `Queue` per name, injected with
`Annotated[Queue, inject_queue("reports")]`. A name registered by several modules is one `Queue`.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from redis.asyncio import Redis

from framework.connection import create_redis
from framework.di.interceptors import GLOBAL_INTERCEPTORS_ATTR
from framework.di.metadata import QueueToken
from framework.di.module import Module, dynamic_module
from framework.di.providers import provide
from framework.errors import ConfigurationError
from framework.queue import JobOptions, Queue
from framework.queue.interceptors import check_interceptor
from framework.queue.options import coerce_options

QUEUE_SPECS_ATTR: Final = "__nestq_queue_specs__"

JobOptionsLike = JobOptions | Mapping[str, Any] | None


@dataclass(frozen=True)
class QueueSpec:
    """A queue to register, with defaults for its jobs (merged over the root defaults)."""

    name: str
    default_job_options: JobOptions | None = None

    @classmethod
    def of(cls, value: str | QueueSpec | Mapping[str, Any]) -> QueueSpec:
        """Accept "name", a QueueSpec, or {"name": ..., "default_job_options": {...}}."""
        if isinstance(value, QueueSpec):
            return value
        if isinstance(value, str):
            return cls(_check_name(value))
        if isinstance(value, Mapping):
            unknown = set(value) - {"name", "default_job_options"}
            if unknown or "name" not in value:
                raise ConfigurationError(
                    f"QueueModule.register_queue got {dict(value)!r}; a queue is given as a name, "
                    "a QueueSpec, "
                    "or a dict with 'name' and optionally 'default_job_options'"
                )
            return cls(_check_name(value["name"]), _options(value.get("default_job_options"), value["name"]))
        raise ConfigurationError(f"QueueModule.register_queue takes queue names or QueueSpec, got {value!r}")


@dataclass(frozen=True)
class QueueConfig:
    """What `QueueModule.for_root(...)` was given: shared by every queue, worker and listener."""

    connection: str | Redis | None = None
    prefix: str | None = None
    default_job_options: JobOptions | None = None


class QueueRegistry:
    """Every `Queue` of the application by name, on one shared client; closes them at shutdown."""

    __nestq_missing_hint__: ClassVar[str] = (
        "QueueModule.register_queue(...) and @processor / @queue_events_listener classes need "
        "QueueModule.for_root(...) in the root module's imports."
    )

    def __init__(self, config: QueueConfig, redis: Redis) -> None:
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
                f"queue {spec.name!r} is registered twice with different default_job_options "
                f"({known.default_job_options!r} and {spec.default_job_options!r}); register it with one set"
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
            )
            self._queues[name] = queue
        return queue

    @property
    def names(self) -> list[str]:
        return list(self._specs)

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


async def redis_resource(config: QueueConfig) -> AsyncIterator[Redis]:
    """The application's Redis client; closed at shutdown unless the user passed their own."""
    client, owned = create_redis(config.connection)
    try:
        yield client
    finally:
        if owned:
            await client.aclose()


async def registry_resource(config: QueueConfig, redis: Redis) -> AsyncIterator[QueueRegistry]:
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
        connection: str | Redis | None = None,
        *,
        prefix: str | None = None,
        default_job_options: JobOptionsLike = None,
        interceptors: Sequence[object] = (),
    ) -> type[Module]:
        """The global queue module: import it once, in the root module.

        Args:
            connection: a `redis://` URL, a `redis.asyncio.Redis` client (shared, not closed), or None
                for `NESTQ_REDIS_URL`, else the embedded server.
            prefix: key prefix of every queue (default `NESTQ_PREFIX`).
            default_job_options: defaults for every job of every queue (`JobOptions` or a dict).
            interceptors: run around every job of every processor, outside the processors' own
                `@use_interceptors`: classes with `async def intercept(self, job, call_next)` (resolved
                from the container; created in the root module if no module provides them) or instances.
        """
        if connection is not None and not isinstance(connection, str | Redis):
            raise ConfigurationError(
                f"QueueModule.for_root(connection=...) takes a redis:// URL, a redis.asyncio.Redis or None, "
                f"got {connection!r}"
            )
        config = QueueConfig(connection, prefix, _options(default_job_options, "for_root"))
        return dynamic_module(
            "QueueModule.for_root()",
            base=QueueModule,
            is_global=True,
            providers=[
                provide(QueueConfig, use_value=config),
                provide(Redis, use_factory=redis_resource),
                provide(QueueRegistry, use_factory=registry_resource),
            ],
            exports=[QueueConfig, Redis, QueueRegistry],
            attributes={GLOBAL_INTERCEPTORS_ATTR: _interceptors(interceptors)},
        )

    @staticmethod
    def register_queue(*queues: str | QueueSpec | Mapping[str, Any]) -> type[Module]:
        """A module providing and exporting the named queues (`inject_queue(name)` to inject one).

        Args:
            *queues: names, `QueueSpec(name, default_job_options=...)`, or dicts with the same keys.
        """
        if not queues:
            raise ConfigurationError("QueueModule.register_queue needs at least one queue name")
        specs = [QueueSpec.of(q) for q in queues]
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
                provide(token, use_factory=functools.partial(_register, spec), inject=[QueueRegistry])
                for token, spec in zip(tokens, specs, strict=True)
            ],
            exports=tokens,
            attributes={QUEUE_SPECS_ATTR: tuple(specs)},
        )


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
