"""Calling a user's configuration factory (`for_root_async(use_factory=...)`) with injected arguments.

`factory_call(fn, inject)` gives the tokens to inject and an async caller that takes their values
positionally and calls `fn` with them (positionally when `inject=[...]` lists them, else by each
parameter's kind, read from `fn`'s type hints), awaiting `fn` when it is `async`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from framework.di.builder import dependencies_of
from framework.errors import ConfigurationError

AsyncCaller = Callable[..., Awaitable[Any]]


def factory_call(
    fn: Callable[..., Any], inject: Sequence[object] | None, *, where: str
) -> tuple[tuple[object, ...], AsyncCaller]:
    """(tokens to inject, `async call(*values)` returning `fn`'s result) for a configuration factory."""
    if not callable(fn):
        raise ConfigurationError(f"{where}: use_factory must be a function (sync or async), got {fn!r}")
    if inject is not None:
        if isinstance(inject, str) or not isinstance(inject, Sequence):
            raise ConfigurationError(f"{where}: inject= takes a list of provider tokens, got {inject!r}")
        tokens = tuple(inject)
        keywords: list[str | None] = [None] * len(tokens)
    else:
        deps = dependencies_of(fn, owner=where, is_class=False)
        tokens = tuple(d.token for d in deps)
        keywords = [None if d.positional else d.param for d in deps]

    async def call(*values: Any) -> Any:
        args = [v for k, v in zip(keywords, values, strict=True) if k is None]
        kwargs = {k: v for k, v in zip(keywords, values, strict=True) if k is not None}
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    return tokens, call
