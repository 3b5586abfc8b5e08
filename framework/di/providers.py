"""Provider definitions: what a module's `providers` list may hold.

A plain class is its own token and is built from its constructor's type hints. Anything else goes
through `provide(token, ...)`:

- `provide(Mailer, use_class=SmtpMailer)`: build `SmtpMailer` (from its hints) for the token `Mailer`;
- `provide("config", use_value=cfg)`: the object itself;
- `provide(Client, use_factory=make_client)`: the result of calling `make_client` with its parameters
  injected from their type hints (or from `inject=[token, ...]`, passed positionally). An `async def`
  factory is awaited at bootstrap; a generator or async generator factory is a *resource*: the code
  after its `yield` runs at shutdown (`dependency_injector.providers.Resource`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from framework.di.metadata import QueueToken
from framework.errors import ConfigurationError

ProviderKind = Literal["class", "value", "factory"]


@dataclass(frozen=True, eq=False)
class ProviderSpec:
    """One provider of a module: the token others ask for and how to make its instance."""

    token: object
    kind: ProviderKind
    target: Any
    inject: tuple[object, ...] | None = None

    @property
    def is_resource(self) -> bool:
        """Whether the factory needs awaiting or has teardown code (async / generator function)."""
        return self.kind == "factory" and (
            inspect.iscoroutinefunction(self.target)
            or inspect.isasyncgenfunction(self.target)
            or inspect.isgeneratorfunction(self.target)
        )

    def __repr__(self) -> str:
        return f"provide({describe_token(self.token)}, {self.kind}={describe_target(self.target)})"


_MISSING: Any = object()


def provide(
    token: object,
    *,
    use_class: type | None = None,
    use_value: Any = _MISSING,
    use_factory: Callable[..., Any] | None = None,
    use_existing: object = _MISSING,
    inject: Sequence[object] | None = None,
) -> ProviderSpec:
    """Register `token` in a module's `providers`, made by exactly one of the `use_*` arguments.

    Args:
        token: what constructors ask for: a class (by type hint) or any hashable, used through
            `Annotated[T, inject(token)]`.
        use_class: a class built from its constructor's type hints.
        use_value: an object given as is.
        use_factory: a function called with its parameters injected; `async def` is awaited,
            generator / async generator functions are resources torn down at shutdown.
        use_existing: another token: `token` is an alias resolving to that provider's very instance
            (an interface or a string name for a concrete class, like NestJS's `useExisting`).
        inject: explicit tokens passed positionally to `use_factory` / `use_class`, instead of
            reading type hints.
    """
    _check_token(token)
    chosen = [n for n, v in (("use_class", use_class), ("use_factory", use_factory)) if v is not None]
    if use_value is not _MISSING:
        chosen.append("use_value")
    if use_existing is not _MISSING:
        chosen.append("use_existing")
    if len(chosen) != 1:
        raise ConfigurationError(
            f"provide({describe_token(token)}, ...) needs exactly one of use_class=, use_value=, "
            f"use_factory=, use_existing=; got {', '.join(chosen) or 'none'}"
        )
    if use_existing is not _MISSING:
        _check_token(use_existing)
        if inject is not None:
            raise ConfigurationError(f"provide({describe_token(token)}, use_existing=...) takes no inject=")
        if use_existing == token:
            raise ConfigurationError(f"provide({describe_token(token)}, use_existing=...) names itself")
        return ProviderSpec(token, "factory", existing, (use_existing,))
    deps = tuple(inject) if inject is not None else None
    if deps is not None:
        for dep in deps:
            _check_token(dep)
    if use_class is not None:
        if not isinstance(use_class, type):
            raise ConfigurationError(f"provide({describe_token(token)}, use_class=...) needs a class")
        return ProviderSpec(token, "class", use_class, deps)
    if use_factory is not None:
        if not callable(use_factory):
            raise ConfigurationError(f"provide({describe_token(token)}, use_factory=...) needs a callable")
        return ProviderSpec(token, "factory", use_factory, deps)
    if deps is not None:
        raise ConfigurationError(f"provide({describe_token(token)}, use_value=...) takes no inject=")
    return ProviderSpec(token, "value", use_value)


def existing(instance: Any) -> Any:
    """The factory of a `use_existing` alias: the instance of the token it names, as is."""
    return instance


def as_spec(item: object, *, owner: str) -> ProviderSpec:
    """Normalize an entry of a module's `providers` / `processors` list."""
    if isinstance(item, ProviderSpec):
        return item
    if isinstance(item, type):
        return ProviderSpec(item, "class", item)
    raise ConfigurationError(
        f"{owner} holds {item!r}, which is neither a class nor provide(token, use_...=...); "
        f"wrap values and functions: provide({item!r}, use_value=...) or provide(token, use_factory=...)"
    )


def describe_token(token: object) -> str:
    """A short, readable name of a token for error messages and logs."""
    if isinstance(token, type):
        return short_name(token)
    if isinstance(token, QueueToken):
        return str(token)
    return repr(token)


def describe_target(target: object) -> str:
    name = getattr(target, "__qualname__", None)
    return short_name(target) if isinstance(name, str) else repr(target)


def short_name(obj: object) -> str:
    """`__qualname__` without the `<locals>` of the function that defined it."""
    name = str(getattr(obj, "__qualname__", obj))
    return name.rsplit("<locals>.", 1)[-1]


def _check_token(token: object) -> None:
    try:
        hash(token)
    except TypeError:
        raise ConfigurationError(
            f"provider token {token!r} is not hashable; use a class or a string"
        ) from None
    if token is None:
        raise ConfigurationError("None is not a provider token; use a class or a string")
