"""Redis Sentinel: `redis+sentinel://` URLs, and clients that follow the master through a failover.

    redis+sentinel://[user:password@]host:port[,host:port...]/SERVICE_NAME[/db][?option=value...]
    rediss+sentinel://...   (TLS to the master and to the sentinels)

The host:port pairs are sentinels (any one that answers will do). The user and password are the master's;
`?sentinel_password=...` (and `sentinel_username=`) authenticate to the sentinels when they need it. Other
query options are redis-py's URL options (`ssl_ca_certs=`, `ssl_cert_reqs=`, ...).

A client made here asks the sentinels for the master's address whenever it opens a connection, so after a
failover every new connection goes to the new master. Connections to the old one end by themselves: a
killed master drops them, a demoted one is told by the sentinels to close its clients, and a READONLY
reply (a write that reached the demoted master first) makes redis-py's sentinel connection disconnect
and raise a connection error, which the callers' retry policy (`connection.BoundedRetry`) and the
workers' outage handling already treat as "reconnect and try again".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import ConnectionPool, parse_url
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

__all__ = [
    "SENTINEL_SCHEMES",
    "SentinelURL",
    "create_sentinel_redis",
    "is_sentinel_url",
    "parse_sentinel_url",
]

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
DEFAULT_SENTINEL_PORT = 26379
_SENTINEL_AUTH = ("sentinel_password", "sentinel_username")


def is_sentinel_url(url: str) -> bool:
    """Whether `url` names a Sentinel-managed master (`redis+sentinel://` or `rediss+sentinel://`)."""
    return url.partition("://")[0].lower() in SENTINEL_SCHEMES


@dataclass(frozen=True)
class SentinelURL:
    """The parts of a `redis+sentinel://` URL."""

    sentinels: list[tuple[str, int]]
    service: str
    db: int = 0
    tls: bool = False
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # redis-py connection options from the query

    def master_auth(self) -> dict[str, str]:
        """`username` / `password` keyword arguments for the master's connections (those set)."""
        return _auth(self.username, self.password)


def _auth(username: str | None, password: str | None) -> dict[str, str]:
    pairs = (("username", username), ("password", password))
    return {key: value for key, value in pairs if value is not None}


def parse_sentinel_url(url: str) -> SentinelURL:
    """Parse a `redis+sentinel://` URL.

    Raises:
        ValueError: saying what is wrong (no sentinel, no service name, a bad port or db), with the URL's
            password hidden.
    """
    from framework.settings import redact_url

    shown = redact_url(url)
    example = "redis+sentinel://host:26379,host2:26379/SERVICE_NAME/0"
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in SENTINEL_SCHEMES:
        raise ValueError(f"not a Sentinel URL (expected {example}): {shown!r}")
    parts = urlsplit("redis://" + rest)
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    sentinels: list[tuple[str, int]] = []
    for item in filter(None, (h.strip() for h in hostlist.split(","))):
        if item.startswith("["):  # [IPv6]:port
            host, _, port = item[1:].partition("]")
            port = port.removeprefix(":")
        else:
            host, _, port = item.partition(":")
        try:
            sentinels.append((host, int(port) if port else DEFAULT_SENTINEL_PORT))
        except ValueError:
            raise ValueError(f"bad sentinel address {item!r} in {shown!r} (expected host:port)") from None
    if not sentinels:
        raise ValueError(f"no sentinel address in {shown!r} (expected {example})")
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError(f"a Sentinel URL names the service, and optionally a db: {example}, got {shown!r}")
    db = 0
    if len(path) == 2:
        if not path[1].isdigit():
            raise ValueError(f"the db in a Sentinel URL is a number, got {path[1]!r} in {shown!r}")
        db = int(path[1])
    query = dict(parse_qsl(parts.query))
    sentinel_auth = {k: query.pop(k) for k in _SENTINEL_AUTH if k in query}
    options: dict[str, Any] = {}
    if query:  # redis-py's own parsing of URL options (types, ssl_cert_reqs, ...)
        options = dict(
            parse_url("redis://localhost/?" + "&".join(f"{k}={quote(v)}" for k, v in query.items()))
        )
        for key in ("host", "port", "db", "connection_class"):
            options.pop(key, None)
    return SentinelURL(
        sentinels=sentinels,
        service=path[0],
        db=db,
        tls=scheme.lower() == "rediss+sentinel",
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_username=sentinel_auth.get("sentinel_username"),
        sentinel_password=sentinel_auth.get("sentinel_password"),
        options=options,
    )


class BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """A Sentinel pool that waits for a free connection (as nestq's other pools do) instead of failing with
    "Too many connections"; closes its `Sentinel` (the sentinels' clients) with it when it owns it."""

    def __init__(self, service_name: str, sentinel_manager: Sentinel, **kwargs: Any) -> None:
        self.owns_manager = bool(kwargs.pop("owns_manager", False))
        super().__init__(service_name, sentinel_manager, **kwargs)  # type: ignore[no-untyped-call]

    async def aclose(self) -> None:
        await super().aclose()
        if self.owns_manager:
            await self.sentinel_manager.aclose()


def _manager(spec: SentinelURL, timeouts: dict[str, Any]) -> Sentinel:
    sentinel_kwargs: dict[str, Any] = {k: v for k, v in timeouts.items() if k.startswith("socket_")}
    # A sentinel answers at once: a silent one must not hold up asking the next.
    sentinel_kwargs["socket_timeout"] = timeouts.get("socket_connect_timeout") or 2.0
    sentinel_kwargs.update(_auth(spec.sentinel_username, spec.sentinel_password))
    if spec.tls:
        sentinel_kwargs["ssl"] = True
        sentinel_kwargs.update({k: v for k, v in spec.options.items() if k.startswith("ssl_")})
    return Sentinel(spec.sentinels, sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]


def create_sentinel_redis(url: str, **pool_kwargs: Any) -> Redis:
    """A client of the master that `url`'s sentinels name, with a blocking pool made of `pool_kwargs`
    (the same options `connection.create_redis` gives its other pools)."""
    spec = parse_sentinel_url(url)
    manager = _manager(spec, pool_kwargs)
    kwargs: dict[str, Any] = {**spec.options, **pool_kwargs, "db": spec.db, "is_master": True}
    kwargs.update(spec.master_auth())
    if spec.tls:
        kwargs["ssl"] = True
    pool = BlockingSentinelConnectionPool(spec.service, manager, owns_manager=True, **kwargs)
    client = Redis(connection_pool=pool)
    client.auto_close_connection_pool = True
    return client


def clone_sentinel_pool(pool: SentinelConnectionPool, kwargs: dict[str, Any]) -> ConnectionPool:
    """A new pool of the same class to the same service (for `connection.clone_redis`), with `kwargs` (the
    original's connection kwargs, adjusted by the caller) for its connections."""
    kwargs = {k: v for k, v in kwargs.items() if k != "connection_pool"}  # set by the new pool to itself
    kwargs["is_master"] = pool.is_master
    kwargs["check_connection"] = pool.check_connection
    if isinstance(pool, BlockingConnectionPool):
        kwargs.setdefault("max_connections", pool.max_connections)
        kwargs.setdefault("timeout", pool.timeout)
    return pool.__class__(
        pool.service_name, pool.sentinel_manager, connection_class=pool.connection_class, **kwargs
    )
