"""The nestq command line: parsing, loading `module:Attr`, and the extension hook."""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import pytest

from framework import cli


class TestParser:
    def test_run_and_worker(self) -> None:
        """run takes the app; worker takes repeated --queue and --concurrency."""
        parser = cli.build_parser()
        args = parser.parse_args(["run", "container:AppModule"])
        assert (args.command, args.app, args.shutdown_timeout) == ("run", "container:AppModule", 30.0)
        args = parser.parse_args(
            ["worker", "container:AppModule", "--queue", "a", "-q", "b", "--concurrency", "4"]
        )
        assert (args.queues, args.concurrency) == (["a", "b"], 4)

    def test_log_options_before_or_after_the_command(self) -> None:
        """--log-level works on either side of the command name."""
        parser = cli.build_parser()
        assert parser.parse_args(["--log-level", "DEBUG", "run", "m:A"]).log_level == "DEBUG"
        assert parser.parse_args(["run", "m:A", "--log-level", "DEBUG"]).log_level == "DEBUG"
        assert parser.parse_args(["run", "m:A"]).log_level is None

    def test_concurrency_must_be_positive(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--concurrency 0 is a usage error."""
        with pytest.raises(SystemExit) as info:
            cli.build_parser().parse_args(["worker", "m:A", "--concurrency", "0"])
        assert info.value.code == 2
        assert "must be >= 1" in capsys.readouterr().err


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
        with pytest.raises(SystemExit) as info:
            cli.main(["run", "framework.cli:main"])
        assert info.value.code == 2
        assert "not a Module subclass" in capsys.readouterr().err


class TestExtensions:
    def test_extension_modules_register_commands(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A module listed in EXTENSIONS adds its subcommands through register(subparsers)."""
        extension = types.ModuleType("fake_ops_cli")

        def register(subparsers: cli.Subparsers) -> None:
            parser = subparsers.add_parser("queues", parents=[cli.common_options()])
            parser.set_defaults(handler=lambda args: 7)

        extension.register = register  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "fake_ops_cli", extension)
        monkeypatch.setattr(cli, "EXTENSIONS", ("fake_ops_cli", "not_there_at_all_xyz"))
        monkeypatch.setattr(cli, "_configure_logging", lambda args: None)
        assert cli.main(["queues"]) == 7

    def test_missing_extension_is_skipped(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An extension that does not exist yet is skipped silently."""
        monkeypatch.setattr(cli, "EXTENSIONS", ("not_there_at_all_xyz",))
        assert isinstance(cli.build_parser(), argparse.ArgumentParser)
