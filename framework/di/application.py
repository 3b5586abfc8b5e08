"""`Application`: a module tree, compiled, instantiated and run.

    app = await Application.create(AppModule)      # scan, build, instantiate, init hooks
    await app.start(workers=True)                  # one Worker per @processor, event listeners
    ...
    await app.close()                              # graceful: workers, destroy hooks, resources

or `async with Application.create(AppModule) as app: ...`, or `await app.serve()` in a process that
runs until SIGINT / SIGTERM.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, overload

import structlog

from framework.di.builder import ContainerPlan, build, instantiate, shutdown_resources
from framework.di.connections import check_connections, connection_tokens
from framework.di.explorer import Exploration, ProcessorDefinition, explore
from framework.di.interceptors import global_interceptors
from framework.di.lifecycle import run_start_hook, run_stop_hook
from framework.di.listeners import ListenerReader
from framework.di.metadata import QueueToken
from framework.di.module import Module, module_name
from framework.di.providers import ProviderSpec, describe_token, provide
from framework.di.queue_module import QueueRegistry
from framework.di.scanner import ModuleNode, scan
from framework.di.schedulers import upsert_processor_schedulers
from framework.di.workers import create_worker
from framework.errors import ConfigurationError, MissingProviderError
from framework.queue import Queue, Worker
from framework.queue.interceptors import Interceptor, check_interceptor
from framework.queue.shutdown import ShutdownSignals

T = TypeVar("T")

log = structlog.get_logger("nestq.app")

DEFAULT_SHUTDOWN_TIMEOUT = 30.0
WORKER_STOP_MARGIN = 10.0  # seconds past the grace period before a stuck worker is cancelled

Workers = bool | str | Sequence[str]


class ApplicationContext(Awaitable["Application"]):
    """What `Application.create(...)` returns: await it, or use it with `async with` (closes at exit)."""

    def __init__(self, factory: Callable[[], Coroutine[Any, Any, Application]]) -> None:
        self._factory = factory
        self._app: Application | None = None

    def __await__(self) -> Generator[Any, None, Application]:
        return self._factory().__await__()

    async def __aenter__(self) -> Application:
        self._app = await self._factory()
        return self._app

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        app, self._app = self._app, None
        if app is not None:
            await app.close()


class Application:
    """A running module tree. Create it with `Application.create(AppModule)`."""

    def __init__(self, plan: ContainerPlan, exploration: Exploration, instances: dict[str, object]) -> None:
        self._plan = plan
        self._exploration = exploration
        self._instances = instances
        self._workers: dict[str, Worker] = {}
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._stopping: list[Worker] = []  # workers being closed (a second signal forces them)
        self._forcing: set[asyncio.Future[None]] = set()
        self._readers: list[ListenerReader] = []
        self._started = False
        self._closed = False
        self._close_lock = asyncio.Lock()
        self._crashed = asyncio.Event()
        self._failure: BaseException | None = None

    # -- creation -------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls, module: type[Module], *, overrides: Mapping[object, object] | None = None
    ) -> ApplicationContext:
        """Scan `module`'s tree, check it, create every provider and run the init hooks.

        Args:
            module: the root module.
            overrides: replacement providers by token (mostly for tests): a `provide(...)` spec is
                used as is, anything else as the value (`{Mailer: FakeMailer()}`).

        Returns:
            An awaitable of the `Application`, also usable as `async with` (the app closes at exit).

        Raises:
            ConfigurationError: the module graph is wired wrongly (the message says how to fix it).
        """
        return ApplicationContext(lambda: cls._bootstrap(module, overrides or {}))

    @classmethod
    async def _bootstrap(cls, module: type[Module], overrides: Mapping[object, object]) -> Application:
        if not structlog.is_configured():
            # A program that set up no logging of its own gets nestq's (NESTQ_LOG_FORMAT/LEVEL), as the CLI
            # does; one that configured structlog keeps its setup.
            from framework.logging import configure_logging

            configure_logging()
        specs = {
            token: value if isinstance(value, ProviderSpec) else provide(token, use_value=value)
            for token, value in overrides.items()
        }
        graph = scan(module, specs)
        check_connections(graph)
        plan = build(graph)
        exploration = explore(graph)
        instances = await instantiate(plan)
        app = cls(plan, exploration, instances)
        try:
            await run_start_hook("on_module_init", app._ordered_instances())
            await run_start_hook("on_application_bootstrap", app._ordered_instances())
        except BaseException:
            await shutdown_resources(plan)
            raise
        log.debug("application created", module=module_name(module), providers=len(plan.units))
        return app

    # -- access ---------------------------------------------------------------------------------------

    @property
    def module(self) -> type[Module]:
        """The root module."""
        return self._plan.graph.root.module

    @property
    def container(self) -> Any:
        """The compiled `dependency_injector.containers.DynamicContainer`."""
        return self._plan.container

    @property
    def workers(self) -> Mapping[str, Worker]:
        """The running workers by queue name (empty before `start`)."""
        return dict(self._workers)

    @property
    def exploration(self) -> Exploration:
        """The processors and listeners the explorer found."""
        return self._exploration

    @overload
    def get(self, token: type[T]) -> T: ...
    @overload
    def get(self, token: object) -> Any: ...
    def get(self, token: object) -> Any:
        """The instance provided for `token` (the root module's, else the first module's that has one).

        A module class gives that module's instance.
        """
        graph = self._plan.graph
        binding = graph.root.bindings.get(token) or next(iter(graph.providers_of(token)), None)
        if binding is not None:
            return self._instances[binding.key]
        if isinstance(token, type) and issubclass(token, Module):
            node = graph.node_of(token)
            if node is not None:
                return self._instances[node.key]
        raise MissingProviderError(
            f"no module of {graph.root.name} provides {describe_token(token)}; add it to a module's providers"
        )

    def queue(self, name: str) -> Queue:
        """The `Queue` registered as `name` by `QueueModule.register_queue(...)`."""
        registered = self._plan.graph.providers_of(QueueToken(name))
        if not registered:
            known = ", ".join(map(repr, self._exploration.queues)) or "none"
            raise ConfigurationError(
                f"queue {name!r} is not registered (registered: {known}); "
                f"add QueueModule.register_queue({name!r}) to a module's imports"
            )
        queue = self._instances[registered[0].key]
        assert isinstance(queue, Queue)
        return queue

    # -- running --------------------------------------------------------------------------------------

    async def start(
        self, workers: Workers = True, *, listeners: bool = True, concurrency: int | None = None
    ) -> None:
        """Start workers and queue event listeners; returns once they run.

        Args:
            workers: True for every processor, False for none (a producer-only process), or the
                queue names whose processors to run.
            listeners: run the `@queue_events_listener` classes.
            concurrency: overrides every started processor's concurrency.

        Raises:
            ConfigurationError: a requested queue has no processor.
        """
        if self._closed:
            raise RuntimeError("this application is closed; create a new one")
        if self._started:
            raise RuntimeError("this application is already started")
        selected = self._select(workers)
        self._started = True
        # Job schedulers: upsert the @cron / @every schedules of the processors about to run (schedulers.py).
        # One processor per queue, so per-processor calls see every scheduler id of a queue at once.
        for definition in selected:
            await upsert_processor_schedulers(self._registry(definition.queue), [definition])
        for definition in selected:
            worker = self._create_worker(
                definition, self._registry(definition.queue), concurrency=concurrency
            )
            self._workers[definition.queue] = worker
            task = asyncio.create_task(worker.run(), name=f"nestq-worker-{definition.queue}")
            task.add_done_callback(self._worker_done)
            self._worker_tasks.append(task)
        if listeners and self._exploration.listeners:
            readers: dict[str, ListenerReader] = {}
            for listener in self._exploration.listeners:
                reader = readers.get(listener.queue) or ListenerReader(
                    listener.queue, self._registry(listener.queue)
                )
                readers[listener.queue] = reader
                reader.add(listener, self._instances[listener.binding.key])
            for reader in readers.values():
                await reader.start()
                self._readers.append(reader)
        log.info(
            "application started",
            module=self._plan.graph.root.name,
            workers=list(self._workers),
            listeners=[r.queue for r in self._readers],
            loop=type(asyncio.get_running_loop()).__module__.partition(".")[0],  # "asyncio" or "uvloop"
        )

    async def serve(
        self,
        workers: Workers = True,
        *,
        listeners: bool = True,
        concurrency: int | None = None,
        shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> None:
        """Start, run until SIGINT or SIGTERM, then shut down gracefully.

        Workers stop taking jobs and get `shutdown_timeout` seconds to finish the active ones; what
        is left goes back to the queue. A second signal stops at once. Raises the error of a worker
        that crashed (after shutting down).
        """
        signals = ShutdownSignals()
        signals.on_second(self._force_workers)
        signals.install()
        try:
            await self.start(workers, listeners=listeners, concurrency=concurrency)
            waiters = [
                asyncio.create_task(signals.graceful.wait()),
                asyncio.create_task(self._crashed.wait()),
            ]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
            received = signals.received[0] if signals.received else None
            await self.close(timeout=shutdown_timeout, signal=received)
        finally:
            if not self._closed:
                await self.close(timeout=shutdown_timeout)
            signals.remove()
        if self._failure is not None:
            raise self._failure

    def _force_workers(self) -> None:
        """The second signal: end the grace period now; unfinished jobs go back to their queues."""
        for worker in [*self._stopping, *self._workers.values()]:
            forcing = asyncio.ensure_future(worker.close(timeout=0))
            self._forcing.add(forcing)
            forcing.add_done_callback(self._forcing.discard)

    async def run_until_drained(self, *queues: str, include_delayed: bool = False) -> None:
        """Burst mode: run the processors of `queues` (all when none given) until nothing is ready.

        Uses fresh workers (with the processors' hooks), so it works whether or not `start` ran.
        """
        selected = self._select(list(queues) if queues else True)
        workers = [self._create_worker(d, self._registry(d.queue)) for d in selected]
        await asyncio.gather(*(w.run_until_drained(include_delayed=include_delayed) for w in workers))

    async def close(self, timeout: float | None = None, *, signal: str | None = None) -> None:
        """Graceful shutdown: close workers (active jobs get `timeout` seconds), stop listeners, run
        `on_module_destroy` then `on_application_shutdown` (reverse dependency order), release resources.

        Safe to call more than once.
        """
        async with self._close_lock:
            if self._closed:
                return
            self._closed = True
            await self._close_workers(timeout)
            for reader in self._readers:
                await reader.close()
            self._readers = []
            reverse = list(reversed(self._ordered_instances()))
            await run_stop_hook("on_module_destroy", reverse)
            await run_stop_hook("on_application_shutdown", reverse, signal)
            await shutdown_resources(self._plan)
            log.info("application closed", module=self._plan.graph.root.name)

    async def __aenter__(self) -> Application:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- helpers --------------------------------------------------------------------------------------

    async def _close_workers(self, timeout: float | None) -> None:
        workers, self._workers = list(self._workers.values()), {}
        tasks, self._worker_tasks = self._worker_tasks, []
        self._stopping = workers
        # A worker that does not stop within its grace period (plus a margin) must not hang the
        # process forever: its task is cancelled, which hands its jobs back to the queue.
        bound = None if timeout is None else timeout + WORKER_STOP_MARGIN
        try:
            async with asyncio.timeout(bound):
                results = await asyncio.gather(
                    *(w.close(timeout=timeout) for w in workers), return_exceptions=True
                )
                for worker, result in zip(workers, results, strict=True):
                    if isinstance(result, BaseException):
                        log.error("worker close failed", queue=worker.name, error=repr(result))
                await asyncio.gather(*tasks, return_exceptions=True)
        except TimeoutError:
            log.error(
                "workers did not stop in time; cancelling them",
                queues=[w.name for w in workers],
                waited_seconds=bound,
            )
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=WORKER_STOP_MARGIN)
        finally:
            self._stopping = []

    def _create_worker(
        self, definition: ProcessorDefinition, registry: QueueRegistry, *, concurrency: int | None = None
    ) -> Worker:
        graph = self._plan.graph
        root = self._resolver(graph.root)
        return create_worker(
            definition,
            self._instances[definition.binding.key],
            registry,
            concurrency=concurrency,
            interceptors=[root(token) for token in global_interceptors(graph)],
            resolve=self._resolver(definition.binding.module),
        )

    def _resolver(self, node: ModuleNode) -> Callable[[object], Interceptor]:
        """Interceptor tokens as `node` sees them (the scanner made sure it sees every class it uses)."""

        def resolve(token: object) -> Interceptor:
            if isinstance(token, type):
                binding = self._plan.graph.visible(node, token)
                assert binding is not None, token
                token = self._instances[binding.key]
            check_interceptor(token, f"interceptor of {node.name}")
            return token  # type: ignore[return-value]

        return resolve

    def _ordered_instances(self) -> list[object]:
        return [self._instances[u.key] for u in self._plan.units]

    def _registry(self, queue: str | None = None) -> QueueRegistry:
        """The registry of `queue`'s connection (None: the default connection's)."""
        spec = self._exploration.queues.get(queue) if queue is not None else None
        connection = spec.connection_name if spec is not None else None
        bindings = self._plan.graph.providers_of(connection_tokens(connection)[2])
        if not bindings:
            named = "" if connection is None else f"name={connection!r}"
            raise ConfigurationError(
                f"{self._plan.graph.root.name} does not import QueueModule.for_root({named or '...'}); "
                "add it to its imports"
            )
        registry = self._instances[bindings[0].key]
        assert isinstance(registry, QueueRegistry)
        return registry

    def _select(self, workers: Workers) -> list[ProcessorDefinition]:
        processors = list(self._exploration.processors)
        if workers is True:
            return processors
        if workers is False:
            return []
        names: Iterable[str] = [workers] if isinstance(workers, str) else workers
        selected: list[ProcessorDefinition] = []
        for name in dict.fromkeys(names):
            definition = self._exploration.processor_for(name)
            if definition is None:
                have = ", ".join(repr(p.queue) for p in processors) or "none"
                raise ConfigurationError(
                    f"no @processor for queue {name!r} in {self._plan.graph.root.name} "
                    f"(processors serve: {have})"
                )
            selected.append(definition)
        return selected

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not self._closed:
            log.error("worker crashed", task=task.get_name(), error=repr(exc), exc_info=exc)
            if self._failure is None:
                self._failure = exc
            self._crashed.set()
