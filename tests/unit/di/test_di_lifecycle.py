"""Lifecycle hooks run in dependency order on start and in reverse order on stop."""

from __future__ import annotations

import pytest

from framework.di import Application, Module, provide

CALLS: list[str] = []


class Recorder:
    """Records each lifecycle hook of its subclasses, alternating sync and async methods."""

    def on_module_init(self) -> None:
        CALLS.append(f"init {type(self).__name__}")

    async def on_application_bootstrap(self) -> None:
        CALLS.append(f"bootstrap {type(self).__name__}")

    async def on_module_destroy(self) -> None:
        CALLS.append(f"destroy {type(self).__name__}")

    def on_application_shutdown(self, signal: str | None = None) -> None:
        CALLS.append(f"shutdown {type(self).__name__} {signal}")


class Db(Recorder):
    pass


class Repo(Recorder):
    def __init__(self, db: Db) -> None:
        self.db = db


class Service(Recorder):
    def __init__(self, repo: Repo) -> None:
        self.repo = repo


class DataModule(Module, Recorder):
    providers = [Repo, Db]  # declared out of order on purpose
    exports = [Repo]


class AppModule(Module, Recorder):
    imports = [DataModule]
    providers = [Service]


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


class TestOrder:
    async def test_start_in_dependency_order_stop_in_reverse(self) -> None:
        """init and bootstrap go dependencies first, modules after their providers; stop reverses."""
        app = await Application.create(AppModule)
        order = ["Db", "Repo", "DataModule", "Service", "AppModule"]
        assert CALLS == [f"init {n}" for n in order] + [f"bootstrap {n}" for n in order]
        CALLS.clear()
        await app.close(signal="SIGTERM")
        reverse = list(reversed(order))
        assert CALLS == [f"destroy {n}" for n in reverse] + [f"shutdown {n} SIGTERM" for n in reverse]

    async def test_close_is_idempotent(self) -> None:
        """A second close runs no hook again."""
        app = await Application.create(AppModule)
        await app.close()
        CALLS.clear()
        await app.close()
        assert CALLS == []

    async def test_shared_value_gets_hooks_once(self) -> None:
        """One object provided under two tokens has its hooks called once."""
        shared = Db()

        class Root(Module):
            providers = [provide("a", use_value=shared), provide("b", use_value=shared)]

        async with Application.create(Root):
            assert CALLS == ["init Db", "bootstrap Db"]


class Failing:
    def on_module_init(self) -> None:
        raise RuntimeError("cannot start")


class FailingOnStop(Recorder):
    def on_module_destroy(self) -> None:
        raise RuntimeError("cannot stop")


class TestErrors:
    async def test_failing_init_hook_fails_create(self) -> None:
        """An error in on_module_init fails Application.create, noting where it came from."""

        class Root(Module):
            providers = [Failing]

        with pytest.raises(RuntimeError, match="cannot start") as info:
            await Application.create(Root)
        assert "in Failing.on_module_init()" in info.value.__notes__

    async def test_failing_stop_hook_is_logged_and_the_rest_run(self) -> None:
        """An error in a stop hook is logged; every other stop hook still runs."""
        from framework.testing import capture_logs

        class Root(Module):
            providers = [Db, FailingOnStop]

        app = await Application.create(Root)
        CALLS.clear()
        with capture_logs() as logs:
            await app.close()
        assert "destroy Db" in CALLS and "shutdown Db None" in CALLS
        assert any(e["event"] == "lifecycle hook failed" and e["instance"] == "FailingOnStop" for e in logs)

    async def test_mocks_are_not_mistaken_for_hook_owners(self) -> None:
        """A Mock used as a value has no lifecycle hooks (only methods defined on a class count)."""
        from unittest.mock import MagicMock

        mock = MagicMock()

        class Root(Module):
            providers = [provide("m", use_value=mock)]

        async with Application.create(Root):
            pass
        mock.on_module_init.assert_not_called()
