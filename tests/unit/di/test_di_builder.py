"""The builder resolves constructor hints, reports what is missing, and compiles the container."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Annotated

import pytest
from dependency_injector import containers, providers

from framework.di import Application, Module, inject, inject_queue, provide
from framework.di.builder import build, instantiate, shutdown_resources
from framework.di.scanner import scan
from framework.errors import CircularDependencyError, ConfigurationError, MissingProviderError
from framework.queue import Queue

if TYPE_CHECKING:
    from decimal import Decimal


class Config:
    def __init__(self) -> None:
        self.url = "smtp://localhost"


class Mailer:
    def __init__(self, config: Config) -> None:
        self.config = config


class Reports:
    def __init__(self, mailer: Mailer, title: Annotated[str, inject("title")]) -> None:
        self.mailer = mailer
        self.title = title


class Notifier:  # an interface, for use_existing
    pass


class SmtpNotifier(Notifier):
    pass


class Sender:
    def __init__(self, notifier: Notifier, by_name: Annotated[object, inject("notifier")]) -> None:
        self.notifier, self.by_name = notifier, by_name


class WithDefault:
    def __init__(self, mailer: Mailer | None = None, retries: int = 3) -> None:
        self.mailer = mailer
        self.retries = retries


class Untyped:
    def __init__(self, thing) -> None:  # type: ignore[no-untyped-def]
        self.thing = thing


class NeedsInt:
    def __init__(self, count: int) -> None:
        self.count = count


class OnlyForTypeChecking:
    def __init__(self, amount: Decimal) -> None:
        self.amount = amount


class Ping:
    def __init__(self, pong: Pong) -> None:
        self.pong = pong


class Pong:
    def __init__(self, ping: Ping) -> None:
        self.ping = ping


class EmailModule(Module):
    providers = [Config, Mailer]
    exports = [Mailer]


class HiddenEmailModule(Module):
    providers = [Config, Mailer]


class ReportsModule(Module):
    imports = [EmailModule]
    providers = [Reports, provide("title", use_value="Monthly")]
    exports = [Reports]


class TestResolution:
    async def test_constructor_hints_across_exports(self) -> None:
        """A provider gets what its module provides and what imports export, one instance each."""
        app = await Application.create(ReportsModule)
        reports = app.get(Reports)
        assert reports.title == "Monthly"
        assert reports.mailer is app.get(Mailer)
        assert reports.mailer.config is app.get(Config)
        await app.close()

    async def test_defaults_fill_what_has_no_provider(self) -> None:
        """A parameter with a default is injected when visible, else left to its default."""

        class Root(Module):
            imports = [EmailModule]
            providers = [WithDefault]

        class Bare(Module):
            providers = [WithDefault]

        async with Application.create(Root) as app:
            assert isinstance(app.get(WithDefault).mailer, Mailer)
            assert app.get(WithDefault).retries == 3
        async with Application.create(Bare) as app:
            assert app.get(WithDefault).mailer is None

    async def test_factories_values_and_explicit_inject(self) -> None:
        """use_factory gets its parameters injected; inject=[...] passes tokens positionally."""

        def make_dsn(config: Config) -> str:
            return config.url + "/0"

        class Root(Module):
            providers = [
                Config,
                provide("dsn", use_factory=make_dsn),
                provide("pair", use_factory=lambda c, d: (c, d), inject=[Config, "dsn"]),
                provide(Mailer, use_class=Mailer),
            ]

        async with Application.create(Root) as app:
            assert app.get("dsn") == "smtp://localhost/0"
            config, dsn = app.get("pair")
            assert config is app.get(Config) and dsn == "smtp://localhost/0"
            assert app.get(Mailer).config is config

    async def test_use_existing_is_an_alias_for_the_same_instance(self) -> None:
        """provide(token, use_existing=Other) resolves to Other's very instance, for injection and get()."""

        class Root(Module):
            providers = [
                SmtpNotifier,
                provide(Notifier, use_existing=SmtpNotifier),
                provide("notifier", use_existing=Notifier),
                Sender,
            ]

        async with Application.create(Root) as app:
            concrete = app.get(SmtpNotifier)
            assert app.get(Notifier) is concrete and app.get("notifier") is concrete
            assert app.get(Sender).notifier is concrete and app.get(Sender).by_name is concrete

    def test_use_existing_must_name_a_provider(self) -> None:
        """An alias of a token nobody provides fails at build, naming it; misuse fails at provide()."""

        class Root(Module):
            providers = [provide("notifier", use_existing=Config)]

        with pytest.raises(MissingProviderError, match="Config"):
            build(scan(Root))
        with pytest.raises(ConfigurationError, match="names itself"):
            provide("x", use_existing="x")
        with pytest.raises(ConfigurationError, match="exactly one of"):
            provide("x", use_existing=Config, use_value=1)

    async def test_async_and_generator_factories_are_resources(self) -> None:
        """An async generator factory starts at bootstrap and is torn down at close, dependents first."""
        events: list[str] = []

        async def connection() -> AsyncIterator[str]:
            events.append("open")
            yield "conn"
            events.append("close")

        def session(conn: Annotated[str, inject("conn")]) -> Iterator[str]:
            events.append("session open")
            yield f"session on {conn}"
            events.append("session close")

        async def token() -> str:
            return "t0k"

        class Root(Module):
            providers = [
                provide("conn", use_factory=connection),
                provide("session", use_factory=session),
                provide("token", use_factory=token),
            ]

        app = await Application.create(Root)
        assert app.get("session") == "session on conn"
        assert app.get("token") == "t0k"
        assert events == ["open", "session open"]
        await app.close()
        assert events == ["open", "session open", "session close", "close"]

    def test_compiles_into_a_dependency_injector_container(self) -> None:
        """Classes become Singletons, values Objects, async generators Resources."""

        async def res() -> AsyncIterator[int]:
            yield 1

        class Root(Module):
            providers = [Config, provide("v", use_value=1), provide("r", use_factory=res)]

        plan = build(scan(Root))
        assert isinstance(plan.container, containers.DynamicContainer)
        kinds = {u.label: type(plan.container.providers[u.key]) for u in plan.units if u.binding}
        assert kinds == {"Config": providers.Singleton, "'v'": providers.Object, "'r'": providers.Resource}

    async def test_failed_constructor_shuts_started_resources_down(self) -> None:
        """When a constructor raises, resources already started are torn down and the error says where."""
        closed: list[bool] = []

        async def res() -> AsyncIterator[str]:
            yield "r"
            closed.append(True)

        def boom(r: Annotated[str, inject("r")]) -> None:
            raise RuntimeError("boom")

        class Root(Module):
            providers = [provide("r", use_factory=res), provide("b", use_factory=boom)]

        plan = build(scan(Root))
        with pytest.raises(RuntimeError, match="boom") as info:
            await instantiate(plan)
        assert closed == [True]
        assert any("while creating 'b'" in note for note in info.value.__notes__)
        await shutdown_resources(plan)  # a second call is harmless
        assert closed == [True]


