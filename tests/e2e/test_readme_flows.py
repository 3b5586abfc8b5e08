"""The README's "Flows" examples run as written (a chain and a chord), each in its own Python process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[2] / "README.md"


def flow_examples() -> list[str]:
    text = README.read_text()
    section = text.split("## Flows: jobs that wait for their children", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return [b for b in blocks if "asyncio.run(main())" in b]


@pytest.mark.parametrize(("index", "expected"), [(0, "41"), (1, "9")], ids=["chain", "chord"])
def test_readme_flow_example_runs_as_written(redis_url: str, prefix: str, index: int, expected: str) -> None:
    """The example prints the result its comment promises."""
    code = flow_examples()[index]
    env = dict(os.environ, NESTQ_REDIS_URL=redis_url, NESTQ_PREFIX=prefix, NESTQ_LOG_LEVEL="WARNING")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert expected in [line.strip() for line in out.stdout.splitlines()], out.stdout
