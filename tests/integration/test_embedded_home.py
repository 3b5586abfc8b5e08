"""The embedded server's folder is found as git finds `.git`: NESTQ_HOME, else the nearest `.nestq/` in the
working directory or above it, else a new `./.nestq` that the command says is new and empty."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework.embedded import EmbeddedServer, locate_embedded_dir
from framework.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
NEW_SERVER = "embedded server started: new and empty"


@pytest.fixture
def no_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No NESTQ_* variable from the test run reaches the settings."""
    for name in list(os.environ):
        if name.startswith("NESTQ_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


class TestLocate:
    def test_the_nearest_nestq_folder_above_is_found(self, tmp_path: Path, no_settings: None) -> None:
        """From a subfolder, the closest `.nestq/` of its parents is the one used."""
        (tmp_path / "project" / ".nestq").mkdir(parents=True)
        deep = tmp_path / "project" / "src" / "pkg"
        deep.mkdir(parents=True)
        assert locate_embedded_dir(deep) == (tmp_path / "project" / ".nestq").resolve()
        (tmp_path / "project" / "src" / ".nestq").mkdir()
        assert locate_embedded_dir(deep) == (tmp_path / "project" / "src" / ".nestq").resolve()

    def test_without_one_it_is_a_new_folder_here(self, tmp_path: Path, no_settings: None) -> None:
        """With no `.nestq/` anywhere above, the folder is `./.nestq` (not created by the lookup)."""
        assert locate_embedded_dir(tmp_path) == tmp_path.resolve() / ".nestq"
        assert not (tmp_path / ".nestq").exists()

    def test_nestq_home_wins(
        self, tmp_path: Path, no_settings: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """NESTQ_HOME names the folder wherever the command runs."""
        (tmp_path / ".nestq").mkdir()
        monkeypatch.setenv("NESTQ_HOME", str(tmp_path / "elsewhere"))
        get_settings.cache_clear()
        assert locate_embedded_dir(tmp_path) == (tmp_path / "elsewhere").resolve()


def _nestq(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "framework", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_commands_from_a_subfolder_use_the_projects_server(tmp_path: Path) -> None:
    """`nestq add` in a project starts its server (saying it is new); `nestq queues` from a subfolder sees
    the same queue without that warning; from an unrelated folder it warns that the server is new."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NESTQ_")}
    env["PYTHONPATH"] = str(ROOT)
    project = tmp_path / "project"
    (project / "src" / "deep").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    try:
        added = _nestq("add", "email", "send", "--data", "{}", cwd=project, env=env)
        assert added.returncode == 0, added.stderr
        assert NEW_SERVER in added.stderr and (project / ".nestq").is_dir()

        listed = _nestq("queues", "--json", cwd=project / "src" / "deep", env=env)
        assert listed.returncode == 0, listed.stderr
        assert [q["name"] for q in json.loads(listed.stdout)] == ["email"]
        assert NEW_SERVER not in listed.stderr

        other = _nestq("queues", cwd=elsewhere, env=env)
        assert other.returncode == 0, other.stderr
        assert NEW_SERVER in other.stderr and "NESTQ_HOME" in other.stderr
        assert "No queues found." in other.stdout

        home = _nestq("queues", "--json", cwd=elsewhere, env={**env, "NESTQ_HOME": str(project / ".nestq")})
        assert [q["name"] for q in json.loads(home.stdout)] == ["email"]
    finally:
        EmbeddedServer(project / ".nestq").stop()
        EmbeddedServer(elsewhere / ".nestq").stop()
