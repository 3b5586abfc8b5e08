"""Where the services keep their own data: the application's Redis, under the nestq key prefix.

Each store gets an *area* whose keys share one hash tag, `{prefix:store.<area>}`, so a store's
multi-key operations stay on one Redis Cluster slot, like a queue's do, and the `store.` part keeps the
areas apart from queue names.
"""

from __future__ import annotations

from framework import Module, QueueConfig
from framework.settings import get_settings


class StoreKeys:
    """Key names of the services' stores, under the application's prefix."""

    def __init__(self, config: QueueConfig) -> None:
        self.prefix = config.prefix or get_settings().prefix

    def area(self, name: str) -> str:
        """The hash-tagged base of one store's keys: `{prefix:store.<name>}`."""
        return f"{{{self.prefix}:store.{name}}}"


def text(value: object) -> str:
    """A Redis reply (bytes: the shared client does not decode) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


class StorageModule(Module):
    """Provides `StoreKeys`; the `Redis` client itself comes from the global `QueueModule.for_root()`."""

    providers = [StoreKeys]
    exports = [StoreKeys]
