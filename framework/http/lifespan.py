"""`lifespan(AppModule)`: the nestq `Application` as the lifespan of a FastAPI or Starlette app.

At startup it creates the application and starts it (producer-only unless `workers=True`); at shutdown
(which ASGI servers run after they stopped accepting requests and the open ones finished) it closes it.
The running application is kept in the lifespan state (`request.state`) and on `app.state`, where
`get_application` finds it. This module must not import FastAPI: Starlette users do without it.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import Scope

from framework.di.application import DEFAULT_SHUTDOWN_TIMEOUT, Application, Workers
from framework.di.module import Module, module_name
from framework.errors import NestqError

STATE_KEY = "nestq_application"
OVERRIDES_KEY = "nestq_testing_overrides"  # on app.state: overrides for a lifespan run in another thread

# Provider overrides for the next lifespan started in this context (framework.testing.http_client).
testing_overrides: contextvars.ContextVar[Mapping[object, object] | None] = contextvars.ContextVar(
    "nestq_http_testing_overrides", default=None
)


class ApplicationNotRunningError(NestqError, RuntimeError):
    """An endpoint asked for a provider, but no nestq application runs for this HTTP app."""


class NestLifespan:
    """The lifespan callable `lifespan(...)` returns: `FastAPI(lifespan=...)`, `Starlette(lifespan=...)`."""

    def __init__(
        self,
        module: type[Module],
        *,
        workers: Workers = False,
        listeners: bool = True,
        shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT,
        overrides: Mapping[object, object] | None = None,
    ) -> None:
        if not (isinstance(module, type) and issubclass(module, Module)):
            raise TypeError(f"framework.http.lifespan takes the root Module class, got {module!r}")
        self.module = module
        self.workers = workers
        self.listeners = listeners
        self.shutdown_timeout = shutdown_timeout
        self.overrides = dict(overrides or {})

    def __call__(self, app: Any) -> Any:
        return self._run(app)

    @asynccontextmanager
    async def _run(self, app: Any) -> AsyncIterator[dict[str, Any]]:
        state = getattr(app, "state", None)
        overrides = {
            **self.overrides,
            **(getattr(state, OVERRIDES_KEY, None) or {}),
            **(testing_overrides.get() or {}),
        }
        application = await Application.create(self.module, overrides=overrides)
        try:
            await application.start(self.workers, listeners=self.listeners)
            if state is not None:
                setattr(state, STATE_KEY, application)
            try:
                yield {STATE_KEY: application}
            finally:
                if state is not None and getattr(state, STATE_KEY, None) is application:
                    delattr(state, STATE_KEY)
        finally:
            await application.close(timeout=self.shutdown_timeout)

    def __repr__(self) -> str:
        return f"lifespan({module_name(self.module)}, workers={self.workers!r})"


def lifespan(
    module: type[Module],
    *,
    workers: Workers = False,
    listeners: bool = True,
    shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT,
    overrides: Mapping[object, object] | None = None,
) -> NestLifespan:
    """A lifespan for `FastAPI(lifespan=...)` or `Starlette(lifespan=...)` running `module`'s application.

    Args:
        module: the root module.
        workers: False (default) for a producer-only web process; True to also run every processor
            in it, or the queue names whose processors to run.
        listeners: run the `@queue_events_listener` classes.
        shutdown_timeout: seconds active jobs get to finish at shutdown (with `workers`).
        overrides: replacement providers by token (tests; see also `framework.testing.http_client`).

    Returns:
        The lifespan; endpoints get providers with `Inject(token)` (FastAPI) or `resolve(request, token)`.
    """
    return NestLifespan(
        module, workers=workers, listeners=listeners, shutdown_timeout=shutdown_timeout, overrides=overrides
    )


def get_application(source: HTTPConnection | Scope | Any) -> Application:
    """The running nestq application of a request (or websocket), an ASGI scope, or the web app itself.

    Raises:
        ApplicationNotRunningError: the lifespan did not run (or is over); the message says how to fix it.
    """
    scope: Any = source.scope if isinstance(source, HTTPConnection) else source
    if isinstance(scope, Mapping):
        state = scope.get("state")
        found = state.get(STATE_KEY) if isinstance(state, Mapping) else None
        if isinstance(found, Application):
            return found
        source = scope.get("app")
    found = getattr(getattr(source, "state", None), STATE_KEY, None)
    if isinstance(found, Application):
        return found
    raise ApplicationNotRunningError(
        "the nestq application is not running for this HTTP app: create it with "
        "`FastAPI(lifespan=framework.http.lifespan(AppModule))` (or `Starlette(lifespan=...)`), and let the "
        "server run its startup first; in tests use `async with framework.testing.http_client(app)` or "
        "`with TestClient(app)` (a TestClient outside `with` runs no lifespan)"
    )
