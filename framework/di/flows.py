"""Flow producers in the module system: `QueueModule.register_flow_producer("name")` provides and exports a
`FlowProducer` on the application's connection and prefix, injected with
`Annotated[FlowProducer, inject_flow_producer("name")]` (as @nestjs/bullmq's `registerFlowProducer` and
`@InjectFlowProducer`). Each producer is closed at shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from framework.di.connections import check_connection_name, connection_tokens
from framework.di.metadata import Inject
from framework.di.module import Module, dynamic_module
from framework.di.providers import provide
from framework.errors import ConfigurationError
from framework.queue import Queue
from framework.queue.flow import FlowProducer


@dataclass(frozen=True)
class FlowProducerToken:
    """The provider token of the `FlowProducer` registered under `name` (see `inject_flow_producer`)."""

    name: str

    def __str__(self) -> str:
        return f"FlowProducer {self.name!r}"


def inject_flow_producer(name: str) -> Inject:
    """Mark a constructor parameter to receive the `FlowProducer` registered as `name`.

    Example: `def __init__(self, flow: Annotated[FlowProducer, inject_flow_producer("reports")]) -> None`.
    """
    return Inject(FlowProducerToken(_check_name(name, "inject_flow_producer")))


def _check_name(name: object, where: str) -> str:
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"{where} takes a non-empty name, got {name!r}")
    return name


async def _producer(registry: object) -> AsyncIterator[FlowProducer]:
    from framework.di.queue_module import QueueRegistry

    assert isinstance(registry, QueueRegistry)

    def registered(name: str) -> Queue | None:
        # A registered queue brings its default job options (QueueSpec(..., default_job_options=...)).
        return registry.queue(name) if name in registry.names else None

    producer = FlowProducer(connection=registry.redis, prefix=registry.prefix, queues=registered)
    try:
        yield producer
    finally:
        await producer.close()


def register_flow_producer(*names: str, connection_name: str | None = None) -> type[Module]:
    """A module providing and exporting the named flow producers (`QueueModule.register_flow_producer`)."""
    where = "QueueModule.register_flow_producer"
    if not names:
        raise ConfigurationError(f"{where} needs at least one name")
    checked = [_check_name(n, where) for n in names]
    if len(set(checked)) != len(checked):
        raise ConfigurationError(f"{where} lists a name twice: {checked!r}")
    connection_name = check_connection_name(connection_name, where)
    registry_token = connection_tokens(connection_name)[2]
    tokens = [FlowProducerToken(n) for n in checked]
    from framework.di.queue_module import QueueModule

    return dynamic_module(
        f"{where}({', '.join(map(repr, checked))})",
        base=QueueModule,
        providers=[provide(t, use_factory=_producer, inject=[registry_token]) for t in tokens],
        exports=tokens,
    )
