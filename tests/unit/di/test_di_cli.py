"""The nestq command line: parsing, loading `module:Attr`, and the extension hook."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import click
import pytest

import framework.logging
from framework import cli

APP = "framework.di.module:Module"  # a Module subclass anyone can import


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[cli.ServeOptions]:
    """What `run` / `worker` would serve, recorded instead of starting an application."""
    calls: list[cli.ServeOptions] = []

    async def fake_serve(module: type, options: cli.ServeOptions) -> int:
        calls.append(options)
        return 0

    monkeypatch.setattr(cli, "_serve", fake_serve)
    return calls


@pytest.fixture
def log_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """The arguments `configure_logging` gets from the command line."""
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(framework.logging, "configure_logging", lambda **kw: calls.append(kw))
    return calls


class TestParser:
    def test_run_and_worker(self, served: list[cli.ServeOptions], log_calls: list[dict[str, object]]) -> None:
        """run takes the app (and the dashboard's --port); worker takes repeated --queue and --concurrency."""
        assert cli.main(["run", APP]) == 0
        assert (served[-1].workers, served[-1].shutdown_timeout, served[-1].dashboard) == (True, 30.0, True)
        assert cli.main(["run", APP, "--port", "8001", "--host", "127.0.0.1"]) == 0
        assert (served[-1].port, served[-1].host) == (8001, "127.0.0.1")
        assert cli.main(["worker", APP, "--queue", "a", "-q", "b", "--concurrency", "4"]) == 0
        assert (served[-1].workers, served[-1].concurrency, served[-1].listeners) == (["a", "b"], 4, False)

    def test_log_options_before_or_after_the_command(
        self, served: list[cli.ServeOptions], log_calls: list[dict[str, object]]
    ) -> None:
        """--log-level works on either side of the command name, in any case."""
        cli.main(["--log-level", "debug", "run", APP])
        cli.main(["run", APP, "--log-level", "DEBUG", "--log-format", "json"])
        cli.main(["run", APP])
        assert [c["level"] for c in log_calls] == ["DEBUG", "DEBUG", None]
        assert log_calls[1]["format"] == "json"

    def test_concurrency_must_be_positive(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--concurrency 0 is a usage error: one line, exit 2."""
        assert cli.main(["worker", APP, "--concurrency", "0"]) == 2
        err = capsys.readouterr().err
        assert "--concurrency" in err and ">=1" in err.replace(" ", "") and len(err.splitlines()) == 1


class TestLoadModule:
    def test_loads_from_the_current_folder(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """`module:Attr` is imported with the working directory on sys.path, like uvicorn."""
        (tmp_path / "my_app_for_cli.py").write_text(
            "from framework.di import Module\nclass Holder:\n    class AppModule(Module):\n        pass\n"
        )
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
        module = cli.load_module("my_app_for_cli:Holder.AppModule")
        assert module.__name__ == "AppModule"

    @pytest.mark.parametrize(
        ("path", "pattern"),
        [
            ("no_colon", "module:AppModule"),
            ("surely_not_a_module_xyz:App", "cannot import 'surely_not_a_module_xyz'"),
            ("framework.cli:Nope", "has no attribute 'Nope'"),
            ("framework.cli:main", "not a Module subclass"),
        ],
    )
    def test_errors(self, path: str, pattern: str) -> None:
        """Bad application paths are usage errors that say what is wrong."""
        with pytest.raises(cli.UsageError, match=pattern):
            cli.load_module(path)

    def test_main_reports_usage_errors(self, capsys: pytest.CaptureFixture[str]) -> None:
        """main() turns a bad app path into exit code 2 and a message, no traceback."""
        assert cli.main(["run", "framework.cli:main"]) == 2
        err = capsys.readouterr().err
        assert "not a Module subclass" in err and "Traceback" not in err


class TestExtensions:
    def test_extension_modules_register_commands(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A module listed in EXTENSIONS adds its commands through register(cli)."""
        extension = types.ModuleType("fake_ops_cli")

        def register(group: click.Group) -> None:
            @group.command("fake-extension-command")
            def fake() -> int:
                return 7

        extension.register = register  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "fake_ops_cli", extension)
        monkeypatch.setattr(cli, "EXTENSIONS", ("fake_ops_cli", "not_there_at_all_xyz"))
        monkeypatch.setattr(cli, "_registered", set())
        monkeypatch.setattr(cli, "_configure_logging", lambda ctx, quiet: None)
        try:
            assert cli.main(["fake-extension-command"]) == 7
        finally:
            cli.cli.commands.pop("fake-extension-command", None)

    def test_missing_extension_is_skipped(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An extension that does not exist yet is skipped silently."""
        monkeypatch.setattr(cli, "EXTENSIONS", ("not_there_at_all_xyz",))
        monkeypatch.setattr(cli, "_registered", set())
        cli._register_extensions()
        assert "not_there_at_all_xyz" not in cli._registered
