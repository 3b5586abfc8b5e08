"""Feeds `@queue_events_listener` classes from their queue's event stream: one reader per queue."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable
from typing import Any

import structlog

from framework.di.explorer import ListenerDefinition
from framework.di.providers import short_name
from framework.di.queue_module import QueueRegistry
from framework.queue import QueueEvent, QueueEvents

log = structlog.get_logger("nestq.di")


class ListenerReader:
    """Reads one queue's events and calls every listener method subscribed to each event."""

    def __init__(self, queue: str, registry: QueueRegistry) -> None:
        self.queue = queue
        self._registry = registry
        self._targets: dict[str, list[tuple[Callable[..., Any], bool, str]]] = {}
        self._events: QueueEvents | None = None
        self._task: asyncio.Task[None] | None = None

    def add(self, definition: ListenerDefinition, instance: object) -> None:
        """Subscribe the methods of one listener instance."""
        for event, method, takes_event in definition.handlers:
            label = f"{short_name(definition.cls)}.{method}"
            self._targets.setdefault(event, []).append((getattr(instance, method), takes_event, label))

    async def start(self) -> None:
        """Pin the stream position (no event after this call is missed), then read in a task."""
        events = QueueEvents(
            self.queue,
            connection=self._registry.redis,
            prefix=self._registry.prefix,
            partitions=self._registry.partitions(self.queue),
        )
        await events.start()
        self._events = events
        self._task = asyncio.create_task(self._read(events), name=f"nestq-listener-{self.queue}")

    async def _read(self, events: QueueEvents) -> None:
        try:
            async for event in events:
                for callback, takes_event, label in self._targets.get(event.event, ()):
                    await self._call(callback, takes_event, label, event)
        except Exception:
            log.exception("queue event reader stopped", queue=self.queue)

    async def _call(
        self, callback: Callable[..., Any], takes_event: bool, label: str, event: QueueEvent
    ) -> None:
        try:
            result = callback(event) if takes_event else callback()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception(
                "queue event listener raised; ignored",
                listener=label,
                queue=self.queue,
                queue_event=event.event,
                job_id=event.job_id,
            )

    async def close(self) -> None:
        """Stop reading (a listener call in progress is cancelled) and release the connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        events, self._events = self._events, None
        if events is not None:
            await events.close()
