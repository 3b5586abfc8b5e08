"""Builds the `Worker` of a processor: its dispatcher, its options, and its worker-local hooks."""

from __future__ import annotations

from collections.abc import Sequence

from framework.di.dispatcher import JobDispatcher, Resolve, as_is
from framework.di.explorer import ProcessorDefinition
from framework.di.queue_module import QueueRegistry
from framework.queue import Worker
from framework.queue.interceptors import Interceptor


def create_worker(
    definition: ProcessorDefinition,
    instance: object,
    registry: QueueRegistry,
    *,
    concurrency: int | None = None,
    interceptors: Sequence[Interceptor] = (),
    resolve: Resolve | None = None,
) -> Worker:
    """A new (not yet running) worker for `definition`, its hooks registered with `worker.on(...)`.

    Args:
        definition: the processor, as the explorer found it.
        instance: the processor's singleton.
        registry: gives the shared connection, the prefix and the queue's default job options.
        concurrency: overrides the processor's own (the CLI's `--concurrency`).
        interceptors: the global interceptors (outside the processor's own).
        resolve: turns the processor's interceptor tokens into instances (from its module's view).
    """
    resolve = resolve or as_is
    options = dict(definition.worker_options)
    outer = [*interceptors, *(resolve(token) for token in definition.interceptors)]
    if outer:
        options["interceptors"] = outer
    if concurrency is not None:
        options["concurrency"] = concurrency
    # Sandboxing is per method, done by the dispatcher (the dispatcher itself is not importable by name).
    options.pop("sandbox", None)
    options.pop("max_jobs_per_child", None)
    dispatcher = JobDispatcher(instance, definition, resolve)
    worker = Worker(
        definition.queue,
        dispatcher,
        connection=registry.redis,
        prefix=registry.prefix,
        default_job_options=registry.job_options(definition.queue),
        partitions=registry.partitions(definition.queue),
        **options,
    )
    dispatcher.bind(worker)
    for event, method in definition.hooks:
        worker.on(event, getattr(instance, method))
    return worker
