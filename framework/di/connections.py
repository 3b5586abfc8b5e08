"""Named connections: `QueueModule.for_root(..., name="analytics")` beside the default one.

The default connection's providers keep their class tokens (`QueueConfig`, `Redis`, `QueueRegistry`);
a named one's are `ConnectionToken(name, part)`. `register_queue(..., connection_name=...)` queues
inject the registry of their connection, and the application runs their processors and listeners on
it. `check_connections(graph)` reports, before anything is built, a connection name no `for_root`
declares, a name declared twice, and a queue registered on two connections.

A provider gets a named connection's client with
`Annotated[Redis, inject(ConnectionToken("analytics", "redis"))]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from framework.errors import ConfigurationError

if TYPE_CHECKING:
    from framework.di.scanner import ModuleGraph

CONNECTION_NAME_ATTR: Final = "__nestq_connection_name__"  # on for_root modules: None or the name
ConnectionPart = Literal["config", "redis", "registry"]
_PART_LABEL: Final = {"config": "QueueConfig", "redis": "Redis", "registry": "QueueRegistry"}


@dataclass(frozen=True)
class ConnectionToken:
    """The provider token of a named connection's `QueueConfig`, `Redis` client or `QueueRegistry`."""

    name: str
    part: ConnectionPart

    def __str__(self) -> str:
        return f"{_PART_LABEL[self.part]} of connection {self.name!r}"

    @property
    def __nestq_missing_hint__(self) -> str:
        return (
            f"No QueueModule.for_root(..., name={self.name!r}) in the application: add it to the root "
            "module's imports, or use the default connection (no connection_name)."
        )


def connection_tokens(name: str | None) -> tuple[object, object, object]:
    """The (config, redis, registry) tokens of the connection `name` (None: the default one)."""
    if name is None:
        from redis.asyncio import Redis

        from framework.di.queue_module import QueueConfig, QueueRegistry

        return QueueConfig, Redis, QueueRegistry
    return (
        ConnectionToken(name, "config"),
        ConnectionToken(name, "redis"),
        ConnectionToken(name, "registry"),
    )


def check_connection_name(name: object, where: str) -> str | None:
    """`name` if it is None or a non-empty string; else a ConfigurationError naming `where`."""
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigurationError(f"{where}: a connection name is a non-empty string, got {name!r}")
    return name


def check_connections(graph: ModuleGraph) -> None:
    """Every connection name used is declared once; every queue lives on one connection.

    Raises:
        ConfigurationError: naming the module, the queue and the connection.
    """
    from framework.di.queue_module import registered_queues

    declared: dict[str | None, str] = {}
    for node in graph.modules:
        if CONNECTION_NAME_ATTR not in node.module.__dict__:
            continue
        name = node.module.__dict__[CONNECTION_NAME_ATTR]
        if name in declared and name is not None:
            raise ConfigurationError(
                f"two modules declare the connection {name!r} ({declared[name]} and {node.name}); "
                "import QueueModule.for_root(..., name=...) once per name"
            )
        declared.setdefault(name, node.name)
    known = ", ".join("default" if n is None else repr(n) for n in declared) or "none"
    queues: dict[str, tuple[str | None, str]] = {}
    for node in graph.modules:
        for spec in registered_queues(node.module):
            if spec.connection_name is not None and spec.connection_name not in declared:
                raise ConfigurationError(
                    f"{node.name} registers queue {spec.name!r} on the connection {spec.connection_name!r}, "
                    f"which no QueueModule.for_root(..., name={spec.connection_name!r}) declares "
                    f"(connections: {known}); add it to the root module's imports"
                )
            other = queues.setdefault(spec.name, (spec.connection_name, node.name))
            if other[0] != spec.connection_name:
                raise ConfigurationError(
                    f"queue {spec.name!r} is registered on two connections: {_label(other[0])} by {other[1]} "
                    f"and {_label(spec.connection_name)} by {node.name}; a queue name lives on one connection"
                )


def _label(name: str | None) -> str:
    return "the default connection" if name is None else f"connection {name!r}"
