"""`Inject(token)`: a FastAPI dependency resolving a provider from the running nestq application.

    async def endpoint(reports: Annotated[ReportsService, Inject(ReportsService)],
                       queue: Annotated[Queue, Inject(inject_queue("reports"))]) -> ...

FastAPI is imported only when `Inject` is called; `resolve(request, token)` serves plain Starlette.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import HTTPConnection

from framework.di.metadata import Inject as InjectMarker
from framework.di.providers import describe_token
from framework.http.lifespan import ApplicationNotRunningError, get_application


def resolve(connection: HTTPConnection, token: object) -> Any:
    """The provider of `token` (a class, `inject_queue("x")`, or any provider token) for this request.

    Raises:
        ApplicationNotRunningError: the lifespan did not run (the message names the fix).
        MissingProviderError: no module provides `token`.
    """
    token = _unwrap(token)
    try:
        application = get_application(connection)
    except ApplicationNotRunningError as exc:
        raise ApplicationNotRunningError(f"cannot inject {describe_token(token)}: {exc}") from None
    return application.get(token)


def Inject(token: object) -> Any:
    """A FastAPI `Depends` giving the provider of `token`: `Annotated[T, Inject(T)]`.

    Args:
        token: a provider class, `inject_queue("reports")` (the `Queue`), `inject("name")`, or any
            token a module provides.
    """
    from fastapi import Depends

    token = _unwrap(token)

    def dependency(connection: HTTPConnection) -> Any:
        return resolve(connection, token)

    dependency.__name__ = f"inject_{_slug(describe_token(token))}"
    return Depends(dependency)


def _unwrap(token: object) -> object:
    return token.token if isinstance(token, InjectMarker) else token


def _slug(text: str) -> str:
    return re.sub(r"\W+", "_", text).strip("_") or "provider"