class TestMissingProvider:
    def test_names_module_class_parameter_and_fix_when_not_imported(self) -> None:
        """Provided and exported elsewhere: the message says which module to import."""

        class Feature(Module):
            providers = [Reports, provide("title", use_value="x")]

        class Top(Module):
            imports = [EmailModule, Feature]

        with pytest.raises(MissingProviderError) as info:
            build(scan(Top))
        message = str(info.value)
        assert "cannot create Reports (in module Feature)" in message
        assert "parameter 'mailer: Mailer'" in message
        assert "EmailModule provides and exports Mailer: add EmailModule to Feature.imports" in message

    def test_provided_but_not_exported(self) -> None:
        """Imported but not exported: the message says what to export."""

        class Feature(Module):
            imports = [HiddenEmailModule]
            providers = [Reports, provide("title", use_value="x")]

        with pytest.raises(MissingProviderError, match=r"add Mailer to HiddenEmailModule\.exports"):
            build(scan(Feature))

    def test_nowhere_provided(self) -> None:
        """Provided nowhere: the message says to add it to the module's providers."""

        class Feature(Module):
            providers = [Mailer]

        with pytest.raises(
            MissingProviderError, match=r"parameter 'config: Config'.*Add Config to Feature\.providers"
        ):
            build(scan(Feature))

    def test_annotated_token_is_shown(self) -> None:
        """A missing inject(token) shows the token it asked for."""

        class Feature(Module):
            imports = [EmailModule]
            providers = [Reports]

        with pytest.raises(MissingProviderError, match=r"'title: Annotated\[str, inject\('title'\)\]'"):
            build(scan(Feature))

    def test_builtin_type_hint_suggests_inject(self) -> None:
        """A plain `int` parameter explains that builtins need inject(token) or a default."""

        class Feature(Module):
            providers = [NeedsInt]

        with pytest.raises(MissingProviderError, match=r"int is not a provider: use Annotated\[int, inject"):
            build(scan(Feature))

    def test_missing_queue_suggests_register_queue(self) -> None:
        """A missing Queue token says to register the queue."""

        def uses_queue(q: Annotated[Queue, inject_queue("reports")]) -> Queue:
            return q

        class Feature(Module):
            providers = [provide("x", use_factory=uses_queue)]

        with pytest.raises(MissingProviderError, match=r"QueueModule\.register_queue\('reports'\)"):
            build(scan(Feature))


class TestBadConstructors:
    def test_untyped_parameter(self) -> None:
        """A parameter without a hint or default cannot be injected: said so."""

        class Root(Module):
            providers = [Untyped]

        with pytest.raises(
            ConfigurationError, match=r"parameter 'thing' of Untyped\.__init__ has no type hint"
        ):
            build(scan(Root))

    def test_type_checking_only_import(self) -> None:
        """A hint only importable under TYPE_CHECKING is explained."""

        class Root(Module):
            providers = [OnlyForTypeChecking]

        with pytest.raises(ConfigurationError, match="must be importable at run time"):
            build(scan(Root))


class TestCycles:
    def test_cycle_is_printed_as_a_path(self) -> None:
        """Providers depending on each other are reported as Ping -> Pong -> Ping."""

        class Root(Module):
            providers = [Ping, Pong]

        with pytest.raises(CircularDependencyError, match="Ping -> Pong -> Ping"):
            build(scan(Root))

    def test_self_dependency(self) -> None:
        """A factory asking for its own token is a one-step cycle."""

        def loop(x: Annotated[int, inject("x")]) -> int:
            return x

        class Root(Module):
            providers = [provide("x", use_factory=loop)]

        with pytest.raises(CircularDependencyError, match="'x' -> 'x'"):
            build(scan(Root))


class TestOrder:
    def test_units_are_in_dependency_order_modules_after_their_providers(self) -> None:
        """Everything comes after what it injects; a module after its providers and its imports."""
        plan = build(scan(ReportsModule))
        labels = [u.label for u in plan.units]
        assert labels.index("Config") < labels.index("Mailer") < labels.index("Reports")
        assert labels.index("EmailModule") < labels.index("ReportsModule")
        assert labels.index("Reports") < labels.index("ReportsModule")
        assert labels[-1] == "ReportsModule"
