"""The README's "Job control" examples run as written (as separate programs, on the test server)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[2] / "README.md"


def _examples() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Job control:") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def _run(code: str, redis_url: str, prefix: str, tmp_path: Path) -> str:
    env = dict(os.environ, NESTQ_REDIS_URL=redis_url, NESTQ_PREFIX=prefix, NESTQ_LOG_LEVEL="WARNING")
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    # What the program prints, without the worker's log lines (a console log goes to stdout too).
    return "\n".join(line for line in done.stdout.splitlines() if not re.match(r"\d{4}-\d\d-\d\d ", line))


def test_there_are_three_examples() -> None:
    """The section keeps its three runnable examples (this file runs each)."""
    assert len(_examples()) == 3


@pytest.mark.parametrize("index", [0, 1, 2])
def test_example_runs_and_prints_what_its_comments_say(
    index: int, redis_url: str, prefix: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Each example exits 0 and prints the results its comments announce."""
    out = _run(_examples()[index], redis_url, prefix, tmp_path).splitlines()
    if index == 0:
        assert out == ["True True", "{'q': 'nes'} 2"]
    elif index == 1:
        assert out == ["shipped 1"]
    else:
        assert out[0] == "small-tenant: export 1"
        assert out[1].startswith("{'waiting': 0, 'paused': ")
