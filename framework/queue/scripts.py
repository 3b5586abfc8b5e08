"""Loads the Lua scripts (one `.lua` file per atomic state change) and calls them by SHA.

A script may pull in shared Lua from `lua/includes/` with a line `--- @include "name"`. The key count is
part of each file name (`addJob-8.lua`), as in BullMQ, and is checked at call time. A script marked
`--- @variadic-keys` (a flow spanning queues) takes its keys in groups of that count, one or more.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from framework.connection import CONNECTION_ERRORS
from framework.errors import RedisUnavailableError
from framework.queue.held_connection import HeldConnection

LUA_DIR = Path(__file__).with_name("lua")
_INCLUDE = re.compile(r'^--- @include "([\w-]+)"\s*$', re.MULTILINE)


@dataclass(frozen=True, slots=True)
class LuaScript:
    """One loaded script: its name, key count, source (includes resolved) and SHA1."""

    name: str
    num_keys: int
    source: str
    sha: str
    variadic: bool = False

    async def __call__(
        self,
        client: Redis,
        keys: Sequence[str | bytes],
        args: Sequence[Any],
        *,
        via: HeldConnection | None = None,
    ) -> Any:
        """EVALSHA on `client` (on `via`, a connection held from its pool, when given and healthy)."""
        if len(keys) != self.num_keys and not self._groups_ok(len(keys)):  # a bug in nestq, never user input
            raise AssertionError(f"{self.name} takes {self.num_keys} keys, got {len(keys)}")
        num_keys = len(keys)
        try:
            if via is not None:
                try:
                    return await via.execute("EVALSHA", self.sha, num_keys, *keys, *args)
                except RedisUnavailableError:
                    raise  # (re)connecting already retried for the whole budget: no second wait
                except CONNECTION_ERRORS:
                    pass  # the held connection failed: once more through the client, with its retries
            return await execute(client, "EVALSHA", self.sha, num_keys, *keys, *args)
        except NoScriptError:
            # The server restarted, SCRIPT FLUSH ran, or (on a cluster) a replica just took over: load it
            # again, once. A `RedisCluster` loads it on every master; a queue's client on the master of its
            # slot, which is the one that runs it.
            await client.script_load(self.source)
            return await execute(client, "EVALSHA", self.sha, num_keys, *keys, *args)

    def _groups_ok(self, count: int) -> bool:
        return self.variadic and count > 0 and count % self.num_keys == 0


async def execute(client: Redis, *args: Any) -> Any:
    """`client.execute_command` with a type (redis-py leaves it untyped)."""
    return await client.execute_command(*args)  # type: ignore[no-untyped-call]


def _resolve_includes(source: str, seen: set[str]) -> str:
    def include(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in seen:
            return ""
        seen.add(name)
        return _resolve_includes((LUA_DIR / "includes" / f"{name}.lua").read_text(), seen)

    return _INCLUDE.sub(include, source)


@cache
def load_scripts() -> dict[str, LuaScript]:
    """All scripts by name (the file name without the key count), read once per process."""
    scripts: dict[str, LuaScript] = {}
    for path in sorted(LUA_DIR.glob("*.lua")):
        name, _, keys = path.stem.rpartition("-")
        source = _resolve_includes(path.read_text(), set())
        sha = hashlib.sha1(source.encode()).hexdigest()
        variadic = "\n--- @variadic-keys\n" in source
        scripts[name] = LuaScript(name=name, num_keys=int(keys), source=source, sha=sha, variadic=variadic)
    return scripts


def script(name: str) -> LuaScript:
    return load_scripts()[name]
