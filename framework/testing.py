"""Helpers for testing applications built on nestq.

Build an application with some providers replaced, run a queue until it is drained, capture logs:

    async with create_testing_app(AppModule, overrides={Mailer: FakeMailer()}) as app:
        await app.queue("email").add("send", {...})
        await app.run_until_drained("email")

an HTTP app (FastAPI or Starlette with `framework.http.lifespan`) with its lifespan run:

    async with http_client(api, overrides={Mailer: FakeMailer()}) as client:
        assert (await client.post("/users", json={...})).status_code == 201
        await client.nest.run_until_drained("email")

(`with http_test_client(api, overrides=...)` for Starlette's TestClient in sync tests, and
`async with http_server(api, overrides=...) as served:` for a real uvicorn server at `served.url`),

or, NestJS style:

    app = await (
        Test.create_testing_module(imports=[QueueModule.for_root(redis_url), EmailModule])
        .override_provider(Mailer).use_value(FakeMailer())
        .compile()
    )
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from structlog.testing import capture_logs

from framework.di.application import Application, ApplicationContext
from framework.di.module import Module, dynamic_module
from framework.di.providers import ProviderSpec, provide
from framework.http.testclient import RunningServer, http_client, http_server, http_test_client

__all__ = [
    "Application",
    "OverrideBy",
    "RunningServer",
    "Test",
    "TestingModuleBuilder",
    "capture_logs",
    "create_testing_app",
    "http_client",
    "http_server",
    "http_test_client",
]


def create_testing_app(
    module: type[Module], *, overrides: Mapping[object, object] | None = None
) -> ApplicationContext:
    """`Application.create(module)` with providers replaced.

    Args:
        module: the root module.
        overrides: by token: a `provide(token, use_class=... | use_factory=...)` spec, or any other
            object, used as the value.

    Returns:
        An awaitable of the application, also usable with `async with` (it closes at exit). Use
        `await app.run_until_drained("queue")` to process what was enqueued, without sleeps.
    """
    return Application.create(module, overrides=overrides)


class TestingModuleBuilder:
    """Collects provider overrides, then `compile()`s the application (NestJS `TestingModuleBuilder`)."""

    __test__ = False  # not a pytest test class

    def __init__(self, module: type[Module]) -> None:
        self._module = module
        self._overrides: dict[object, ProviderSpec] = {}

    def override_provider(self, token: object) -> OverrideBy:
        """Replace the provider of `token`; finish with `.use_value()`, `.use_class()` or `.use_factory()`."""
        return OverrideBy(self, token)

    def _set(self, spec: ProviderSpec) -> TestingModuleBuilder:
        self._overrides[spec.token] = spec
        return self

    def compile(self) -> ApplicationContext:
        """Create the application (await it, or `async with` it)."""
        return Application.create(self._module, overrides=dict(self._overrides))


class OverrideBy:
    """The second half of `override_provider(token)`: what replaces it."""

    __test__ = False

    def __init__(self, builder: TestingModuleBuilder, token: object) -> None:
        self._builder = builder
        self._token = token

    def use_value(self, value: Any) -> TestingModuleBuilder:
        return self._builder._set(provide(self._token, use_value=value))

    def use_class(self, cls: type) -> TestingModuleBuilder:
        return self._builder._set(provide(self._token, use_class=cls))

    def use_factory(
        self, factory: Callable[..., Any], *, inject: Sequence[object] | None = None
    ) -> TestingModuleBuilder:
        return self._builder._set(provide(self._token, use_factory=factory, inject=inject))


class Test:
    """Entry point of the NestJS-style builder: `Test.create_testing_module(...)`."""

    __test__ = False

    @staticmethod
    def create_testing_module(
        module: type[Module] | None = None,
        *,
        imports: Sequence[type[Module]] = (),
        providers: Sequence[Any] = (),
        processors: Sequence[type] = (),
    ) -> TestingModuleBuilder:
        """Start from a root `module`, or from a module made of `imports`, `providers` and `processors`."""
        if module is None:
            module = dynamic_module(
                "TestingModule",
                imports=imports,
                providers=providers,
                attributes={"processors": tuple(processors)},
            )
        elif imports or providers or processors:
            module = dynamic_module(
                f"TestingModule({module.__name__})",
                imports=[module, *imports],
                providers=providers,
                attributes={"processors": tuple(processors)},
            )
        return TestingModuleBuilder(module)
