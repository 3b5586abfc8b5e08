"""Helpers shared by the module-system integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from framework.di import Application, Module


class Calls:
    """Records calls from hooks and handlers; tests wait on it instead of sleeping."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, ...]] = []
        self._changed = asyncio.Event()

    def add(self, *item: Any) -> None:
        self.items.append(item)
        self._changed.set()

    def names(self) -> list[Any]:
        return [item[0] for item in self.items]

    async def wait_for(
        self, predicate: Callable[[list[tuple[Any, ...]]], bool], timeout: float = 10.0
    ) -> None:
        """Return once `predicate(items)` holds; fail the test after `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate(self.items):
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"condition not met within {timeout} s; calls: {self.items}") from None


class MakeApp(Protocol):
    async def __call__(
        self,
        *imports: type[Module],
        providers: Sequence[Any] = (),
        processors: Sequence[type] = (),
        default_job_options: dict[str, Any] | None = None,
    ) -> Application: ...
